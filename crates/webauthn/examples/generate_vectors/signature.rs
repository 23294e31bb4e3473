//! SECURITY.md §6 cases 38-42: assertion signatures and the signature counter.

use super::*;

/// The parts of a DER ECDSA signature.
fn ecdsa_parts(sig: &[u8]) -> (Vec<u8>, Vec<u8>) {
    // 30 len 02 rlen r 02 slen s (short lengths for P-256)
    let r_len = usize::from(sig[3]);
    let r = sig[4..4 + r_len].to_vec();
    let s_len = usize::from(sig[5 + r_len]);
    let s = sig[6 + r_len..6 + r_len + s_len].to_vec();
    (r, s)
}

/// `SEQUENCE { INTEGER r, INTEGER s }` with the integers' contents exactly as given.
fn ecdsa_der(r: &[u8], s: &[u8]) -> Vec<u8> {
    let mut body = vec![0x02, r.len() as u8];
    body.extend_from_slice(r);
    body.extend_from_slice(&[0x02, s.len() as u8]);
    body.extend_from_slice(s);
    let mut out = vec![0x30, body.len() as u8];
    out.extend(body);
    out
}

pub(super) fn cases(f: &Fixtures, out: &mut Vec<Vector>) {
    let es = &f.es256;
    let invalid = "signature_invalid";
    type SigEdit = (&'static str, u32, &'static str, Box<dyn Fn(&mut Vec<u8>)>);
    // P-256 group order n.
    const N: [u8; 32] = [
        0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63,
        0x25, 0x51,
    ];
    let edits: Vec<SigEdit> = vec![
        (
            "signature_bit_flip",
            38,
            "last signature byte XOR 0x01",
            Box::new(|s| {
                if let Some(last) = s.last_mut() {
                    *last ^= 0x01;
                }
            }),
        ),
        (
            "signature_truncated_half",
            38,
            "signature cut to half its length",
            Box::new(|s| s.truncate(s.len() / 2)),
        ),
        (
            "signature_der_trailing_byte",
            38,
            "a 0x00 byte after the DER signature",
            Box::new(|s| s.push(0x00)),
        ),
        (
            "signature_der_leading_zero",
            38,
            "r re-encoded with an extra leading 0x00 (non-minimal DER)",
            Box::new(|s| {
                let (r, sv) = ecdsa_parts(s);
                let padded: Vec<u8> = std::iter::once(0).chain(r).collect();
                *s = ecdsa_der(&padded, &sv);
            }),
        ),
        (
            "signature_der_long_form_length",
            38,
            "the SEQUENCE length in long form (0x81 ..)",
            Box::new(|s| {
                let mut long = vec![0x30, 0x81];
                long.extend_from_slice(&s[1..]);
                *s = long;
            }),
        ),
        (
            "psychic_signature_r0_s0",
            42,
            "signature = 3006020100020100 (r = 0, s = 0)",
            Box::new(|s| {
                *s = vec![0x30, 0x06, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00];
            }),
        ),
        (
            "signature_all_zero",
            42,
            "signature = 64 zero bytes",
            Box::new(|s| *s = vec![0; 64]),
        ),
        (
            "signature_r_equals_n",
            42,
            "r = n (the group order), s = the real s",
            Box::new(move |s| {
                let (_, sv) = ecdsa_parts(s);
                let r: Vec<u8> = std::iter::once(0).chain(N).collect();
                *s = ecdsa_der(&r, &sv);
            }),
        ),
        (
            "signature_s_equals_n",
            42,
            "s = n (the group order), r = the real r",
            Box::new(move |s| {
                let (r, _) = ecdsa_parts(s);
                let n: Vec<u8> = std::iter::once(0).chain(N).collect();
                *s = ecdsa_der(&r, &n);
            }),
        ),
    ];
    for (slug, case, what, edit) in edits {
        out.push(
            auth(es, &format!("auth_{slug}"), case, what, |b| {
                b.edit_signature(move |s| edit(s))
            })
            .fails(invalid, what),
        );
    }
    // Other algorithms: a flipped byte, and an all-zero signature of the right length.
    for alg in [
        CoseAlgorithm::EdDsa,
        CoseAlgorithm::Rs256,
        CoseAlgorithm::Ps256,
        CoseAlgorithm::MlDsa44,
    ] {
        let slug = alg.name().to_lowercase().replace('-', "_");
        let credential = Credential::new(alg, RP_ID);
        out.push(
            auth(
                &credential,
                &format!("auth_{slug}_signature_bit_flip"),
                38,
                &format!("{} signature with its middle byte XOR 0x01", alg.name()),
                |b| {
                    b.edit_signature(|s| {
                        let middle = s.len() / 2;
                        s[middle] ^= 0x01;
                    })
                },
            )
            .fails(invalid, "tampered signature"),
        );
        out.push(
            auth(
                &credential,
                &format!("auth_{slug}_signature_all_zero"),
                42,
                &format!("{} signature of the right length, all zero", alg.name()),
                |b| b.edit_signature(|s| s.fill(0)),
            )
            .fails(invalid, "an all-zero signature"),
        );
    }
    // Case 39: another key, another algorithm.
    let other = CredentialKey::generate(CoseAlgorithm::Es256);
    let rsa = CredentialKey::generate(CoseAlgorithm::Rs256);
    let ed = CredentialKey::generate(CoseAlgorithm::EdDsa);
    for (slug, what, key) in [
        (
            "signature_other_es256_key",
            "a valid ES256 signature by another key",
            &other,
        ),
        (
            "signature_rs256_for_es256_key",
            "a valid RS256 signature (another key) against the stored ES256 key",
            &rsa,
        ),
        (
            "signature_eddsa_for_es256_key",
            "a valid EdDSA signature (another key) against the stored ES256 key",
            &ed,
        ),
    ] {
        out.push(
            auth(es, &format!("auth_{slug}"), 39, what, |b| b.sign_with(key)).fails(
                invalid,
                "only the stored key with its stored algorithm counts",
            ),
        );
    }
    // Case 40-41: the counter.
    let counters: [(&str, u32, u32, &str); 3] = [
        (
            "counter_equal",
            10,
            10,
            "stored signCount 10, assertion signCount 10",
        ),
        (
            "counter_lower",
            10,
            5,
            "stored signCount 10, assertion signCount 5",
        ),
        (
            "counter_reset_to_zero",
            7,
            0,
            "stored signCount 7, assertion signCount 0",
        ),
    ];
    for (slug, stored, received, what) in counters {
        let case = if received == 0 { 41 } else { 40 };
        out.push(
            auth(es, &format!("auth_{slug}"), case, what, |b| {
                b.sign_count(received)
            })
            .with("prior_sign_count", stored)
            .fails("counter_regression", "possible cloned authenticator"),
        );
    }
    out.push(
        auth(
            es,
            "auth_counter_increased",
            40,
            "stored signCount 10, assertion signCount 11 (positive control)",
            |b| b.sign_count(11),
        )
        .with("prior_sign_count", 10)
        .passes(authenticated(es, 11, UP | UV)),
    );
    out.push(
        auth(
            es,
            "auth_counter_zero_zero",
            41,
            "stored signCount 0, assertion signCount 0 (positive control: no counter)",
            |b| b.sign_count(0),
        )
        .passes(authenticated(es, 0, UP | UV)),
    );
    let mut flagged = authenticated(es, 5, UP | UV);
    flagged["counter_regressed"] = true.into();
    out.push(
        auth(
            es,
            "auth_counter_lower_flagged",
            40,
            "stored signCount 10, assertion signCount 5, counter policy flag (positive control)",
            |b| b.sign_count(5),
        )
        .with("prior_sign_count", 10)
        .with("counter_policy", "flag")
        .passes(flagged),
    );
}
