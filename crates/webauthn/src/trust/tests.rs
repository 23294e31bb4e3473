//! Chain validation with certificates generated here (rcgen on aws-lc-rs): anchoring, validity,
//! order, CA flags, path lengths and self-signed chains (SECURITY.md §6 cases 25 and 26).

use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DistinguishedName, DnType, IsCa, Issuer,
    KeyPair, KeyUsagePurpose, SignatureAlgorithm,
};
use time::OffsetDateTime;

use super::*;
use crate::error::TrustError;

/// 2026-11-23T00:00:00Z.
const NOW: UnixTime = UnixTime(1_795_392_000);

struct Cert {
    params: CertificateParams,
    key: KeyPair,
    der: Vec<u8>,
}

impl Cert {
    fn issuer(&self) -> Issuer<'_, &KeyPair> {
        Issuer::from_params(&self.params, &self.key)
    }
}

fn ymd(year: i32) -> OffsetDateTime {
    rcgen::date_time_ymd(year, 1, 1)
}

fn params(cn: &str, is_ca: IsCa) -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "passkeyd tests");
    dn.push(DnType::CommonName, cn);
    params.distinguished_name = dn;
    params.not_before = ymd(2020);
    params.not_after = ymd(2040);
    if matches!(is_ca, IsCa::Ca(_)) {
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    }
    params.is_ca = is_ca;
    params
}

fn ca() -> IsCa {
    IsCa::Ca(BasicConstraints::Unconstrained)
}

fn self_signed_with(params: CertificateParams, alg: &'static SignatureAlgorithm) -> Cert {
    let key = KeyPair::generate_for(alg).unwrap();
    let der = params.self_signed(&key).unwrap().der().to_vec();
    Cert { params, key, der }
}

fn self_signed(params: CertificateParams) -> Cert {
    self_signed_with(params, &rcgen::PKCS_ECDSA_P256_SHA256)
}

fn issued_with(params: CertificateParams, by: &Cert, alg: &'static SignatureAlgorithm) -> Cert {
    let key = KeyPair::generate_for(alg).unwrap();
    let der = params.signed_by(&key, &by.issuer()).unwrap().der().to_vec();
    Cert { params, key, der }
}

fn issued(params: CertificateParams, by: &Cert) -> Cert {
    issued_with(params, by, &rcgen::PKCS_ECDSA_P256_SHA256)
}

/// A root, an intermediate and an attestation leaf.
struct Pki {
    root: Cert,
    intermediate: Cert,
    leaf: Cert,
}

fn pki() -> Pki {
    let root = self_signed(params("Test Root", ca()));
    let intermediate = issued(params("Test Intermediate", ca()), &root);
    let leaf = issued(params("Test Leaf", IsCa::ExplicitNoCa), &intermediate);
    Pki {
        root,
        intermediate,
        leaf,
    }
}

fn anchors(roots: &[&Cert]) -> TrustAnchors {
    let mut anchors = TrustAnchors::new();
    for root in roots {
        anchors.add_der(&root.der).unwrap();
    }
    anchors
}

fn check_at(
    chain: &[&Cert],
    roots: &[&Cert],
    now: UnixTime,
    check_validity: bool,
) -> Result<ChainTrust, TrustError> {
    let x5c: Vec<&[u8]> = chain.iter().map(|c| c.der.as_slice()).collect();
    check_der(&x5c, &anchors(roots), now, check_validity)
}

fn check_der(
    x5c: &[&[u8]],
    anchors: &TrustAnchors,
    now: UnixTime,
    check_validity: bool,
) -> Result<ChainTrust, TrustError> {
    let parsed = parse_chain(x5c)?;
    verify_chain(&parsed, x5c, anchors, now, check_validity)
}

fn check(chain: &[&Cert], roots: &[&Cert]) -> Result<ChainTrust, TrustError> {
    check_at(chain, roots, NOW, true)
}

fn at(time: OffsetDateTime) -> UnixTime {
    UnixTime(time.unix_timestamp())
}

// --- anchored and unanchored ------------------------------------------------------------------

