//! SECURITY.md §6 expectations that passkeyd deliberately does not meet.

use super::*;

/// Vectors expressing a SECURITY.md §6 case 17 expectation that passkeyd deliberately does not
/// meet: the attestation object is not held to CTAP2 canonical CBOR (indefinite lengths,
/// non-minimal integers), because real clients and authenticators in the corpus send non-canonical
/// objects (docs/design/verification.md). Duplicate keys at any depth and non-canonical credential
/// keys are refused; those vectors are in `structure.rs`. These are checked like the others and
/// reported, not written, while the verifier accepts them.
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
}
