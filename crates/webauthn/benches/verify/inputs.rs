//! Inputs: signed assertions and registrations made here, and corpus payloads decoded once.

use aws_lc_rs::digest;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    self, EcdsaKeyPair, KeyPair, RsaParameters, RsaPublicKeyComponents, UnparsedPublicKey,
    VerificationAlgorithm,
};
use ciborium::value::Value;
use passkeyd_webauthn::case::{parse_instant, Case, RunOptions};
use passkeyd_webauthn::crypto::KeyMaterial;
use passkeyd_webauthn::json::{
    base64url_decode, base64url_encode, AuthenticatorAssertionResponseJson,
    AuthenticatorAttestationResponseJson, Base64UrlBytes,
};
use passkeyd_webauthn::test_util::{AttestationCa, CertificateParams, Credential, TEST_AAGUID};
use passkeyd_webauthn::{
    verify_registration, AttestationPolicy, AuthenticationResponseJson, AuthenticatorFlags,
    CoseAlgorithm, CredentialPublicKey, ExpectedRegistration, RegistrationResponseJson,
    RelyingParty, StoredCredential, TrustAnchors, UnixTime, UserVerificationRequirement,
};

use crate::{N, NOW, ORIGIN, RP_ID};

pub(crate) fn sha256(data: &[u8]) -> [u8; 32] {
    let mut out = [0; 32];
    out.copy_from_slice(digest::digest(&digest::SHA256, data).as_ref());
    out
}

/// Distinct, reproducible bytes (challenges, credential IDs); the crate's lints keep the RNG out.
pub(crate) fn derived(label: &str, i: usize) -> [u8; 32] {
    sha256(format!("passkeyd bench {label} {i}").as_bytes())
}

pub(crate) fn cbor(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::ser::into_writer(value, &mut out).expect("in-memory CBOR encoding cannot fail");
    out
}

pub(crate) fn int(i: i64) -> Value {
    Value::Integer(i.into())
}

/// The CTAP2 canonical COSE_Key `{1: 2, 3: -7, -1: 1, -2: x, -3: y}` of an uncompressed P-256 point.
pub(crate) fn cose_es256(point: &[u8]) -> Vec<u8> {
    assert_eq!(point.len(), 65, "an uncompressed P-256 point");
    let (x, y) = point[1..].split_at(32);
    cbor(&Value::Map(vec![
        (int(1), int(2)),
        (int(3), int(-7)),
        (int(-1), int(1)),
        (int(-2), Value::Bytes(x.to_vec())),
        (int(-3), Value::Bytes(y.to_vec())),
    ]))
}

/// The SubjectPublicKeyInfo DER of an uncompressed P-256 point (id-ecPublicKey, prime256v1).
pub(crate) fn spki_es256(point: &[u8]) -> Vec<u8> {
    const PREFIX: [u8; 26] = [
        0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08,
        0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
    ];
    [&PREFIX[..], point].concat()
}

pub(crate) fn client_data_json(type_: &str, challenge: &[u8]) -> Vec<u8> {
    format!(
        r#"{{"type":"{type_}","challenge":"{}","origin":"{ORIGIN}","crossOrigin":false}}"#,
        base64url_encode(challenge)
    )
    .into_bytes()
}

/// 64 ES256 assertions by one credential, each over its own challenge with counter `i + 1`.
pub(crate) struct Es256Assertions {
    pub(crate) rp: RelyingParty,
    pub(crate) credential_id: Vec<u8>,
    pub(crate) user_handle: Vec<u8>,
    /// The stored credential key, COSE_Key bytes.
    pub(crate) cose_key: Vec<u8>,
    /// The same key as `0x04 || x || y`.
    pub(crate) point: Vec<u8>,
    pub(crate) challenges: Vec<Vec<u8>>,
    /// `authenticatorData || SHA-256(clientDataJSON)`.
    pub(crate) messages: Vec<Vec<u8>>,
    pub(crate) signatures: Vec<Vec<u8>>,
    pub(crate) responses: Vec<AuthenticationResponseJson>,
    /// `responses` as the request bodies the server receives.
    pub(crate) bodies: Vec<Vec<u8>>,
}

