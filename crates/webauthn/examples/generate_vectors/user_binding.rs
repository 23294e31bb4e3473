//! SECURITY.md §6 cases 33-35: credentials and users.

use super::*;

pub(super) fn cases(f: &Fixtures, out: &mut Vec<Vector>) {
    let (attacker, victim) = (&f.es256, &f.victim);
    let b64 = |bytes: &[u8]| Value::from(base64url_encode(bytes));
    // Case 33.
    out.push(
        auth(attacker, "auth_other_users_credential", 33, "username flow for B (allowCredentials = B's); assertion by A's credential with A's user handle", |b| b)
            .with("allow_credentials", vec![b64(&victim.id)])
            .fails("credential_not_allowed", "A's credential was not offered for B"),
    );
    out.push({
        let challenge = challenge();
        let response = attacker.assert(&challenge, ORIGIN).build();
        Vector::new(
            "auth_stored_record_of_other_credential",
            Some(33),
            "username flow for B with an empty allowCredentials; the server looked up B's record, A's credential signed",
            "authentication",
            &challenge,
        )
        .stored(victim)
        .with("allow_credentials", Vec::<Value>::new())
        .with("stored_credential_id", b64(&victim.id))
        .with("response", response.to_json())
        .fails("credential_not_allowed", "the signing credential is not the stored record")
    });
    out.push(
        auth(attacker, "auth_credential_of_other_identified_user", 33, "identified flow for user B (who has no credentials); the assertion is user A's valid credential with A's user handle", |b| b)
            .with("identified_user_handle", b64(&victim.user_handle))
            .fails("credential_not_allowed", "the credential belongs to another user than the one identified"),
    );
    // Case 34.
    out.push(
        auth(
            attacker,
            "auth_user_handle_of_other_user",
            34,
            "username flow for A with A's credential but userHandle = B's",
            |b| b.user_handle(Some(victim.user_handle.clone())),
        )
        .fails(
            "user_handle_mismatch",
            "the user handle must name the credential's owner",
        ),
    );
    let discoverable: [(&str, &str, Option<Vec<u8>>); 3] = [
        ("missing", "discoverable flow, userHandle absent", None),
        (
            "empty",
            "discoverable flow, userHandle = \"\"",
            Some(Vec::new()),
        ),
        (
            "other_user",
            "discoverable flow, userHandle = another user's",
            Some(victim.user_handle.clone()),
        ),
    ];
    for (slug, what, handle) in discoverable {
        out.push(
            auth(
                attacker,
                &format!("auth_discoverable_user_handle_{slug}"),
                34,
                what,
                |b| b.user_handle(handle),
            )
            .with("discoverable", true)
            .fails(
                "user_handle_mismatch",
                "a discoverable flow needs the owner's user handle",
            ),
        );
    }
    out.push(
        auth(
            attacker,
            "auth_discoverable",
            34,
            "discoverable flow with the owner's user handle (positive control)",
            |b| b,
        )
        .with("discoverable", true)
        .passes(authenticated(attacker, 0, UP | UV)),
    );
    // Case 35.
    out.push(
        auth(
            attacker,
            "auth_credential_not_in_allow_list",
            35,
            "the credential is not in the non-empty allowCredentials",
            |b| b,
        )
        .with(
            "allow_credentials",
            vec![b64(&victim.id), b64(&random_bytes(16))],
        )
        .fails("credential_not_allowed", "allowCredentials did not list it"),
    );
}
