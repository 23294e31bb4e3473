//! SECURITY.md §6 expectations the verifier does not meet yet (see the crate README).

use super::*;

/// Vectors expressing a SECURITY.md §6 expectation that the verifier does not meet (yet): the
/// attestation object and `attStmt` are not held to CTAP2 canonical CBOR (indefinite lengths,
/// non-minimal integers, duplicate keys inside `attStmt`), and COSE key labels are not checked for
/// canonical order. They are checked like the others and reported until the verifier changes.
pub(super) fn cases(f: &Fixtures, out: &mut Vec<Vector>) {
    let start = out.len();
    plan_vectors(f, out);
    for vector in &mut out[start..] {
        vector.known_finding = true;
    }
}

fn plan_vectors(f: &Fixtures, out: &mut Vec<Vector>) {
    let es = &f.es256;
    out.push({
        let challenge = challenge();
        let mut response = es.register(&challenge, ORIGIN).build();
        // 0xa3 (map of 3) becomes 0xbf (indefinite-length map) ... 0xff (break).
        response.attestation_object[0] = 0xbf;
        response.attestation_object.push(0xff);
        Vector::new(
            "reg_attestation_object_indefinite_length",
            Some(17),
            "attestation object as an indefinite-length map",
            "registration",
            &challenge,
        )
        .with("response", response.to_json())
        .fails(
            "authenticator_data_invalid",
            "indefinite lengths are not CTAP2 canonical",
        )
    });
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
            "attestation_invalid",
            "a key appears twice in attStmt (parser differential)",
        ),
    );
    out.push({
        let challenge = challenge();
        let mut response = es.register(&challenge, ORIGIN).packed_self().build();
        // attStmt.alg -7 (0x26) re-encoded in two bytes (0x38 0x06).
        let object = &mut response.attestation_object;
        let at = object
            .windows(5)
            .position(|w| w == [0x63, b'a', b'l', b'g', 0x26])
            .expect("attStmt has alg -7");
        object.splice(at + 4..at + 5, [0x38, 0x06]);
        Vector::new(
            "reg_att_stmt_non_minimal_integer",
            Some(17),
            "packed self attStmt.alg -7 encoded in two bytes (0x38 0x06)",
            "registration",
            &challenge,
        )
        .with("response", response.to_json())
        .fails(
            "authenticator_data_invalid",
            "non-minimal integers are not CTAP2 canonical",
        )
    });
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