impl Es256Assertions {
    /// The credential ID every assertion names.
    pub(crate) fn credential_id() -> Vec<u8> {
        derived("credential", 0)[..16].to_vec()
    }

    /// One assertion per challenge, signed by `key`.
    pub(crate) fn new(key: &EcdsaKeyPair, challenges: &[Vec<u8>]) -> Self {
        let rng = SystemRandom::new();
        let point = key.public_key().as_ref().to_vec();
        let rp = RelyingParty::new(RP_ID, [ORIGIN]);
        let credential_id = Self::credential_id();
        let user_handle = derived("user", 0)[..16].to_vec();
        let mut set = Self {
            cose_key: cose_es256(&point),
            point,
            credential_id,
            user_handle,
            challenges: Vec::new(),
            messages: Vec::new(),
            signatures: Vec::new(),
            responses: Vec::new(),
            bodies: Vec::new(),
            rp,
        };
        for (i, challenge) in challenges.iter().enumerate() {
            let client_data = client_data_json("webauthn.get", challenge);
            let counter = u32::try_from(i + 1).expect("N fits in u32");
            let mut auth_data = set.rp.id_hash().to_vec();
            auth_data.push(0x05); // UP | UV
            auth_data.extend_from_slice(&counter.to_be_bytes());
            let message = [&auth_data[..], &sha256(&client_data)].concat();
            let sig = key
                .sign(&rng, &message)
                .expect("ECDSA signing")
                .as_ref()
                .to_vec();
            let response = AuthenticationResponseJson {
                id: base64url_encode(&set.credential_id),
                raw_id: Base64UrlBytes(set.credential_id.clone()),
                response: AuthenticatorAssertionResponseJson {
                    client_data_json: Base64UrlBytes(client_data),
                    authenticator_data: Base64UrlBytes(auth_data),
                    signature: Base64UrlBytes(sig.clone()),
                    user_handle: Some(Base64UrlBytes(set.user_handle.clone())),
                },
                authenticator_attachment: Some("platform".to_owned()),
                client_extension_results: serde_json::Map::new(),
                type_: "public-key".to_owned(),
            };
            set.bodies
                .push(serde_json::to_vec(&response).expect("serializing a response"));
            set.challenges.push(challenge.clone());
            set.messages.push(message);
            set.signatures.push(sig);
            set.responses.push(response);
        }
        set
    }

    pub(crate) fn stored(&self) -> StoredCredential<'_> {
        StoredCredential {
            credential_id: &self.credential_id,
            public_key: &self.cose_key,
            sign_count: 0,
            backup_eligible: false,
            user_handle: &self.user_handle,
        }
    }
}

/// A `none` registration of an ES256 key, as a minimal client sends it (no convenience copies).
pub(crate) fn none_registration(
    rp: &RelyingParty,
    point: &[u8],
    credential_id: &[u8],
    challenge: &[u8],
) -> RegistrationResponseJson {
    let mut auth_data = rp.id_hash().to_vec();
    auth_data.push(0x45); // UP | UV | AT
    auth_data.extend_from_slice(&0u32.to_be_bytes());
    auth_data.extend_from_slice(&[0; 16]); // AAGUID
    let id_len = u16::try_from(credential_id.len()).expect("a short credential ID");
    auth_data.extend_from_slice(&id_len.to_be_bytes());
    auth_data.extend_from_slice(credential_id);
    auth_data.extend_from_slice(&cose_es256(point));
    let attestation_object = cbor(&Value::Map(vec![
        (Value::Text("fmt".into()), Value::Text("none".into())),
        (Value::Text("attStmt".into()), Value::Map(Vec::new())),
        (Value::Text("authData".into()), Value::Bytes(auth_data)),
    ]));
    RegistrationResponseJson {
        id: base64url_encode(credential_id),
        raw_id: Base64UrlBytes(credential_id.to_vec()),
        response: AuthenticatorAttestationResponseJson {
            client_data_json: Base64UrlBytes(client_data_json("webauthn.create", challenge)),
            attestation_object: Base64UrlBytes(attestation_object),
            transports: vec!["hybrid".to_owned(), "internal".to_owned()],
            authenticator_data: None,
            public_key: None,
            public_key_algorithm: None,
        },
        authenticator_attachment: Some("platform".to_owned()),
        client_extension_results: serde_json::Map::new(),
        type_: "public-key".to_owned(),
    }
}