#[test]
fn a_chain_to_a_configured_root_is_anchored() {
    let p = pki();
    assert_eq!(
        check(&[&p.leaf, &p.intermediate], &[&p.root]),
        Ok(ChainTrust::Anchored)
    );
    // The root sent along in x5c changes nothing.
    assert_eq!(
        check(&[&p.leaf, &p.intermediate, &p.root], &[&p.root]),
        Ok(ChainTrust::Anchored)
    );
    // A leaf issued directly by the root.
    let direct = issued(params("Direct Leaf", IsCa::ExplicitNoCa), &p.root);
    assert_eq!(check(&[&direct], &[&p.root]), Ok(ChainTrust::Anchored));
    // The intermediate itself configured as the anchor.
    assert_eq!(
        check(&[&p.leaf], &[&p.intermediate]),
        Ok(ChainTrust::Anchored)
    );
    // A certificate that is itself a configured anchor.
    assert_eq!(check(&[&p.leaf], &[&p.leaf]), Ok(ChainTrust::Anchored));
    // One of several anchors.
    let other = self_signed(params("Other Root", ca()));
    assert_eq!(
        check(&[&p.leaf, &p.intermediate], &[&other, &p.root]),
        Ok(ChainTrust::Anchored)
    );
}

#[test]
fn without_anchors_a_valid_chain_is_only_unanchored() {
    let p = pki();
    assert_eq!(
        check(&[&p.leaf, &p.intermediate], &[]),
        Ok(ChainTrust::Unanchored)
    );
    // Even ending in a self-signed root: x5c never anchors itself.
    assert_eq!(
        check(&[&p.leaf, &p.intermediate, &p.root], &[]),
        Ok(ChainTrust::Unanchored)
    );
}

#[test]
fn a_chain_to_another_root_is_not_anchored() {
    let p = pki();
    let other = self_signed(params("Other Root", ca()));
    assert_eq!(
        check(&[&p.leaf, &p.intermediate], &[&other]),
        Err(TrustError::NoAnchor)
    );
    assert_eq!(
        check(&[&p.leaf, &p.intermediate, &p.root], &[&other]),
        Err(TrustError::NoAnchor)
    );
    // The intermediate is missing from x5c: the chain does not build.
    assert_eq!(check(&[&p.leaf], &[&p.root]), Err(TrustError::NoAnchor));
}

#[test]
fn self_signed_x5c_never_counts_as_anchored() {
    let p = pki();
    let attacker_leaf = self_signed(params("Authenticator", IsCa::ExplicitNoCa));
    assert_eq!(check(&[&attacker_leaf], &[]), Ok(ChainTrust::Unanchored));
    assert_eq!(
        check(&[&attacker_leaf], &[&p.root]),
        Err(TrustError::NoAnchor)
    );

    // x5c = [leaf, self-signed root made by the attacker].
    let attacker_root = self_signed(params("Attacker Root", ca()));
    let leaf = issued(params("Authenticator", IsCa::ExplicitNoCa), &attacker_root);
    assert_eq!(
        check(&[&leaf, &attacker_root], &[&p.root]),
        Err(TrustError::NoAnchor)
    );

    // The attacker's root copies the real root's name (and so the leaf names the real root as
    // its issuer), but not its key.
    let impostor = self_signed(params("Test Root", ca()));
    let leaf = issued(params("Authenticator", IsCa::ExplicitNoCa), &impostor);
    assert_eq!(
        check(&[&leaf, &impostor], &[&p.root]),
        Err(TrustError::NoAnchor)
    );
    assert_eq!(check(&[&leaf], &[&p.root]), Err(TrustError::NoAnchor));
    assert_eq!(check(&[&impostor], &[&p.root]), Err(TrustError::NoAnchor));
    // An impostor intermediate with the real intermediate's name.
    let fake_intermediate = self_signed(params("Test Intermediate", ca()));
    let leaf = issued(
        params("Authenticator", IsCa::ExplicitNoCa),
        &fake_intermediate,
    );
    assert_eq!(
        check(&[&leaf, &fake_intermediate], &[&p.root]),
        Err(TrustError::NoAnchor)
    );
}

