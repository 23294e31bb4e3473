//! Positive controls: every algorithm, x5c, fido-u2f, extensions, the longest credential ID.

use super::*;

pub(super) fn cases(f: &Fixtures, out: &mut Vec<Vector>) {
    let algorithms = [
        CoseAlgorithm::Es256,
        CoseAlgorithm::Es384,
        CoseAlgorithm::Es512,
        CoseAlgorithm::EdDsa,
        CoseAlgorithm::Rs256,
        CoseAlgorithm::Ps256,
        CoseAlgorithm::MlDsa44,
    ];
    for alg in algorithms {
        let slug = alg.name().to_lowercase().replace('-', "_");
        let credential = Credential::new(alg, RP_ID);
        out.push(
            reg(
                &credential,
                &format!("reg_none_{slug}"),
                0,
                &format!(
                    "nothing (positive control, {} none attestation)",
                    alg.name()
                ),
                |b| b,
            )
            .passes(registered_as(&credential, "none")),
        );
        out.push(
            reg(
                &credential,
                &format!("reg_packed_self_{slug}"),
                0,
                &format!(
                    "nothing (positive control, {} packed self attestation)",
                    alg.name()
                ),
                RegistrationBuilder::packed_self,
            )
            .passes(registered_as(&credential, "packed")),
        );
        out.push(
            auth(
                &credential,
                &format!("auth_{slug}"),
                0,
                &format!("nothing (positive control, {} assertion)", alg.name()),
                |b| b.sign_count(1),
            )
            .passes(authenticated(&credential, 1, UP | UV)),
        );
    }
    let es = &f.es256;
    out.push(
        reg(
            es,
            "reg_packed_x5c_es256",
            0,
            "nothing (positive control, packed x5c chained to the case's trust root)",
            |b| b.packed_x5c(&f.batch, Vec::new()),
        )
        .with("trust_roots", vec![f.ca.pem()])
        .with("verify_at", VERIFY_AT)
        .passes(registered_as(es, "packed")),
    );
    out.push(
        reg(
            es,
            "reg_fido_u2f_es256",
            0,
            "nothing (positive control, fido-u2f chained to the case's trust root)",
            |b| b.fido_u2f(&f.u2f),
        )
        .with("trust_roots", vec![f.ca.pem()])
        .with("verify_at", VERIFY_AT)
        .passes(registered(
            "fido-u2f",
            CoseAlgorithm::Es256,
            &es.cose_key(),
            &es.id,
            Aaguid::default(),
            UP | UV,
        )),
    );
    let cred_protect = encode_cbor(&Cbor::Map(vec![(
        Cbor::Text("credProtect".into()),
        Cbor::from(2),
    )]));
    out.push(
        reg(
            es,
            "reg_packed_self_with_extensions",
            15,
            "ED set with a credProtect extension map (positive control)",
            |b| b.packed_self().extensions(cred_protect.clone()),
        )
        .passes(registered_as(es, "packed")),
    );
    let mut long_id = Credential::with_key(CredentialKey::generate(CoseAlgorithm::Es256), RP_ID);
    long_id.id = random_bytes(1023);
    out.push(
        reg(
            &long_id,
            "reg_none_credential_id_1023_bytes",
            31,
            "credential ID of exactly 1023 bytes, the longest allowed (positive control)",
            |b| b,
        )
        .passes(registered_as(&long_id, "none")),
    );
}