/// 64 `none` ES256 registrations, each with its own key, credential ID and challenge.
pub(crate) struct Es256Registrations {
    pub(crate) rp: RelyingParty,
    pub(crate) policy: AttestationPolicy,
    pub(crate) challenges: Vec<[u8; 32]>,
    /// As a minimal client sends them: no convenience copies.
    pub(crate) minimal: Vec<RegistrationResponseJson>,
    /// As `toJSON()` in browsers sends them: with `authenticatorData`, `publicKey` (SPKI) and
    /// `publicKeyAlgorithm`, which the verifier cross-checks.
    pub(crate) browser: Vec<RegistrationResponseJson>,
}

impl Es256Registrations {
    pub(crate) fn new() -> Self {
        let rp = RelyingParty::new(RP_ID, [ORIGIN]);
        let mut set = Self {
            policy: AttestationPolicy::default(),
            challenges: Vec::new(),
            minimal: Vec::new(),
            browser: Vec::new(),
            rp,
        };
        for i in 0..N {
            let key = EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_ASN1_SIGNING)
                .expect("P-256 key generation");
            let point = key.public_key().as_ref();
            let challenge = derived("registration challenge", i);
            let credential_id = derived("registration credential", i)[..16].to_vec();
            let minimal = none_registration(&set.rp, point, &credential_id, &challenge);
            let attestation_object = &minimal.response.attestation_object.0;
            let auth_data = match ciborium::de::from_reader(&attestation_object[..]) {
                Ok(Value::Map(entries)) => entries
                    .into_iter()
                    .find_map(|(k, v)| match (k, v) {
                        (Value::Text(k), Value::Bytes(v)) if k == "authData" => Some(v),
                        _ => None,
                    })
                    .expect("authData in the attestation object"),
                _ => panic!("the attestation object is a map"),
            };
            let mut browser = minimal.clone();
            browser.response.authenticator_data = Some(Base64UrlBytes(auth_data));
            browser.response.public_key = Some(Base64UrlBytes(spki_es256(point)));
            browser.response.public_key_algorithm = Some(-7);
            set.challenges.push(challenge);
            set.minimal.push(minimal);
            set.browser.push(browser);
        }
        set
    }

    pub(crate) fn expected(&self) -> Vec<ExpectedRegistration<'_>> {
        self.challenges
            .iter()
            .map(|c| ExpectedRegistration::new(&self.rp, c, &self.policy))
            .collect()
    }
}

