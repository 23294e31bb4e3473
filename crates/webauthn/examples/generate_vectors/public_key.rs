//! SECURITY.md §6 cases 17-19, 51: the credential public key and algorithm policy.

use super::*;

pub(super) fn cases(f: &Fixtures, out: &mut Vec<Vector>) {
    let es = &f.es256;
    let invalid = "public_key_invalid";
    let es_params = es.key.cose_params();
    let with = |label: i64, value: Cbor| -> Vec<(i64, Cbor)> {
        let mut params = es_params.clone();
        match params.iter_mut().find(|(l, _)| *l == label) {
            Some(slot) => slot.1 = value,
            None => params.push((label, value)),
        }
        params
    };
    let x = es_params[3].1.clone();
    let mut y = es_params[4].1.as_bytes().cloned().unwrap_or_default();
    if let Some(last) = y.last_mut() {
        *last ^= 0x01;
    }
    let mut rsa_n = random_bytes(256);
    rsa_n[0] |= 0x80;
    let mut short_n = random_bytes(128);
    short_n[0] |= 0x80;
    let e = Cbor::Bytes(vec![1, 0, 1]);
    let keys: Vec<(&str, u32, &str, &str, Vec<u8>)> = vec![
        (
            "cose_point_not_on_curve",
            19,
            "EC2 key with y changed by one bit (off the curve)",
            invalid,
            encode_cose_key(&with(-3, Cbor::Bytes(y))),
        ),
        (
            "cose_point_compressed",
            19,
            "EC2 key in compressed form (y = true)",
            invalid,
            encode_cose_key(&with(-3, Cbor::Bool(true))),
        ),
        (
            "cose_point_identity",
            19,
            "EC2 key x = y = 0 (the identity is not encodable)",
            invalid,
            encode_cose_key(&[
                (1, Cbor::from(2)),
                (3, Cbor::from(-7)),
                (-1, Cbor::from(1)),
                (-2, Cbor::Bytes(vec![0; 32])),
                (-3, Cbor::Bytes(vec![0; 32])),
            ]),
        ),
        (
            "cose_alg_es256_with_rsa_params",
            19,
            "kty RSA, alg -7 (ES256) with a 2048-bit modulus",
            invalid,
            encode_cose_key(&[
                (1, Cbor::from(3)),
                (3, Cbor::from(-7)),
                (-1, Cbor::Bytes(rsa_n)),
                (-2, e.clone()),
            ]),
        ),
        (
            "cose_crv_p384_for_es256",
            19,
            "alg -7 (ES256) with crv 2 (P-384) and 48-byte coordinates",
            invalid,
            encode_cose_key(&[
                (1, Cbor::from(2)),
                (3, Cbor::from(-7)),
                (-1, Cbor::from(2)),
                (-2, Cbor::Bytes(random_bytes(48))),
                (-3, Cbor::Bytes(random_bytes(48))),
            ]),
        ),
        (
            "cose_ed25519_31_bytes",
            19,
            "OKP Ed25519 key of 31 bytes",
            invalid,
            encode_cose_key(&[
                (1, Cbor::from(1)),
                (3, Cbor::from(-8)),
                (-1, Cbor::from(6)),
                (-2, Cbor::Bytes(random_bytes(31))),
            ]),
        ),
        (
            "cose_rsa_1024_bits",
            19,
            "RS256 key with a 1024-bit modulus",
            invalid,
            encode_cose_key(&[
                (1, Cbor::from(3)),
                (3, Cbor::from(-257)),
                (-1, Cbor::Bytes(short_n)),
                (-2, e),
            ]),
        ),
        (
            "cose_alg_missing",
            19,
            "EC2 key without alg",
            invalid,
            encode_cose_key(
                &es_params
                    .iter()
                    .filter(|(l, _)| *l != 3)
                    .cloned()
                    .collect::<Vec<_>>(),
            ),
        ),
        (
            "cose_not_a_map",
            19,
            "credential public key is a CBOR array",
            invalid,
            encode_cbor(&Cbor::Array(vec![Cbor::from(2), Cbor::from(-7), x.clone()])),
        ),
        (
            "cose_alg_es256k",
            19,
            "EC2 key with alg -47 (ES256K, secp256k1), which is not implemented",
            "algorithm_unsupported",
            encode_cose_key(&[
                (1, Cbor::from(2)),
                (3, Cbor::from(-47)),
                (-1, Cbor::from(8)),
                (-2, x),
                (-3, Cbor::Bytes(random_bytes(32))),
            ]),
        ),
        (
            "cose_alg_unknown",
            19,
            "EC2 key with alg -999",
            "algorithm_unsupported",
            encode_cose_key(&with(3, Cbor::from(-999))),
        ),
    ];
    let cose = es.cose_key();
    assert_eq!(&cose[..5], &[0xa5, 0x01, 0x02, 0x03, 0x26]);
    let mut hostile: Vec<(&str, u32, &str, &str, Vec<u8>)> = vec![
        (
            "cose_indefinite_length_map",
            17,
            "COSE key as an indefinite-length map",
            invalid,
            [&[0xbf][..], &cose[1..], &[0xff]].concat(),
        ),
        (
            "cose_duplicate_alg",
            17,
            "COSE key with alg (label 3) twice",
            invalid,
            [&[0xa6][..], &cose[1..], &[0x03, 0x26]].concat(),
        ),
        (
            "cose_non_minimal_integer",
            17,
            "COSE key with alg -7 encoded in two bytes (0x38 0x06)",
            invalid,
            [&[0xa5, 0x01, 0x02, 0x03, 0x38, 0x06][..], &cose[5..]].concat(),
        ),
    ];
    // A byte string declaring 2^32 bytes where x should be.
    let x_start = cose
        .windows(3)
        .position(|w| w == [0x21, 0x58, 0x20])
        .map_or(0, |p| p + 1);
    hostile.push((
        "cose_huge_declared_length",
        17,
        "COSE key whose x declares 2^32 bytes",
        "authenticator_data_invalid",
        [
            &cose[..x_start],
            &[0x5a, 0xff, 0xff, 0xff, 0xff],
            &cose[x_start + 2..],
        ]
        .concat(),
    ));
    for (slug, case, what, code, key) in keys.into_iter().chain(hostile) {
        out.push(
            reg(es, &format!("reg_{slug}"), case, what, |b| {
                b.credential_public_key(key)
            })
            .fails(code, what),
        );
    }
    // The stored key of an assertion is parsed with the same rules.
    out.push(
        auth(
            es,
            "auth_stored_key_alg_unknown",
            39,
            "the stored COSE key has alg -999",
            |b| b,
        )
        .with(
            "credential_public_key",
            base64url_encode(&encode_cose_key(&with(3, Cbor::from(-999)))),
        )
        .fails(
            "algorithm_unsupported",
            "the stored key's algorithm is not implemented",
        ),
    );

    // Case 18 and RS1.
    let rs256 = Credential::new(CoseAlgorithm::Rs256, RP_ID);
    out.push(
        reg(
            &rs256,
            "reg_alg_not_offered",
            18,
            "an RS256 credential when only ES256 was offered",
            |b| b,
        )
        .with("allowed_algorithms", vec![-7])
        .fails("algorithm_not_allowed", "RS256 was not in pubKeyCredParams"),
    );
    let rs1_key: Vec<(i64, Cbor)> = rs256
        .key
        .cose_params()
        .into_iter()
        .map(|(l, v)| {
            if l == 3 {
                (l, Cbor::from(-65535))
            } else {
                (l, v)
            }
        })
        .collect();
    let rs1_key = encode_cose_key(&rs1_key);
    out.push(
        reg(
            &rs256,
            "reg_rs1_not_offered",
            18,
            "an RS1 credential key with the default pubKeyCredParams",
            |b| b.credential_public_key(rs1_key.clone()),
        )
        .fails("algorithm_not_allowed", "RS1 is accepted only when offered"),
    );
    out.push(
        reg(
            &rs256,
            "reg_rs1_offered",
            18,
            "an RS1 credential key when RS1 was offered (positive control)",
            |b| b.credential_public_key(rs1_key.clone()),
        )
        .with("allowed_algorithms", vec![-65535])
        .passes(registered(
            "none",
            CoseAlgorithm::Rs1,
            &rs1_key,
            &rs256.id,
            rs256.aaguid,
            UP | UV,
        )),
    );

    // Case 51: the unsigned convenience copies must agree.
    let other = CredentialKey::generate(CoseAlgorithm::Es256);
    let other_spki = base64url_encode(&other.spki());
    out.push(
        reg_json(
            es,
            "reg_public_key_copy_mismatch",
            51,
            "response.publicKey = another key's SPKI",
            |r| r["response"]["publicKey"] = other_spki.into(),
        )
        .fails("response_malformed", "publicKey must be the attested key"),
    );
    out.push(
        reg_json(
            es,
            "reg_public_key_algorithm_copy_mismatch",
            51,
            "response.publicKeyAlgorithm = -257",
            |r| r["response"]["publicKeyAlgorithm"] = (-257).into(),
        )
        .fails(
            "response_malformed",
            "publicKeyAlgorithm must be the attested key's",
        ),
    );
    out.push(
        reg_json(
            es,
            "reg_authenticator_data_copy_mismatch",
            51,
            "response.authenticatorData = 37 zero bytes",
            |r| r["response"]["authenticatorData"] = base64url_encode(&[0; 37]).into(),
        )
        .fails(
            "response_malformed",
            "authenticatorData must be the attested authenticator data",
        ),
    );
}
