//! SECURITY.md §6 cases 1-7, 10, 11: `clientDataJSON` (type, challenge, origins, cross-origin, tokenBinding, parser differentials).

use super::*;

pub(super) fn cases(f: &Fixtures, out: &mut Vec<Vector>) {
    let es = &f.es256;
    let invalid = "client_data_invalid";
    // Case 1: type.
    out.push(
        reg(
            es,
            "reg_type_webauthn_get",
            1,
            "clientDataJSON.type = \"webauthn.get\" in a registration",
            |b| b.client_data_type("webauthn.get"),
        )
        .fails("type_mismatch", "the type of the other ceremony"),
    );
    out.push(
        auth(
            es,
            "auth_type_webauthn_create",
            1,
            "clientDataJSON.type = \"webauthn.create\" in an assertion",
            |b| b.client_data_type("webauthn.create"),
        )
        .fails("type_mismatch", "the type of the other ceremony"),
    );
    out.push(
        reg(
            es,
            "reg_type_missing",
            1,
            "clientDataJSON.type removed",
            |b| b.remove_client_data_member("type"),
        )
        .fails(invalid, "a required member is missing"),
    );
    out.push(
        auth(
            es,
            "auth_type_missing",
            1,
            "clientDataJSON.type removed",
            |b| b.remove_client_data_member("type"),
        )
        .fails(invalid, "a required member is missing"),
    );
    out.push(
        reg(es, "reg_type_empty", 1, "clientDataJSON.type = \"\"", |b| {
            b.client_data_type("")
        })
        .fails(
            "type_mismatch",
            "the empty string is not the ceremony's type",
        ),
    );
    out.push(
        auth(
            es,
            "auth_type_empty",
            1,
            "clientDataJSON.type = \"\"",
            |b| b.client_data_type(""),
        )
        .fails(
            "type_mismatch",
            "the empty string is not the ceremony's type",
        ),
    );
    out.push(
        reg(
            es,
            "reg_type_number",
            1,
            "clientDataJSON.type = 1 (not a string)",
            |b| b.client_data_member("type", "1"),
        )
        .fails(invalid, "type must be a string"),
    );
    out.push(
        auth(
            es,
            "auth_type_null",
            1,
            "clientDataJSON.type = null (not a string)",
            |b| b.client_data_member("type", "null"),
        )
        .fails(invalid, "type must be a string"),
    );
    out.push(
        auth(
            es,
            "auth_type_wrong_case",
            1,
            "clientDataJSON.type = \"WebAuthn.Get\"",
            |b| b.client_data_type("WebAuthn.Get"),
        )
        .fails("type_mismatch", "type is compared case-sensitively"),
    );

    // Case 2: challenge. Bytes whose standard base64 has '+', '/' and padding.
    let awkward: Vec<u8> = [0xfb, 0xff, 0xbf]
        .into_iter()
        .chain(random_bytes(28))
        .collect();
    let standard = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &awkward);
    for ceremony in ["reg", "auth"] {
        let what = "clientDataJSON.challenge = the issued bytes as padded standard base64";
        let hint = "only the unpadded base64url encoding of the issued challenge matches";
        let name = format!("{ceremony}_challenge_padded_standard_base64");
        let challenge = awkward.clone();
        let vector = if ceremony == "reg" {
            let response = es
                .register(&challenge, ORIGIN)
                .challenge_text(&standard)
                .build();
            Vector::new(&name, Some(2), what, "registration", &challenge)
                .with("response", response.to_json())
        } else {
            let response = es
                .assert(&challenge, ORIGIN)
                .challenge_text(&standard)
                .build();
            Vector::new(&name, Some(2), what, "authentication", &challenge)
                .stored(es)
                .with("response", response.to_json())
        };
        out.push(vector.fails("challenge_mismatch", hint));
    }
    let padded_url = format!("{}=", base64url_encode(&awkward));
    out.push({
        let response = es
            .assert(&awkward, ORIGIN)
            .challenge_text(&padded_url)
            .build();
        Vector::new(
            "auth_challenge_padded_base64url",
            Some(2),
            "clientDataJSON.challenge = the issued bytes as base64url with '=' padding",
            "authentication",
            &awkward,
        )
        .stored(es)
        .with("response", response.to_json())
        .fails(
            "challenge_mismatch",
            "the base64url form WebAuthn uses has no padding",
        )
    });
    let other = base64url_encode(&random_bytes(32));
    out.push(
        auth(
            es,
            "auth_challenge_other_session",
            2,
            "clientDataJSON.challenge = another live challenge",
            |b| b.challenge_text(&other),
        )
        .fails("challenge_mismatch", "signed over a different challenge"),
    );
    out.push(
        reg(
            es,
            "reg_challenge_other_session",
            2,
            "clientDataJSON.challenge = another live challenge",
            |b| b.challenge_text(&other),
        )
        .fails("challenge_mismatch", "signed over a different challenge"),
    );
    out.push(
        reg(
            es,
            "reg_challenge_empty",
            2,
            "clientDataJSON.challenge = \"\"",
            |b| b.challenge_text(""),
        )
        .fails("challenge_mismatch", "empty challenge"),
    );
    out.push(
        auth(
            es,
            "auth_challenge_not_base64url",
            2,
            "clientDataJSON.challenge = \"!!not base64url!!\"",
            |b| b.challenge_text("!!not base64url!!"),
        )
        .fails("challenge_mismatch", "not base64url at all"),
    );
    out.push(
        auth(
            es,
            "auth_challenge_number",
            2,
            "clientDataJSON.challenge = 5 (not a string)",
            |b| b.client_data_member("challenge", "5"),
        )
        .fails(invalid, "challenge must be a string"),
    );

    // Cases 3-5: origins.
    let origins: [(&str, u32, &str, &str); 9] = [
        (
            "origin_http_downgrade",
            3,
            "http://rp.example",
            "scheme downgrade",
        ),
        (
            "origin_port_8443",
            3,
            "https://rp.example:8443",
            "another port is another origin",
        ),
        (
            "origin_suffix_evil",
            4,
            "https://rp.example.evil.com",
            "lookalike host",
        ),
        (
            "origin_path",
            4,
            "https://evil.com/rp.example",
            "the RP ID in a path",
        ),
        (
            "origin_userinfo",
            4,
            "https://rp.example@evil.com",
            "the RP ID as user info",
        ),
        (
            "origin_uppercase_trailing_dot",
            4,
            "https://RP.EXAMPLE.",
            "not the serialised origin",
        ),
        ("origin_null", 4, "null", "an opaque origin"),
        (
            "origin_punycode_homograph",
            4,
            "https://xn--r-5tb.example",
            "punycode of r\u{0440}.example (Cyrillic er)",
        ),
        (
            "origin_unicode_homograph",
            4,
            "https://r\u{0440}.example",
            "r\u{0440}.example with a Cyrillic er",
        ),
    ];
    for (slug, case, origin, hint) in origins {
        let what = format!("clientDataJSON.origin = {origin:?}");
        out.push(
            auth(es, &format!("auth_{slug}"), case, &what, |b| {
                b.origin(origin)
            })
            .fails("origin_mismatch", hint),
        );
        if case == 3 || slug == "origin_suffix_evil" {
            out.push(
                reg(es, &format!("reg_{slug}"), case, &what, |b| {
                    b.origin(origin)
                })
                .fails("origin_mismatch", hint),
            );
        }
    }
    out.push(
        auth(
            es,
            "auth_origin_dot_boundary",
            5,
            "subdomains allowed; clientDataJSON.origin = \"https://evil-rp.example\"",
            |b| b.origin("https://evil-rp.example"),
        )
        .with("allow_subdomains", true)
        .fails(
            "origin_mismatch",
            "evil-rp.example is not a subdomain of rp.example",
        ),
    );
    out.push(
        auth(es, "auth_origin_subdomain_allowed", 5, "subdomains allowed; clientDataJSON.origin = \"https://login.rp.example\" (positive control)", |b| {
            b.origin("https://login.rp.example")
        })
        .with("allow_subdomains", true)
        .passes(authenticated(es, 0, UP | UV)),
    );

    // Cases 6-7: cross-origin and top origin.
    out.push(
        reg(
            es,
            "reg_cross_origin_true",
            6,
            "clientDataJSON.crossOrigin = true; the RP does not allow embedding",
            |b| b.cross_origin(true),
        )
        .fails(
            "cross_origin_not_allowed",
            "an iframe ceremony the RP did not allow",
        ),
    );
    out.push(
        auth(
            es,
            "auth_cross_origin_true",
            6,
            "clientDataJSON.crossOrigin = true; the RP does not allow embedding",
            |b| b.cross_origin(true),
        )
        .fails(
            "cross_origin_not_allowed",
            "an iframe ceremony the RP did not allow",
        ),
    );
    out.push(
        auth(
            es,
            "auth_cross_origin_string",
            6,
            "clientDataJSON.crossOrigin = \"true\" (a string)",
            |b| b.client_data_member("crossOrigin", "\"true\""),
        )
        .fails(invalid, "crossOrigin must be a boolean"),
    );
    out.push(
        auth(
            es,
            "auth_top_origin_not_allowed",
            7,
            "embedding allowed under https://partner.example; topOrigin = https://evil.example",
            |b| b.cross_origin(true).top_origin("https://evil.example"),
        )
        .with("allow_cross_origin", true)
        .with("top_origins", vec!["https://partner.example"])
        .fails("top_origin_mismatch", "the top-level origin is not allowed"),
    );
    out.push(
        auth(
            es,
            "auth_top_origin_without_embedding",
            7,
            "topOrigin present (crossOrigin false) while the RP does not allow embedding",
            |b| b.top_origin("https://evil.example"),
        )
        .fails("top_origin_mismatch", "a topOrigin the RP never allows"),
    );
    out.push(
        reg(
            es,
            "reg_top_origin_without_embedding",
            7,
            "topOrigin present (crossOrigin false) while the RP does not allow embedding",
            |b| b.top_origin("https://evil.example"),
        )
        .fails("top_origin_mismatch", "a topOrigin the RP never allows"),
    );
    out.push(
        auth(es, "auth_top_origin_allowed", 7, "embedding allowed under https://partner.example, which is the topOrigin (positive control)", |b| {
            b.cross_origin(true).top_origin("https://partner.example")
        })
        .with("allow_cross_origin", true)
        .with("top_origins", vec!["https://partner.example"])
        .passes(authenticated(es, 0, UP | UV)),
    );

    // Case 10: tokenBinding.
    out.push(
        reg(
            es,
            "reg_token_binding_number",
            10,
            "clientDataJSON.tokenBinding = 5",
            |b| b.client_data_member("tokenBinding", "5"),
        )
        .fails(invalid, "tokenBinding must be an object"),
    );
    out.push(
        auth(
            es,
            "auth_token_binding_array",
            10,
            "clientDataJSON.tokenBinding = []",
            |b| b.client_data_member("tokenBinding", "[]"),
        )
        .fails(invalid, "tokenBinding must be an object"),
    );
    out.push(
        auth(
            es,
            "auth_token_binding_without_status",
            10,
            "clientDataJSON.tokenBinding = {}",
            |b| b.client_data_member("tokenBinding", "{}"),
        )
        .fails(invalid, "tokenBinding.status is required"),
    );
    for ceremony in ["reg", "auth"] {
        let name = format!("{ceremony}_token_binding_status_foo");
        let what = "clientDataJSON.tokenBinding = {\"status\":\"foo\"}";
        let hint = "status must be present or supported";
        let member = r#"{"status":"foo"}"#;
        out.push(if ceremony == "reg" {
            reg(es, &name, 10, what, |b| {
                b.client_data_member("tokenBinding", member)
            })
            .fails("token_binding_invalid", hint)
        } else {
            auth(es, &name, 10, what, |b| {
                b.client_data_member("tokenBinding", member)
            })
            .fails("token_binding_invalid", hint)
        });
    }

    // Case 11: parser differentials.
    let stale = base64url_encode(&random_bytes(32));
    out.push(
        reg_c(
            es,
            "reg_client_data_duplicate_challenge",
            11,
            "clientDataJSON with a stale challenge, then the issued one again",
            |b, issued| {
                b.challenge_text(&stale)
                    .push_client_data_member("challenge", &json_string(issued))
            },
        )
        .fails(invalid, "a member appears twice"),
    );
    out.push(
        auth(
            es,
            "auth_client_data_duplicate_type",
            11,
            "clientDataJSON with type webauthn.create, then webauthn.get",
            |b| {
                b.client_data_type("webauthn.create")
                    .push_client_data_member("type", "\"webauthn.get\"")
            },
        )
        .fails(invalid, "a member appears twice"),
    );
    out.push(
        auth_c(
            es,
            "auth_client_data_invalid_utf8",
            11,
            "clientDataJSON with a 0xFF byte inside the origin string",
            |b, issued| {
                let mut bytes =
                    format!(r#"{{"type":"webauthn.get","challenge":"{issued}","origin":"{ORIGIN}"#)
                        .into_bytes();
                bytes.extend_from_slice(b"\xff\",\"crossOrigin\":false}");
                b.client_data_json(bytes)
            },
        )
        .fails(invalid, "clientDataJSON is not UTF-8"),
    );
    out.push(
        reg_c(
            es,
            "reg_client_data_array",
            11,
            "clientDataJSON is a JSON array holding the object",
            |b, issued| {
                let object = format!(
                    r#"{{"type":"webauthn.create","challenge":"{issued}","origin":"{ORIGIN}"}}"#
                );
                b.client_data_json(format!("[{object}]"))
            },
        )
        .fails(invalid, "the top level must be an object"),
    );
    out.push(
        auth(
            es,
            "auth_client_data_string",
            11,
            "clientDataJSON is the JSON string \"webauthn.get\"",
            |b| b.client_data_json("\"webauthn.get\""),
        )
        .fails(invalid, "the top level must be an object"),
    );
    out.push(
        auth_c(es, "auth_client_data_trailing_text", 11, "clientDataJSON followed by \" x\"", |b, issued| {
            let object = format!(
                r#"{{"type":"webauthn.get","challenge":"{issued}","origin":"{ORIGIN}","crossOrigin":false}} x"#
            );
            b.client_data_json(object)
        })
        .fails(invalid, "text after the object"),
    );
    for ceremony in ["reg", "auth"] {
        let name = format!("{ceremony}_client_data_unknown_member");
        let what =
            "clientDataJSON with an extra other_keys_can_be_added_here member (positive control)";
        let value = r#""do not compare clientDataJSON against a template!""#;
        out.push(if ceremony == "reg" {
            reg(es, &name, 11, what, |b| {
                b.push_client_data_member("other_keys_can_be_added_here", value)
            })
            .passes(registered_as(es, "none"))
        } else {
            auth(es, &name, 11, what, |b| {
                b.push_client_data_member("other_keys_can_be_added_here", value)
            })
            .passes(authenticated(es, 0, UP | UV))
        });
    }
}
