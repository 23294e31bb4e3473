//! Attestation certificates made on the spot: a test root CA and the leaf certificates it issues,
//! ECDSA only, written with the small DER encoder in `der`.

use std::fmt;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, EcdsaSigningAlgorithm, KeyPair as _};
use base64::Engine as _;

use super::{der, random_bytes};
use crate::authenticator_data::Aaguid;
use crate::cose_key::CoseAlgorithm;
use crate::crypto::Curve;
use crate::trust::UnixTime;

/// An attribute of a certificate subject or issuer name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameAttribute {
    /// `CN` (2.5.4.3).
    CommonName,
    /// `C` (2.5.4.6), a PrintableString.
    Country,
    /// `O` (2.5.4.10).
    Organization,
    /// `OU` (2.5.4.11).
    OrganizationalUnit,
}

/// What a certificate made by [`AttestationCa::issue`] says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateParams {
    /// The subject name, in order.
    pub subject: Vec<(NameAttribute, String)>,
    /// Start of validity.
    pub not_before: UnixTime,
    /// End of validity.
    pub not_after: UnixTime,
    /// `BasicConstraints`: `None` leaves the extension out, `Some(ca)` sets CA.
    pub ca: Option<bool>,
    /// The `id-fido-gen-ce-aaguid` extension, if any.
    pub aaguid: Option<Aaguid>,
    /// Whether that extension is marked critical.
    pub aaguid_critical: bool,
    /// The certificate key's curve.
    pub curve: Curve,
}

/// 2025-01-01T00:00:00Z, the default start of certificate validity.
pub const CERTIFICATE_NOT_BEFORE: UnixTime = UnixTime(1_735_689_600);
/// 2045-01-01T00:00:00Z, the default end of certificate validity.
pub const CERTIFICATE_NOT_AFTER: UnixTime = UnixTime(2_366_841_600);

impl CertificateParams {
    /// A packed attestation leaf as L3 §8.2.1 requires: subject C, O, OU = "Authenticator
    /// Attestation", CN; CA=false; the AAGUID extension; P-256.
    pub fn packed(aaguid: Aaguid) -> Self {
        Self {
            subject: vec![
                (NameAttribute::Country, "US".into()),
                (
                    NameAttribute::Organization,
                    "passkeyd test authenticators".into(),
                ),
                (
                    NameAttribute::OrganizationalUnit,
                    "Authenticator Attestation".into(),
                ),
                (NameAttribute::CommonName, "passkeyd test batch key".into()),
            ],
            not_before: CERTIFICATE_NOT_BEFORE,
            not_after: CERTIFICATE_NOT_AFTER,
            ca: Some(false),
            aaguid: Some(aaguid),
            aaguid_critical: false,
            curve: Curve::P256,
        }
    }

    /// A U2F attestation certificate: a CN, no extensions, P-256.
    pub fn fido_u2f() -> Self {
        Self {
            subject: vec![(NameAttribute::CommonName, "passkeyd test U2F key".into())],
            ca: None,
            aaguid: None,
            ..Self::packed(Aaguid::default())
        }
    }
}

fn ecdsa_signing(curve: Curve) -> (&'static EcdsaSigningAlgorithm, CoseAlgorithm) {
    match curve {
        Curve::P256 => (
            &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
            CoseAlgorithm::Es256,
        ),
        Curve::P384 => (
            &signature::ECDSA_P384_SHA384_ASN1_SIGNING,
            CoseAlgorithm::Es384,
        ),
        Curve::P521 => (
            &signature::ECDSA_P521_SHA512_ASN1_SIGNING,
            CoseAlgorithm::Es512,
        ),
    }
}

/// An ECDSA key with the certificate that names it.
struct CertifiedKey {
    key: EcdsaKeyPair,
    curve: Curve,
    der: Vec<u8>,
    subject: Vec<u8>,
}

impl CertifiedKey {
    fn generate(curve: Curve) -> EcdsaKeyPair {
        EcdsaKeyPair::generate(ecdsa_signing(curve).0).expect("aws-lc-rs key generation failed")
    }

    fn sign(&self, message: &[u8]) -> Vec<u8> {
        self.key
            .sign(&SystemRandom::new(), message)
            .expect("aws-lc-rs signing failed")
            .as_ref()
            .to_vec()
    }