// --- validity ---------------------------------------------------------------------------------

#[test]
fn certificates_must_be_valid_at_the_verification_time() {
    let p = pki();
    let chain = [&p.leaf, &p.intermediate];
    // Inside the window, and at both inclusive edges.
    assert_eq!(
        check_at(&chain, &[&p.root], at(ymd(2020)), true),
        Ok(ChainTrust::Anchored)
    );
    assert_eq!(
        check_at(&chain, &[&p.root], at(ymd(2040)), true),
        Ok(ChainTrust::Anchored)
    );
    // One second before notBefore, one second after notAfter.
    let before = UnixTime(at(ymd(2020)).0 - 1);
    let after = UnixTime(at(ymd(2040)).0 + 1);
    assert_eq!(
        check_at(&chain, &[&p.root], before, true),
        Err(TrustError::Validity(0))
    );
    assert_eq!(
        check_at(&chain, &[&p.root], after, true),
        Err(TrustError::Validity(0))
    );
    // Archived payloads may switch the check off.
    assert_eq!(
        check_at(&chain, &[&p.root], after, false),
        Ok(ChainTrust::Anchored)
    );
    // Absurd times fail closed rather than wrapping.
    for absurd in [i64::MIN, i64::MAX, -62_000_000_000_000] {
        assert!(check_at(&chain, &[&p.root], UnixTime(absurd), true).is_err());
    }
}

#[test]
fn an_expired_or_future_certificate_anywhere_in_the_chain_is_refused() {
    let root = self_signed(params("Test Root", ca()));
    let mut expired = params("Expired Intermediate", ca());
    expired.not_before = ymd(2010);
    expired.not_after = ymd(2020);
    let expired = issued(expired, &root);
    let leaf = issued(params("Leaf", IsCa::ExplicitNoCa), &expired);
    assert_eq!(
        check(&[&leaf, &expired], &[&root]),
        Err(TrustError::Validity(1))
    );
    assert_eq!(
        check_at(&[&leaf, &expired], &[&root], NOW, false),
        Ok(ChainTrust::Anchored)
    );

    let mut future = params("Future Leaf", IsCa::ExplicitNoCa);
    future.not_before = ymd(2030);
    let future = issued(future, &root);
    assert_eq!(check(&[&future], &[&root]), Err(TrustError::Validity(0)));
    // Without anchors too.
    assert_eq!(check(&[&future], &[]), Err(TrustError::Validity(0)));
}

// --- chain structure --------------------------------------------------------------------------

#[test]
fn wrong_order_is_refused() {
    let p = pki();
    assert_eq!(
        check(&[&p.intermediate, &p.leaf], &[]),
        Err(TrustError::Broken(0))
    );
    assert_eq!(
        check(&[&p.leaf, &p.root, &p.intermediate], &[&p.root]),
        Err(TrustError::Broken(0))
    );
    assert_eq!(
        check(&[&p.leaf, &p.root, &p.intermediate], &[]),
        Err(TrustError::Broken(0))
    );
}

#[test]
fn a_certificate_not_signed_by_its_issuer_is_refused() {
    let p = pki();
    // Names the intermediate as its issuer, signed by some other key.
    let stranger = self_signed(params("Test Intermediate", ca()));
    let forged = issued(params("Test Leaf", IsCa::ExplicitNoCa), &stranger);
    assert_eq!(
        check(&[&forged, &p.intermediate], &[&p.root]),
        Err(TrustError::Broken(0))
    );
    assert_eq!(
        check(&[&forged, &p.intermediate], &[]),
        Err(TrustError::Broken(0))
    );
    // A flipped bit in the leaf's signature.
    let mut der = p.leaf.der.clone();
    let last = der.len() - 1;
    der[last] ^= 1;
    let x5c: [&[u8]; 2] = [&der, &p.intermediate.der];
    assert_eq!(
        check_der(&x5c, &anchors(&[&p.root]), NOW, true),
        Err(TrustError::Broken(0))
    );
}