/// The raw signature check for a key, as a caller holding the key material would do it.
pub(crate) enum RawKey {
    Unparsed(&'static dyn VerificationAlgorithm, Vec<u8>),
    Rsa(&'static RsaParameters, Vec<u8>, Vec<u8>),
}

impl RawKey {
    pub(crate) fn new(key: &CredentialPublicKey) -> Self {
        let alg: &'static dyn VerificationAlgorithm = match key.algorithm() {
            CoseAlgorithm::Es256 => &signature::ECDSA_P256_SHA256_ASN1,
            CoseAlgorithm::Es384 => &signature::ECDSA_P384_SHA384_ASN1,
            CoseAlgorithm::Es512 => &signature::ECDSA_P521_SHA512_ASN1,
            CoseAlgorithm::EdDsa => &signature::ED25519,
            CoseAlgorithm::MlDsa44 => &signature::ML_DSA_44,
            CoseAlgorithm::MlDsa65 => &signature::ML_DSA_65,
            CoseAlgorithm::MlDsa87 => &signature::ML_DSA_87,
            rsa => {
                let params: &'static RsaParameters = match rsa {
                    CoseAlgorithm::Rs256 => &signature::RSA_PKCS1_2048_8192_SHA256,
                    CoseAlgorithm::Rs384 => &signature::RSA_PKCS1_2048_8192_SHA384,
                    CoseAlgorithm::Rs512 => &signature::RSA_PKCS1_2048_8192_SHA512,
                    CoseAlgorithm::Ps256 => &signature::RSA_PSS_2048_8192_SHA256,
                    CoseAlgorithm::Ps384 => &signature::RSA_PSS_2048_8192_SHA384,
                    CoseAlgorithm::Ps512 => &signature::RSA_PSS_2048_8192_SHA512,
                    other => panic!("no raw baseline for {other}"),
                };
                let KeyMaterial::Rsa { n, e } = key.material() else {
                    panic!("an RSA algorithm has an RSA key");
                };
                return Self::Rsa(params, n.clone(), e.clone());
            }
        };
        let bytes = match key.material() {
            KeyMaterial::Ec2 { .. } => key.material().ec_point().expect("an EC key"),
            KeyMaterial::Ed25519(x) => x.clone(),
            KeyMaterial::MlDsa(_, public) => public.clone(),
            KeyMaterial::Rsa { .. } => panic!("RSA keys are handled above"),
        };
        Self::Unparsed(alg, bytes)
    }

    pub(crate) fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        match self {
            Self::Unparsed(alg, bytes) => UnparsedPublicKey::new(*alg, bytes)
                .verify(message, signature)
                .is_ok(),
            Self::Rsa(params, n, e) => RsaPublicKeyComponents { n, e }
                .verify(params, message, signature)
                .is_ok(),
        }
    }
}

/// One assertion with everything `verify_authentication` needs, decoded once: a corpus payload
/// ([`Self::from_case`]) or one the software authenticator signs ([`Self::generated`]).
pub(crate) struct AlgorithmAssertion {
    pub(crate) rp: RelyingParty,
    pub(crate) challenge: Vec<u8>,
    pub(crate) response: AuthenticationResponseJson,
    pub(crate) user_verification: UserVerificationRequirement,
    pub(crate) prior_sign_count: u32,
    pub(crate) backup_eligible: bool,
    pub(crate) public_key: Vec<u8>,
    pub(crate) user_handle: Vec<u8>,
    pub(crate) raw: RawKey,
    /// `authenticatorData || SHA-256(clientDataJSON)`.
    pub(crate) message: Vec<u8>,
}

impl AlgorithmAssertion {
    /// A corpus authentication case.
    pub(crate) fn from_case(name: &str, json: &[u8]) -> Self {
        let case = Case::from_json(json).expect("a ceremony case");
        let report = case.run(NOW).expect("the case runs");
        assert!(report.ok, "{name} must verify: {report:?}");
        let origins: Vec<String> = case.origin.iter().chain(&case.origins).cloned().collect();
        let mut rp = RelyingParty::new(case.rp_id.clone(), origins);
        if case.allow_cross_origin {
            rp = rp.allow_cross_origin(case.top_origins.clone());
        }
        let body = serde_json::to_vec(&case.response).expect("re-serializing the response");
        let response = AuthenticationResponseJson::from_json(&body).expect("a response");
        let public_key = case
            .credential_public_key
            .as_ref()
            .expect("authentication cases carry the stored key")
            .0
            .clone();
        let user_handle = case
            .user_handle
            .as_ref()
            .or(response.response.user_handle.as_ref())
            .map(|h| h.0.clone())
            .unwrap_or_default();
        let flags = response.response.authenticator_data.0[32];
        Self::finish(
            name,
            Self {
                challenge: base64url_decode(&case.challenge).expect("a base64url challenge"),
                rp,
                user_verification: case.user_verification,
                prior_sign_count: case.prior_sign_count,
                backup_eligible: case
                    .stored_backup_eligible
                    .unwrap_or(flags & AuthenticatorFlags::BACKUP_ELIGIBLE != 0),
                response,
                public_key,
                user_handle,
                raw: RawKey::Unparsed(&signature::ED25519, Vec::new()),
                message: Vec::new(),
            },
        )
    }