    /// Makes a certificate for `key` with `params`, issued (signed) by `issuer`, or self-signed.
    fn certify(
        key: EcdsaKeyPair,
        params: &CertificateParams,
        issuer: Option<&CertifiedKey>,
    ) -> Self {
        let subject = der::name(&params.subject);
        let spki = key
            .public_key()
            .as_der()
            .expect("aws-lc-rs encodes its public keys");
        let mut extensions = Vec::new();
        if let Some(ca) = params.ca {
            let value = if ca {
                der::seq(&[&der::tlv(0x01, &[0xff])])
            } else {
                der::seq(&[])
            };
            extensions.push(der::extension(&[2, 5, 29, 19], true, &value));
        }
        if let Some(aaguid) = params.aaguid {
            extensions.push(der::extension(
                &[1, 3, 6, 1, 4, 1, 45724, 1, 1, 4],
                params.aaguid_critical,
                &der::tlv(0x04, &aaguid.0),
            ));
        }
        let (issuer_name, issuer_curve) = match issuer {
            Some(issuer) => (issuer.subject.clone(), issuer.curve),
            None => (subject.clone(), params.curve),
        };
        let signature_algorithm = der::seq(&[&der::oid(match issuer_curve {
            Curve::P256 => &[1, 2, 840, 10045, 4, 3, 2],
            Curve::P384 => &[1, 2, 840, 10045, 4, 3, 3],
            Curve::P521 => &[1, 2, 840, 10045, 4, 3, 4],
        })]);
        let mut serial = random_bytes(16);
        serial[0] &= 0x7f;
        serial[0] |= 0x01;
        let extension_refs: Vec<&[u8]> = extensions.iter().map(Vec::as_slice).collect();
        let mut tbs_parts: Vec<Vec<u8>> = vec![
            der::tlv(0xa0, &der::uint(&[2])),
            der::uint(&serial),
            signature_algorithm.clone(),
            issuer_name,
            der::seq(&[&der::time(params.not_before), &der::time(params.not_after)]),
            subject.clone(),
            spki.as_ref().to_vec(),
        ];
        if !extensions.is_empty() {
            tbs_parts.push(der::tlv(0xa3, &der::seq(&extension_refs)));
        }
        let tbs_refs: Vec<&[u8]> = tbs_parts.iter().map(Vec::as_slice).collect();
        let tbs = der::seq(&tbs_refs);
        let signature = match issuer {
            Some(issuer) => issuer.sign(&tbs),
            None => key
                .sign(&SystemRandom::new(), &tbs)
                .expect("aws-lc-rs signing failed")
                .as_ref()
                .to_vec(),
        };
        let mut bits = vec![0x00];
        bits.extend_from_slice(&signature);
        let der = der::seq(&[&tbs, &signature_algorithm, &der::tlv(0x03, &bits)]);
        Self {
            key,
            curve: params.curve,
            der,
            subject,
        }
    }
}

/// A test attestation root CA (ECDSA P-256, self-signed, CA=true).
pub struct AttestationCa {
    inner: CertifiedKey,
}

impl fmt::Debug for AttestationCa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AttestationCa").finish_non_exhaustive()
    }
}

impl AttestationCa {
    /// A new root CA with subject `CN=<common_name>`, valid 2025 to 2045.
    pub fn generate(common_name: &str) -> Self {
        let params = CertificateParams {
            subject: vec![
                (NameAttribute::Country, "US".into()),
                (NameAttribute::Organization, "passkeyd test".into()),
                (NameAttribute::CommonName, common_name.into()),
            ],
            ca: Some(true),
            aaguid: None,
            ..CertificateParams::packed(Aaguid::default())
        };
        let key = CertifiedKey::generate(Curve::P256);
        Self {
            inner: CertifiedKey::certify(key, &params, None),
        }
    }

    /// The root certificate, DER.
    pub fn der(&self) -> &[u8] {
        &self.inner.der
    }

    /// The root certificate, PEM (for `trust_roots` and [`crate::TrustAnchors::add_pem`]).
    pub fn pem(&self) -> String {
        pem(&self.inner.der)
    }

    /// Issues an attestation certificate with a fresh key.
    pub fn issue(&self, params: &CertificateParams) -> AttestationCertificate {
        AttestationCertificate::new(params, Some(&self.inner))
    }
}

/// The PEM text of a DER certificate.
pub fn pem(der: &[u8]) -> String {
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in body.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

/// An attestation key with its certificate: a packed batch key or a U2F device key.
pub struct AttestationCertificate {
    inner: CertifiedKey,
    der: Vec<u8>,
    algorithm: CoseAlgorithm,
}

impl fmt::Debug for AttestationCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AttestationCertificate")
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

impl AttestationCertificate {
    fn new(params: &CertificateParams, issuer: Option<&CertifiedKey>) -> Self {
        let key = CertifiedKey::generate(params.curve);
        let inner = CertifiedKey::certify(key, params, issuer);
        Self {
            der: inner.der.clone(),
            algorithm: ecdsa_signing(params.curve).1,
            inner,
        }
    }

    /// A self-signed attestation certificate (not issued by any CA).
    pub fn self_signed(params: &CertificateParams) -> Self {
        Self::new(params, None)
    }

    /// The certificate, DER.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The certificate, PEM.
    pub fn pem(&self) -> String {
        pem(&self.der)
    }

    /// The COSE algorithm the key signs statements with (ES256 for P-256...).
    pub fn algorithm(&self) -> CoseAlgorithm {
        self.algorithm
    }

    /// Signs `message` with the certificate's key (DER ECDSA).
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        self.inner.sign(message)
    }
}