#[test]
fn issuers_must_be_certificate_authorities() {
    let root = self_signed(params("Test Root", ca()));
    // CA=false, no basic constraints at all, and CA=true without keyCertSign.
    let explicit = issued(params("Not A CA", IsCa::ExplicitNoCa), &root);
    let implicit = issued(params("Not A CA Either", IsCa::NoCa), &root);
    let mut no_cert_sign = params("CA Without keyCertSign", ca());
    no_cert_sign.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    let no_cert_sign = issued(no_cert_sign, &root);
    for issuer in [&explicit, &implicit, &no_cert_sign] {
        let leaf = issued(params("Leaf", IsCa::ExplicitNoCa), issuer);
        assert_eq!(check(&[&leaf, issuer], &[&root]), Err(TrustError::NotCa(1)));
        assert_eq!(check(&[&leaf, issuer], &[]), Err(TrustError::NotCa(1)));
    }
}

/// A keyUsage extension (2.5.29.15) carrying only digitalSignature.
fn digital_signature_only_key_usage() -> CustomExtension {
    CustomExtension::from_oid_content(&[2, 5, 29, 15], vec![0x03, 0x02, 0x07, 0x80])
}

#[test]
fn an_unreadable_key_usage_extension_does_not_make_an_issuer() {
    let root = self_signed(params("Test Root", ca()));
    let malformed = CustomExtension::from_oid_content(&[2, 5, 29, 15], vec![0x04, 0x00]);
    let cases = [
        (
            "keyUsage twice",
            vec![
                digital_signature_only_key_usage(),
                digital_signature_only_key_usage(),
            ],
        ),
        ("keyUsage not a BIT STRING", vec![malformed]),
    ];
    let mut accepted = Vec::new();
    for (name, extensions) in cases {
        let mut issuer = params("CA With Odd keyUsage", ca());
        issuer.key_usages = Vec::new();
        issuer.custom_extensions = extensions;
        let issuer = issued(issuer, &root);
        let leaf = issued(params("Leaf", IsCa::ExplicitNoCa), &issuer);
        let result = check(&[&leaf, &issuer], &[&root]);
        if !matches!(
            result,
            Err(TrustError::NotCa(1) | TrustError::Unparsable(1))
        ) {
            accepted.push(format!("{name}: {result:?}"));
        }
    }
    assert!(accepted.is_empty(), "{accepted:#?}");
}

#[test]
fn a_single_key_usage_extension_without_cert_sign_is_refused() {
    // Control for the ignored test above: the same extension once is honoured.
    let root = self_signed(params("Test Root", ca()));
    let mut once = params("CA With keyUsage", ca());
    once.key_usages = Vec::new();
    once.custom_extensions = vec![digital_signature_only_key_usage()];
    let once = issued(once, &root);
    let leaf = issued(params("Leaf", IsCa::ExplicitNoCa), &once);
    assert_eq!(check(&[&leaf, &once], &[&root]), Err(TrustError::NotCa(1)));
}

#[test]
fn path_length_constraints_hold() {
    let root = self_signed(params("Test Root", ca()));
    for (limit, expected) in [
        (0, Err(TrustError::PathLength)),
        (1, Ok(ChainTrust::Anchored)),
    ] {
        let constrained = issued(
            params(
                "Constrained",
                IsCa::Ca(BasicConstraints::Constrained(limit)),
            ),
            &root,
        );
        let below = issued(params("Below", ca()), &constrained);
        let leaf = issued(params("Leaf", IsCa::ExplicitNoCa), &below);
        assert_eq!(
            check(&[&leaf, &below, &constrained], &[&root]),
            expected,
            "pathLen {limit}"
        );
        // A leaf directly below the constrained CA is always fine.
        let direct = issued(params("Direct", IsCa::ExplicitNoCa), &constrained);
        assert_eq!(
            check(&[&direct, &constrained], &[&root]),
            Ok(ChainTrust::Anchored)
        );
    }
}