    /// A fresh credential of `algorithm` signs one assertion (for algorithms the corpus lacks).
    pub(crate) fn generated(name: &str, algorithm: CoseAlgorithm) -> Self {
        let credential = Credential::new(algorithm, RP_ID);
        let challenge = derived("algorithm challenge", 0).to_vec();
        let response = credential
            .assert(&challenge, ORIGIN)
            .sign_count(1)
            .build()
            .to_response();
        Self::finish(
            name,
            Self {
                rp: RelyingParty::new(RP_ID, [ORIGIN]),
                challenge,
                response,
                user_verification: UserVerificationRequirement::Preferred,
                prior_sign_count: 0,
                backup_eligible: credential.backup_eligible,
                public_key: credential.cose_key(),
                user_handle: credential.user_handle.clone(),
                raw: RawKey::Unparsed(&signature::ED25519, Vec::new()),
                message: Vec::new(),
            },
        )
    }

    /// Sets the raw baseline from the stored key and checks that it verifies.
    fn finish(name: &str, mut assertion: Self) -> Self {
        let key = CredentialPublicKey::from_cose(&assertion.public_key).expect("a valid key");
        let response = &assertion.response.response;
        assertion.message = [
            &response.authenticator_data.0[..],
            &sha256(&response.client_data_json.0),
        ]
        .concat();
        assertion.raw = RawKey::new(&key);
        assert!(
            assertion
                .raw
                .verify(&assertion.message, &response.signature.0),
            "{name}: raw baseline must verify"
        );
        assertion
    }

    pub(crate) fn stored(&self) -> StoredCredential<'_> {
        StoredCredential {
            credential_id: &self.response.raw_id.0,
            public_key: &self.public_key,
            sign_count: self.prior_sign_count,
            backup_eligible: self.backup_eligible,
            user_handle: &self.user_handle,
        }
    }
}

/// One registration with everything `verify_registration` needs, decoded once: a corpus payload
/// ([`Self::from_case`]) or one the software authenticator makes ([`Self::generated`]).
pub(crate) struct OneRegistration {
    pub(crate) rp: RelyingParty,
    pub(crate) challenge: Vec<u8>,
    pub(crate) response: RegistrationResponseJson,
    pub(crate) policy: AttestationPolicy,
    pub(crate) algorithms: Vec<CoseAlgorithm>,
    pub(crate) user_verification: UserVerificationRequirement,
    pub(crate) require_user_presence: bool,
    pub(crate) now: UnixTime,
}

/// The attestation a generated registration carries.
#[derive(Clone, Copy)]
pub(crate) enum Attestation {
    None,
    PackedSelf,
    /// `packed` with `x5c = [leaf]`, the leaf issued by a CA the policy trusts.
    PackedX5c,
    /// `fido-u2f`, its certificate issued by a CA the policy trusts.
    FidoU2f,
}

