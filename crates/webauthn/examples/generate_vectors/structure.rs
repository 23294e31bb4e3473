//! SECURITY.md §6 cases 13, 14, 17, 36, 37: the credential JSON and the attestation object.

use super::*;

pub(super) fn cases(f: &Fixtures, out: &mut Vec<Vector>) {
    let es = &f.es256;
    let malformed = "response_malformed";
    type Mutation = (&'static str, &'static str, fn(&mut Value));
    let registration: [Mutation; 13] = [
        ("id_missing", "`id` removed", |r| {
            drop(r.as_object_mut().map(|o| o.remove("id")))
        }),
        ("id_number", "`id` = 5", |r| r["id"] = 5.into()),
        ("id_not_base64url", "`id` = \"a+b/\"", |r| {
            r["id"] = "a+b/".into()
        }),
        ("raw_id_missing", "`rawId` removed", |r| {
            drop(r.as_object_mut().map(|o| o.remove("rawId")))
        }),
        (
            "credential_type_private_key",
            "`type` = \"private-key\"",
            |r| r["type"] = "private-key".into(),
        ),
        ("credential_type_missing", "`type` removed", |r| {
            drop(r.as_object_mut().map(|o| o.remove("type")))
        }),
        ("response_missing", "`response` removed", |r| {
            drop(r.as_object_mut().map(|o| o.remove("response")))
        }),
        (
            "client_data_json_missing",
            "`response.clientDataJSON` removed",
            |r| {
                drop(
                    r["response"]
                        .as_object_mut()
                        .map(|o| o.remove("clientDataJSON")),
                )
            },
        ),
        (
            "client_data_json_empty",
            "`response.clientDataJSON` = \"\"",
            |r| r["response"]["clientDataJSON"] = "".into(),
        ),
        (
            "client_data_json_not_base64url",
            "`response.clientDataJSON` = \"e30=!\"",
            |r| r["response"]["clientDataJSON"] = "e30=!".into(),
        ),
        (
            "attestation_object_missing",
            "`response.attestationObject` removed",
            |r| {
                drop(
                    r["response"]
                        .as_object_mut()
                        .map(|o| o.remove("attestationObject")),
                )
            },
        ),
        (
            "attestation_object_empty",
            "`response.attestationObject` = \"\"",
            |r| r["response"]["attestationObject"] = "".into(),
        ),
        (
            "attestation_object_not_base64url",
            "`response.attestationObject` = \"o2Nm*\"",
            |r| r["response"]["attestationObject"] = "o2Nm*".into(),
        ),
    ];
    for (slug, what, mutate) in registration {
        out.push(
            reg_json(es, &format!("reg_{slug}"), 13, what, mutate)
                .fails(malformed, "not a well-formed RegistrationResponseJSON"),
        );
    }
    let authentication: [Mutation; 11] = [
        ("id_missing", "`id` removed", |r| {
            drop(r.as_object_mut().map(|o| o.remove("id")))
        }),
        ("raw_id_not_base64url", "`rawId` = \"***\"", |r| {
            r["rawId"] = "***".into()
        }),
        (
            "credential_type_private_key",
            "`type` = \"private-key\"",
            |r| r["type"] = "private-key".into(),
        ),
        ("response_missing", "`response` removed", |r| {
            drop(r.as_object_mut().map(|o| o.remove("response")))
        }),
        (
            "client_data_json_missing",
            "`response.clientDataJSON` removed",
            |r| {
                drop(
                    r["response"]
                        .as_object_mut()
                        .map(|o| o.remove("clientDataJSON")),
                )
            },
        ),
        (
            "authenticator_data_missing",
            "`response.authenticatorData` removed",
            |r| {
                drop(
                    r["response"]
                        .as_object_mut()
                        .map(|o| o.remove("authenticatorData")),
                )
            },
        ),
        (
            "authenticator_data_empty",
            "`response.authenticatorData` = \"\"",
            |r| r["response"]["authenticatorData"] = "".into(),
        ),
        (
            "authenticator_data_not_base64url",
            "`response.authenticatorData` = \"SZYN5Y+/\"",
            |r| r["response"]["authenticatorData"] = "SZYN5Y+/".into(),
        ),
        ("signature_missing", "`response.signature` removed", |r| {
            drop(r["response"].as_object_mut().map(|o| o.remove("signature")))
        }),
        (
            "signature_empty",
            "`response.signature` = \"\" (zero-length)",
            |r| r["response"]["signature"] = "".into(),
        ),
        (
            "signature_not_base64url",
            "`response.signature` = \"MEUC IQ\"",
            |r| r["response"]["signature"] = "MEUC IQ".into(),
        ),
    ];
    for (slug, what, mutate) in authentication {
        let case = if slug.starts_with("signature") {
            37
        } else {
            13
        };
        out.push(
            auth_json(es, &format!("auth_{slug}"), case, what, mutate)
                .fails(malformed, "not a well-formed AuthenticationResponseJSON"),
        );
    }

    // Case 36: id vs rawId vs the attested credential ID.
    let victim_id = base64url_encode(&f.victim.id);
    out.push(
        reg(
            es,
            "reg_id_not_raw_id",
            36,
            "`id` = base64url of another credential ID than `rawId`",
            |b| b.id(victim_id.clone()),
        )
        .fails("credential_id_mismatch", "id must be base64url(rawId)"),
    );
    out.push(
        reg(
            es,
            "reg_raw_id_not_attested_id",
            36,
            "`id`/`rawId` name another credential than the attested credential data",
            |b| b.raw_id(f.victim.id.clone()),
        )
        .fails(
            "credential_id_mismatch",
            "rawId must be the attested credential ID",
        ),
    );
    out.push({
        let challenge = challenge();
        let response = es
            .assert(&challenge, ORIGIN)
            .raw_id(f.victim.id.clone())
            .id(base64url_encode(&es.id))
            .build();
        Vector::new(
            "auth_id_not_raw_id",
            Some(36),
            "`rawId` = the victim's credential ID, `id` = the attacker's, signed by the attacker",
            "authentication",
            &challenge,
        )
        .stored(&f.victim)
        .with("response", response.to_json())
        .fails("credential_id_mismatch", "id must be base64url(rawId)")
    });

    // Case 14: the attestation object.
    let text = |t: &str| Cbor::Text(t.to_owned());
    type ObjectEdit = (
        &'static str,
        &'static str,
        Box<dyn Fn(&mut Vec<(Cbor, Cbor)>)>,
    );
    let edits: Vec<ObjectEdit> = vec![
        (
            "fmt_missing",
            "attestation object without `fmt`",
            Box::new(|m| m.retain(|(k, _)| k.as_text() != Some("fmt"))),
        ),
        (
            "fmt_not_text",
            "attestation object `fmt` = 1",
            Box::new(|m| m[0].1 = Cbor::from(1)),
        ),
        (
            "att_stmt_missing",
            "attestation object without `attStmt`",
            Box::new(|m| m.retain(|(k, _)| k.as_text() != Some("attStmt"))),
        ),
        (
            "att_stmt_bytes",
            "attestation object `attStmt` = h''",
            Box::new(|m| m[1].1 = Cbor::Bytes(Vec::new())),
        ),
        (
            "auth_data_missing",
            "attestation object without `authData`",
            Box::new(|m| m.retain(|(k, _)| k.as_text() != Some("authData"))),
        ),
        (
            "auth_data_text",
            "attestation object `authData` as a text string",
            Box::new(|m| m[2].1 = Cbor::Text("SZYN5YgO".into())),
        ),
        (
            "auth_data_empty",
            "attestation object `authData` = h''",
            Box::new(|m| m[2].1 = Cbor::Bytes(Vec::new())),
        ),
        (
            "duplicate_fmt",
            "attestation object with `fmt` twice (\"none\", then \"packed\")",
            Box::new(move |m| m.push((text("fmt"), text("packed")))),
        ),
    ];
    for (slug, what, edit) in edits {
        out.push(
            reg(
                es,
                &format!("reg_attestation_object_{slug}"),
                14,
                what,
                |b| b.edit_attestation_object(move |m| edit(m)),
            )
            .fails(
                "authenticator_data_invalid",
                "attestationObject is not {fmt: tstr, attStmt: map, authData: bstr}",
            ),
        );
    }
    let raw_objects: [(&str, &str, Vec<u8>); 3] = [
        (
            "not_map",
            "attestation object is a CBOR array",
            encode_cbor(&Cbor::Array(vec![text("none"), Cbor::Map(Vec::new())])),
        ),
        ("garbage", "attestation object is 0x000000", vec![0, 0, 0]),
        (
            "huge_declared_length",
            "attestation object whose authData declares 2^32 bytes",
            {
                let mut bytes = encode_cbor(&Cbor::Map(vec![
                    (text("fmt"), text("none")),
                    (text("attStmt"), Cbor::Map(Vec::new())),
                    (text("authData"), Cbor::Bytes(Vec::new())),
                ]));
                bytes.pop();
                bytes.extend_from_slice(&[0x5a, 0xff, 0xff, 0xff, 0xff]);
                bytes.extend_from_slice(&[0xaa; 64]);
                bytes
            },
        ),
    ];
    for (slug, what, bytes) in raw_objects {
        let case = if slug == "huge_declared_length" {
            17
        } else {
            14
        };
        out.push(
            reg(
                es,
                &format!("reg_attestation_object_{slug}"),
                case,
                what,
                |b| b.attestation_object(bytes),
            )
            .fails(
                "authenticator_data_invalid",
                "attestationObject is not a CBOR map of the right shape",
            ),
        );
    }
    out.push({
        let challenge = challenge();
        let mut response = es.register(&challenge, ORIGIN).build();
        response.attestation_object.push(0x00);
        Vector::new(
            "reg_attestation_object_trailing_byte",
            Some(14),
            "a 0x00 byte after the attestation object",
            "registration",
            &challenge,
        )
        .with("response", response.to_json())
        .fails("authenticator_data_invalid", "bytes after the CBOR item")
    });
    out.push(
        reg(
            es,
            "reg_att_stmt_nested_20_deep",
            17,
            "attStmt holding arrays nested 20 deep",
            |b| {
                b.edit_att_stmt(|m| {
                    let mut deep = Cbor::from(0);
                    for _ in 0..20 {
                        deep = Cbor::Array(vec![deep]);
                    }
                    m.push((Cbor::Text("x".into()), deep));
                })
            },
        )
        .fails("authenticator_data_invalid", "CBOR nested deeper than 16"),
    );
    // Case 17: a duplicate key inside attStmt (a parser differential) and a credential key whose
    // labels are not in canonical order.
    out.push(
        reg(
            es,
            "reg_att_stmt_duplicate_alg",
            17,
            "packed self attStmt with alg twice (-7, then -257)",
            |b| {
                b.packed_self()
                    .edit_att_stmt(|m| m.push((Cbor::Text("alg".into()), Cbor::from(-257))))
            },
        )
        .fails(
            "authenticator_data_invalid",
            "a key appears twice in attStmt (parser differential): the object is refused whole",
        ),
    );
    let cose = es.cose_key();
    // {3: -7, 1: 2, -1: 1, -2: x, -3: y}: canonical encodings, wrong key order.
    let reordered = [&[0xa5, 0x03, 0x26, 0x01, 0x02][..], &cose[5..]].concat();
    out.push(
        reg(
            es,
            "reg_cose_keys_out_of_order",
            17,
            "COSE key with labels in the order 3, 1, -1, -2, -3",
            |b| b.credential_public_key(reordered),
        )
        .fails("public_key_invalid", "CTAP2 canonical CBOR sorts map keys"),
    );
}
