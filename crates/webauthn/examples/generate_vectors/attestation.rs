//! SECURITY.md §6 cases 24-28, 31: attestation statements and certificates.

use super::*;

pub(super) fn cases(f: &Fixtures, out: &mut Vec<Vector>) {
    let es = &f.es256;
    let invalid = "attestation_invalid";
    // Case 24.
    let wrong_aaguid = f.ca.issue(&CertificateParams::packed(Aaguid([0x42; 16])));
    out.push(
        reg_anchored(
            f,
            es,
            "reg_packed_x5c_aaguid_extension_mismatch",
            24,
            "packed x5c whose leaf AAGUID extension differs from authData",
            |b| b.packed_x5c(&wrong_aaguid, Vec::new()),
        )
        .fails(
            invalid,
            "id-fido-gen-ce-aaguid must equal the authData AAGUID",
        ),
    );
    let critical = f.ca.issue(&CertificateParams {
        aaguid_critical: true,
        ..CertificateParams::packed(TEST_AAGUID)
    });
    out.push(
        reg_anchored(
            f,
            es,
            "reg_packed_x5c_aaguid_extension_critical",
            24,
            "packed x5c whose leaf AAGUID extension is critical",
            |b| b.packed_x5c(&critical, Vec::new()),
        )
        .fails(invalid, "id-fido-gen-ce-aaguid must not be critical"),
    );
    // Case 25.
    let attacker_leaf = f.attacker_ca.issue(&CertificateParams::packed(TEST_AAGUID));
    let attacker_root = f.attacker_ca.der().to_vec();
    out.push(
        reg_anchored(
            f,
            es,
            "reg_packed_x5c_attacker_root",
            25,
            "packed x5c = [leaf, a self-signed root that is not a trust anchor]",
            |b| b.packed_x5c(&attacker_leaf, vec![attacker_root.clone()]),
        )
        .fails(
            "attestation_untrusted",
            "the chain ends at a root the RP does not trust",
        ),
    );
    let self_signed = AttestationCertificate::self_signed(&CertificateParams::packed(TEST_AAGUID));
    out.push(
        reg_anchored(
            f,
            es,
            "reg_packed_x5c_self_signed_leaf",
            25,
            "packed x5c = [a self-signed leaf]",
            |b| b.packed_x5c(&self_signed, Vec::new()),
        )
        .fails(
            "attestation_untrusted",
            "a self-signed leaf is not a trust anchor",
        ),
    );
    // Case 26.
    let ca_leaf = f.ca.issue(&CertificateParams {
        ca: Some(true),
        ..CertificateParams::packed(TEST_AAGUID)
    });
    out.push(
        reg_anchored(
            f,
            es,
            "reg_packed_x5c_leaf_is_ca",
            26,
            "packed x5c whose leaf has BasicConstraints CA=true",
            |b| b.packed_x5c(&ca_leaf, Vec::new()),
        )
        .fails(invalid, "the attestation leaf must not be a CA"),
    );
    let wrong_ou = f.ca.issue(&CertificateParams {
        subject: vec![
            (NameAttribute::Country, "US".into()),
            (
                NameAttribute::Organization,
                "passkeyd test authenticators".into(),
            ),
            (NameAttribute::OrganizationalUnit, "Engineering".into()),
            (NameAttribute::CommonName, "passkeyd test batch key".into()),
        ],
        ..CertificateParams::packed(TEST_AAGUID)
    });
    out.push(
        reg_anchored(
            f,
            es,
            "reg_packed_x5c_wrong_ou",
            26,
            "packed x5c whose leaf OU is \"Engineering\"",
            |b| b.packed_x5c(&wrong_ou, Vec::new()),
        )
        .fails(invalid, "the leaf OU must be \"Authenticator Attestation\""),
    );
    out.push(
        reg_anchored(
            f,
            es,
            "reg_packed_x5c_expired",
            26,
            "packed x5c verified after the leaf expired (2046)",
            |b| b.packed_x5c(&f.batch, Vec::new()),
        )
        .with("verify_at", "2046-01-01T00:00:00Z")
        .fails(
            "attestation_untrusted",
            "certificates are outside their validity period",
        ),
    );
    // Case 27.
    out.push(
        reg_anchored(
            f,
            es,
            "reg_packed_x5c_signed_by_credential_key",
            27,
            "packed x5c statement signed with the credential key instead of the batch key",
            |b| {
                b.packed_x5c(&f.batch, Vec::new())
                    .attestation_signer(&es.key)
            },
        )
        .fails(invalid, "sig must verify with the leaf's key"),
    );
    out.push(
        reg_anchored(
            f,
            es,
            "reg_packed_x5c_alg_mismatch",
            27,
            "packed x5c with attStmt.alg = -257 (RS256) for an EC P-256 leaf",
            |b| {
                b.packed_x5c(&f.batch, Vec::new())
                    .edit_att_stmt(|m| m[0].1 = Cbor::from(-257))
            },
        )
        .fails(invalid, "alg must fit the leaf key"),
    );
    out.push(
        reg(
            es,
            "reg_packed_self_alg_mismatch",
            27,
            "packed self attestation with attStmt.alg = -35 (ES384) for an ES256 key",
            |b| b.packed_self().edit_att_stmt(|m| m[0].1 = Cbor::from(-35)),
        )
        .fails(invalid, "self attestation alg must be the credential key's"),
    );
    let other = CredentialKey::generate(CoseAlgorithm::Es256);
    out.push(
        reg(
            es,
            "reg_packed_self_signed_by_other_key",
            27,
            "packed self attestation signed by another ES256 key",
            |b| b.packed_self().attestation_signer(&other),
        )
        .fails(
            invalid,
            "self attestation must verify with the credential key",
        ),
    );
    out.push(
        reg(
            es,
            "reg_packed_self_sig_bit_flip",
            27,
            "packed self attestation with the last byte of sig flipped",
            |b| {
                b.packed_self().edit_att_stmt(|m| {
                    if let Cbor::Bytes(sig) = &mut m[1].1 {
                        if let Some(last) = sig.last_mut() {
                            *last ^= 0x01;
                        }
                    }
                })
            },
        )
        .fails(invalid, "tampered attestation signature"),
    );
    // Case 28.
    out.push(
        reg(
            es,
            "reg_excluded_credential",
            28,
            "the new credential's ID is in excludeCredentials",
            |b| b,
        )
        .with(
            "exclude_credentials",
            vec![base64url_encode(&f.victim.id), base64url_encode(&es.id)],
        )
        .fails(
            "credential_excluded",
            "the authenticator already holds an excluded credential",
        ),
    );
    // Case 31.
    let mut long_id = Credential::with_key(CredentialKey::generate(CoseAlgorithm::Es256), RP_ID);
    long_id.id = random_bytes(1024);
    out.push(
        reg(
            &long_id,
            "reg_credential_id_1024_bytes",
            31,
            "credential ID of 1024 bytes",
            |b| b,
        )
        .fails(
            "authenticator_data_invalid",
            "credential IDs are at most 1023 bytes",
        ),
    );
    out.push(
        reg(
            es,
            "reg_none_att_stmt_not_empty",
            31,
            "fmt none with attStmt {\"alg\": -7}",
            |b| b.edit_att_stmt(|m| m.push((Cbor::Text("alg".into()), Cbor::from(-7)))),
        )
        .fails(invalid, "none requires an empty attStmt"),
    );
    out.push(
        reg(
            es,
            "reg_fmt_packed_wrong_case",
            31,
            "fmt \"Packed\" on a valid packed self statement",
            |b| b.packed_self().fmt("Packed"),
        )
        .fails("attestation_unsupported", "fmt is case-sensitive"),
    );
    out.push(
        reg(
            es,
            "reg_fmt_unknown",
            31,
            "fmt \"passkeyd-test\" with an empty attStmt",
            |b| b.fmt("passkeyd-test"),
        )
        .fails("attestation_unsupported", "unknown statement format"),
    );
    out.push(
        reg_anchored(
            f,
            es,
            "reg_fido_u2f_nonzero_aaguid",
            31,
            "fido-u2f with a non-zero AAGUID",
            |b| b.fido_u2f(&f.u2f).aaguid(TEST_AAGUID),
        )
        .fails(invalid, "U2F authenticators report the zero AAGUID"),
    );
    let p384 = f.ca.issue(&CertificateParams {
        curve: passkeyd_webauthn::crypto::Curve::P384,
        ..CertificateParams::fido_u2f()
    });
    out.push(
        reg_anchored(
            f,
            es,
            "reg_fido_u2f_p384_certificate",
            31,
            "fido-u2f whose certificate key is P-384",
            |b| b.fido_u2f(&p384),
        )
        .fails(invalid, "the U2F certificate key must be P-256"),
    );
    let ca_der = f.ca.der().to_vec();
    out.push(
        reg_anchored(
            f,
            es,
            "reg_fido_u2f_two_certificates",
            31,
            "fido-u2f with x5c = [certificate, root]",
            |b| {
                b.fido_u2f(&f.u2f).edit_att_stmt(move |m| {
                    if let Cbor::Array(x5c) = &mut m[1].1 {
                        x5c.push(Cbor::Bytes(ca_der));
                    }
                })
            },
        )
        .fails(invalid, "x5c must hold exactly one certificate"),
    );
    let es384 = Credential::new(CoseAlgorithm::Es384, RP_ID);
    out.push(
        reg_anchored(
            f,
            &es384,
            "reg_fido_u2f_es384_credential",
            31,
            "fido-u2f for an ES384 credential key",
            |b| b.fido_u2f(&f.u2f),
        )
        .fails(invalid, "U2F credential keys are P-256"),
    );
}