impl OneRegistration {
    /// A corpus registration case, with the policy `passkeyd verify --allow-legacy` would build
    /// for it (`android-safetynet` is opt-in).
    pub(crate) fn from_case(name: &str, json: &[u8]) -> Self {
        let case = Case::from_json(json).expect("a ceremony case");
        let mut options = RunOptions::new(NOW);
        options.allow_legacy_formats = true;
        let report = case.run_with(&options).expect("the case runs");
        assert!(report.ok, "{name} must verify: {report:?}");
        let skips = |check: &str| case.skip_checks.iter().any(|c| c == check);
        let mut anchors = TrustAnchors::new();
        for pem in &case.trust_roots {
            anchors.add_pem(pem).expect("the case's trust roots parse");
        }
        let policy = AttestationPolicy {
            require_trusted_chain: !anchors.is_empty(),
            trust_anchors: anchors,
            check_certificate_validity: !skips("certificate_validity_period"),
            allow_legacy_formats: true,
            safetynet_require_cts_profile_match: !skips("safetynet_cts_profile_match"),
            safetynet_max_age_secs: if skips("safetynet_timestamp_freshness") {
                None
            } else {
                AttestationPolicy::default().safetynet_max_age_secs
            },
            ..AttestationPolicy::default()
        };
        let origins: Vec<String> = case.origin.iter().chain(&case.origins).cloned().collect();
        let mut rp =
            RelyingParty::new(case.rp_id.clone(), origins).allow_subdomains(case.allow_subdomains);
        if case.allow_cross_origin {
            rp = rp.allow_cross_origin(case.top_origins.clone());
        }
        let body = serde_json::to_vec(&case.response).expect("re-serializing the response");
        let algorithms = match &case.allowed_algorithms {
            None => CoseAlgorithm::DEFAULT.to_vec(),
            Some(ids) => ids
                .iter()
                .map(|id| CoseAlgorithm::from_i64(*id).expect("a known algorithm"))
                .collect(),
        };
        let registration = Self {
            rp,
            challenge: base64url_decode(&case.challenge).expect("a base64url challenge"),
            response: RegistrationResponseJson::from_json(&body).expect("a response"),
            policy,
            algorithms,
            user_verification: case.user_verification,
            require_user_presence: case.require_user_presence,
            now: case
                .verify_at
                .as_deref()
                .map_or(NOW, |at| parse_instant(at).expect("an RFC 3339 verify_at")),
        };
        assert!(registration.verify(), "{name} must verify as benchmarked");
        registration
    }

    /// A registration the software authenticator makes with a fresh `algorithm` key.
    pub(crate) fn generated(
        name: &str,
        algorithm: CoseAlgorithm,
        attestation: Attestation,
    ) -> Self {
        let credential = Credential::new(algorithm, RP_ID);
        let challenge = derived(&format!("registration {name}"), 0).to_vec();
        let ca = AttestationCa::generate("passkeyd bench attestation CA");
        let mut policy = AttestationPolicy::default();
        let builder = credential.register(&challenge, ORIGIN);
        let response = match attestation {
            Attestation::None => builder.build(),
            Attestation::PackedSelf => builder.packed_self().build(),
            Attestation::PackedX5c | Attestation::FidoU2f => {
                policy
                    .trust_anchors
                    .add_der(ca.der())
                    .expect("the CA certificate is a valid anchor");
                policy.require_trusted_chain = true;
                let leaf = if matches!(attestation, Attestation::FidoU2f) {
                    ca.issue(&CertificateParams::fido_u2f())
                } else {
                    ca.issue(&CertificateParams::packed(TEST_AAGUID))
                };
                let builder = if matches!(attestation, Attestation::FidoU2f) {
                    builder.fido_u2f(&leaf)
                } else {
                    builder.packed_x5c(&leaf, Vec::new())
                };
                builder.build()
            }
        };
        let registration = Self {
            rp: RelyingParty::new(RP_ID, [ORIGIN]),
            challenge,
            response: response.to_response(),
            policy,
            algorithms: CoseAlgorithm::DEFAULT.to_vec(),
            user_verification: UserVerificationRequirement::Preferred,
            require_user_presence: true,
            now: NOW,
        };
        assert!(registration.verify(), "{name} must verify as benchmarked");
        registration
    }

    pub(crate) fn expected(&self) -> ExpectedRegistration<'_> {
        ExpectedRegistration {
            user_verification: self.user_verification,
            require_user_presence: self.require_user_presence,
            algorithms: &self.algorithms,
            ..ExpectedRegistration::new(&self.rp, &self.challenge, &self.policy)
        }
    }

    pub(crate) fn verify(&self) -> bool {
        verify_registration(&self.response, &self.expected(), self.now).is_ok()
    }
}