#[test]
fn chain_length_and_parse_limits() {
    let p = pki();
    assert_eq!(check(&[], &[&p.root]), Err(TrustError::Length));
    let nine: Vec<&Cert> = std::iter::repeat_n(&p.leaf, MAX_CHAIN_LEN + 1).collect();
    assert_eq!(check(&nine, &[&p.root]), Err(TrustError::Length));

    let mut trailing = p.intermediate.der.clone();
    trailing.push(0);
    let truncated = &p.intermediate.der[..p.intermediate.der.len() - 1];
    let oversized = vec![0x30; MAX_CERTIFICATE_LEN + 1];
    let bad: [&[u8]; 5] = [&trailing, truncated, &oversized, &[], b"not a certificate"];
    for der in bad {
        let x5c: [&[u8]; 2] = [&p.leaf.der, der];
        assert_eq!(
            check_der(&x5c, &anchors(&[&p.root]), NOW, true),
            Err(TrustError::Unparsable(1))
        );
    }
}

// --- algorithms -------------------------------------------------------------------------------

#[test]
fn chains_of_every_supported_key_type_verify() {
    let algs: [(&str, &'static SignatureAlgorithm); 4] = [
        ("P-256", &rcgen::PKCS_ECDSA_P256_SHA256),
        ("P-384", &rcgen::PKCS_ECDSA_P384_SHA384),
        ("P-521", &rcgen::PKCS_ECDSA_P521_SHA512),
        ("Ed25519", &rcgen::PKCS_ED25519),
    ];
    for (name, alg) in algs {
        let root = self_signed_with(params("Root", ca()), alg);
        let intermediate = issued_with(params("Intermediate", ca()), &root, alg);
        let leaf = issued(params("Leaf", IsCa::ExplicitNoCa), &intermediate);
        assert_eq!(
            check(&[&leaf, &intermediate], &[&root]),
            Ok(ChainTrust::Anchored),
            "{name}"
        );
    }
    // An RSA root issuing an EC intermediate.
    let key = KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048).unwrap();
    let root_params = params("RSA Root", ca());
    let der = root_params.self_signed(&key).unwrap().der().to_vec();
    let root = Cert {
        params: root_params,
        key,
        der,
    };
    let intermediate = issued(params("Intermediate", ca()), &root);
    let leaf = issued(params("Leaf", IsCa::ExplicitNoCa), &intermediate);
    assert_eq!(
        check(&[&leaf, &intermediate], &[&root]),
        Ok(ChainTrust::Anchored)
    );
}

// --- loading anchors --------------------------------------------------------------------------

#[test]
fn anchors_load_from_der_and_pem() {
    let p = pki();
    let mut anchors = TrustAnchors::new();
    assert!(anchors.is_empty());
    anchors.add_der(&p.root.der).unwrap();
    assert_eq!(anchors.len(), 1);
    let mut trailing = p.root.der.clone();
    trailing.push(0);
    assert_eq!(anchors.add_der(&trailing), Err(AnchorError::Certificate));
    assert_eq!(anchors.add_der(b"junk"), Err(AnchorError::Certificate));
    assert_eq!(anchors.add_pem("no pem here"), Err(AnchorError::Pem));
    assert_eq!(
        anchors.add_pem("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"),
        Err(AnchorError::Pem)
    );
    assert_eq!(anchors.len(), 1);

    // Every root shipped with the test vectors loads.
    let roots = [
        include_str!("../../tests/vectors/roots/apple_webauthn_root_ca.pem"),
        include_str!("../../tests/vectors/roots/globalsign_root_ca.pem"),
        include_str!("../../tests/vectors/roots/google_hardware_attestation_root_1.pem"),
        include_str!("../../tests/vectors/roots/microsoft_tpm_root_ca_2014.pem"),
        include_str!("../../tests/vectors/roots/w3c_webauthn_test_vectors_attestation_ca.pem"),
        include_str!("../../tests/vectors/roots/yubico_u2f_root_ca_serial_457200631.pem"),
    ];
    let mut loaded = TrustAnchors::new();
    for pem in roots {
        assert_eq!(loaded.add_pem(pem), Ok(1));
    }
    assert_eq!(loaded.len(), roots.len());
}
