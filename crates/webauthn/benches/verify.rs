//! Verification throughput, measured against the bare signature check it is built around.
//!
//! Run with `cargo bench -p passkeyd-webauthn --bench verify`. One run measures:
//!
//! 1. `es256_auth_x64/raw_unparsed`: aws-lc-rs `UnparsedPublicKey::verify` (ECDSA P-256, DER) of 64
//!    distinct `authenticatorData || SHA-256(clientDataJSON)` messages, the floor any verifier
//!    holding a stored key pays. `raw_parsed` reuses one `ParsedPublicKey`, for information.
//! 2. `es256_auth_x64/passkeyd_verify`: [`verify_authentication`] on the same 64 assertions,
//!    already deserialized; `passkeyd_from_json_verify` also parses each request body, as the
//!    server does.
//! 3. `es256_registration_none_x64`: [`verify_registration`] of 64 `none` ES256 registrations,
//!    with and without the convenience copies browsers add in `toJSON()`.
//! 4. `auth_by_algorithm`: one corpus assertion per algorithm, raw check and passkeyd.
//!
//! Every input is built and verified once before timing, so no error path is ever measured. After
//! the groups, a summary prints throughput and the passkeyd / raw ratios, computed from the very
//! samples criterion took in this run (the same slope estimate criterion reports as "time").
//!
//! Criterion measures one benchmark after another, so on a shared machine a change of load between
//! two of them skews their ratio. Each group therefore ends with a few seconds of interleaved
//! timing (the variants call by call, in turn) and the summary also gives those: the fastest round
//! (what an idle machine gives) and the median of the per-round ratios. When the machine is busy,
//! judge the ratios by those. For a deterministic count, run one benchmark under callgrind:
//! `valgrind --tool=callgrind --toggle-collect='verify::time_iters*' target/release/deps/verify-*
//! --bench --profile-time 1 'es256_auth_x64/passkeyd_verify$'`.

use std::cell::RefCell;
use std::hint::black_box;
use std::time::{Duration, Instant};

use aws_lc_rs::digest;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    self, EcdsaKeyPair, KeyPair, ParsedPublicKey, RsaParameters, RsaPublicKeyComponents,
    UnparsedPublicKey, VerificationAlgorithm,
};
use ciborium::value::Value;
use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, Throughput};
use passkeyd_webauthn::case::Case;
use passkeyd_webauthn::crypto::KeyMaterial;
use passkeyd_webauthn::json::{
    base64url_decode, base64url_encode, AuthenticatorAssertionResponseJson,
    AuthenticatorAttestationResponseJson, Base64UrlBytes,
};
use passkeyd_webauthn::{
    verify_authentication, verify_registration, AttestationPolicy, AuthenticationResponseJson,
    CoseAlgorithm, CredentialPublicKey, ExpectedAuthentication, ExpectedRegistration,
    RegistrationResponseJson, RelyingParty, StoredCredential, UnixTime, UserIdentification,
};

/// Assertions (and registrations) per batch.
const N: usize = 64;
const RP_ID: &str = "example.com";
const ORIGIN: &str = "https://example.com";
/// 2026-11-23T00:00:00Z, as in the vector tests.
const NOW: UnixTime = UnixTime(1_795_392_000);
/// `passkeyd_verify` time over `raw_unparsed` time that the full ceremony check should stay under.
const GOAL_RATIO: f64 = 1.25;
/// Registrations per second wanted for `none` ES256.
const GOAL_REGISTRATIONS_PER_SEC: f64 = 200_000.0;

/// The corpus assertions benchmarked per algorithm.
const ALGORITHM_VECTORS: [(&str, &[u8]); 7] = [
    (
        "es384",
        include_bytes!("../tests/vectors/w3c_spec_vectors/auth_packed_es384.json"),
    ),
    (
        "es512",
        include_bytes!("../tests/vectors/w3c_spec_vectors/auth_packed_es512.json"),
    ),
    (
        "eddsa",
        include_bytes!("../tests/vectors/w3c_spec_vectors/auth_packed_eddsa.json"),
    ),
    (
        "rs256",
        include_bytes!("../tests/vectors/w3c_spec_vectors/auth_packed_rs256.json"),
    ),
    (
        "ml_dsa_44",
        include_bytes!("../tests/vectors/py_webauthn/auth_ml_dsa_44.json"),
    ),
    (
        "ml_dsa_65",
        include_bytes!("../tests/vectors/py_webauthn/auth_ml_dsa_65.json"),
    ),
    (
        "ml_dsa_87",
        include_bytes!("../tests/vectors/py_webauthn/auth_ml_dsa_87.json"),
    ),
];

// ---------------------------------------------------------------------------------------------
// Timing: criterion drives the iterations; every sample is also kept here for the summary.

#[expect(
    clippy::disallowed_methods,
    reason = "the bench measures wall time; the crate under test never reads a clock"
)]
fn now() -> Instant {
    Instant::now()
}

/// The wall time of `iters` calls of `routine`. Never inlined, so that profilers see every timed
/// region as one frame (`valgrind --tool=callgrind --toggle-collect='verify::time_iters*'`).
#[inline(never)]
fn time_iters<R>(iters: u64, routine: &mut impl FnMut() -> R) -> Duration {
    let start = now();
    for _ in 0..iters {
        black_box(routine());
    }
    start.elapsed()
}

/// One benchmark's samples: `(iterations, elapsed)` for every call criterion made, warm-up first.
struct Samples {
    id: String,
    items: u64,
    sample_size: usize,
    calls: Vec<(u64, Duration)>,
}

/// Variants timed call by call in turn (see [`interleave`]): nanoseconds per item, one row per
/// variant, one column per round.
struct Interleaved {
    label: String,
    names: Vec<&'static str>,
    rounds: Vec<Vec<f64>>,
}

impl Interleaved {
    fn row(&self, name: &str) -> Option<&[f64]> {
        let index = self.names.iter().position(|n| *n == name)?;
        Some(&self.rounds[index])
    }

    /// `name` against `base`, round by round.
    fn paired(&self, name: &str, base: &str) -> Option<Paired> {
        let (row, base) = (self.row(name)?, self.row(base)?);
        let mut ratios: Vec<f64> = row.iter().zip(base).map(|(v, b)| v / b).collect();
        Some(Paired {
            rounds: row.len(),
            min: min(row),
            median: median(&mut row.to_vec()),
            median_ratio: median(&mut ratios),
            min_ratio: min(row) / min(base),
        })
    }
}

/// One variant of an [`Interleaved`] measurement against its baseline.
struct Paired {
    rounds: usize,
    /// The fastest round: the one least disturbed by other work on the machine.
    min: f64,
    median: f64,
    /// The median over rounds of (this variant / the baseline in the same round).
    median_ratio: f64,
    min_ratio: f64,
}

#[derive(Default)]
struct Results {
    samples: RefCell<Vec<Samples>>,
    interleaved: RefCell<Vec<Interleaved>>,
    /// A measuring run (not `--test`, `--list` or `--profile-time`).
    measuring: bool,
}

impl Results {
    fn record(&self, id: &str, items: u64, sample_size: usize, iters: u64, elapsed: Duration) {
        let mut all = self.samples.borrow_mut();
        let index = match all.iter().position(|s| s.id == id) {
            Some(index) => index,
            None => {
                all.push(Samples {
                    id: id.to_owned(),
                    items,
                    sample_size,
                    calls: Vec::new(),
                });
                all.len() - 1
            }
        };
        all[index].calls.push((iters, elapsed));
    }

    /// Nanoseconds per item: the least-squares slope through the origin of the measurement
    /// samples (criterion calls the routine for the warm-up first, then once per sample), which is
    /// criterion's own point estimate under linear sampling and the mean under flat sampling.
    fn ns_per_item(&self, id: &str) -> Option<f64> {
        let all = self.samples.borrow();
        let samples = all.iter().find(|s| s.id == id)?;
        let skip = samples.calls.len().saturating_sub(samples.sample_size);
        let (xy, xx) =
            samples.calls[skip..]
                .iter()
                .fold((0.0, 0.0), |(xy, xx), (iters, elapsed)| {
                    let x = *iters as f64;
                    (xy + x * elapsed.as_nanos() as f64, xx + x * x)
                });
        (xx > 0.0).then(|| xy / xx / samples.items as f64)
    }

    fn ids(&self) -> Vec<String> {
        self.samples.borrow().iter().map(|s| s.id.clone()).collect()
    }

    /// Whether criterion measured every one of `ids` (they were not filtered out).
    fn measured(&self, ids: &[String]) -> bool {
        self.measuring && ids.iter().all(|id| self.ns_per_item(id).is_some())
    }

    fn paired(&self, label: &str, name: &str, base: &str) -> Option<Paired> {
        let all = self.interleaved.borrow();
        all.iter().find(|i| i.label == label)?.paired(name, base)
    }
}

/// Times one call of each routine in turn, rotating which goes first, until `budget` has passed.
/// Criterion measures one benchmark after another, so on a shared machine a change of load
/// between them skews their ratio; here every round compares the variants under the same load.
fn interleave<R>(
    label: &str,
    routines: &mut [(&'static str, &mut dyn FnMut() -> R)],
    items: u64,
    budget: Duration,
) -> Interleaved {
    let mut rounds = vec![Vec::new(); routines.len()];
    let start = now();
    let mut round = 0;
    while round < 10 || (start.elapsed() < budget && round < 100_000) {
        for k in 0..routines.len() {
            let index = (round + k) % routines.len();
            let routine = &mut routines[index].1;
            let elapsed = time_iters(1, &mut || routine());
            rounds[index].push(elapsed.as_nanos() as f64 / items as f64);
        }
        round += 1;
    }
    Interleaved {
        label: label.to_owned(),
        names: routines.iter().map(|(name, _)| *name).collect(),
        rounds,
    }
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn min(values: &[f64]) -> f64 {
    values.iter().copied().fold(f64::INFINITY, f64::min)
}

/// A criterion group whose benchmarks also report to [`Results`].
struct Group<'c, 'r> {
    inner: BenchmarkGroup<'c, WallTime>,
    name: &'static str,
    sample_size: usize,
    results: &'r Results,
}

impl<'c, 'r> Group<'c, 'r> {
    fn new(
        criterion: &'c mut Criterion,
        results: &'r Results,
        name: &'static str,
        sample_size: usize,
        warm_up: Duration,
        measurement: Duration,
    ) -> Self {
        let mut inner = criterion.benchmark_group(name);
        inner
            .sample_size(sample_size)
            .warm_up_time(warm_up)
            .measurement_time(measurement);
        Self {
            inner,
            name,
            sample_size,
            results,
        }
    }

    /// Benchmarks `routine`, which handles `items` assertions (or registrations) per call.
    fn bench<R>(&mut self, name: &str, items: u64, mut routine: impl FnMut() -> R) {
        let id = format!("{}/{name}", self.name);
        let (results, sample_size) = (self.results, self.sample_size);
        self.inner.throughput(Throughput::Elements(items));
        self.inner.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let elapsed = time_iters(iters, &mut routine);
                results.record(&id, items, sample_size, iters, elapsed);
                elapsed
            });
        });
    }

    fn finish(self) {
        self.inner.finish();
    }
}

// ---------------------------------------------------------------------------------------------
// Inputs.

fn sha256(data: &[u8]) -> [u8; 32] {
    let mut out = [0; 32];
    out.copy_from_slice(digest::digest(&digest::SHA256, data).as_ref());
    out
}

/// Distinct, reproducible bytes (challenges, credential IDs); the crate's lints keep the RNG out.
fn derived(label: &str, i: usize) -> [u8; 32] {
    sha256(format!("passkeyd bench {label} {i}").as_bytes())
}

fn cbor(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::ser::into_writer(value, &mut out).expect("in-memory CBOR encoding cannot fail");
    out
}

fn int(i: i64) -> Value {
    Value::Integer(i.into())
}

/// The CTAP2 canonical COSE_Key `{1: 2, 3: -7, -1: 1, -2: x, -3: y}` of an uncompressed P-256 point.
fn cose_es256(point: &[u8]) -> Vec<u8> {
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
fn spki_es256(point: &[u8]) -> Vec<u8> {
    const PREFIX: [u8; 26] = [
        0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08,
        0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
    ];
    [&PREFIX[..], point].concat()
}

fn client_data_json(type_: &str, challenge: &[u8]) -> Vec<u8> {
    format!(
        r#"{{"type":"{type_}","challenge":"{}","origin":"{ORIGIN}","crossOrigin":false}}"#,
        base64url_encode(challenge)
    )
    .into_bytes()
}

/// 64 ES256 assertions by one credential, each over its own challenge with counter `i + 1`.
struct Es256Assertions {
    rp: RelyingParty,
    credential_id: Vec<u8>,
    user_handle: Vec<u8>,
    /// The stored credential key, COSE_Key bytes.
    cose_key: Vec<u8>,
    /// The same key as `0x04 || x || y`.
    point: Vec<u8>,
    challenges: Vec<[u8; 32]>,
    /// `authenticatorData || SHA-256(clientDataJSON)`.
    messages: Vec<Vec<u8>>,
    signatures: Vec<Vec<u8>>,
    responses: Vec<AuthenticationResponseJson>,
    /// `responses` as the request bodies the server receives.
    bodies: Vec<Vec<u8>>,
}

impl Es256Assertions {
    fn new() -> Self {
        let rng = SystemRandom::new();
        let key = EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_ASN1_SIGNING)
            .expect("P-256 key generation");
        let point = key.public_key().as_ref().to_vec();
        let rp = RelyingParty::new(RP_ID, [ORIGIN]);
        let credential_id = derived("credential", 0)[..16].to_vec();
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
        for i in 0..N {
            let challenge = derived("challenge", i);
            let client_data = client_data_json("webauthn.get", &challenge);
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
            set.challenges.push(challenge);
            set.messages.push(message);
            set.signatures.push(sig);
            set.responses.push(response);
        }
        set
    }

    fn stored(&self) -> StoredCredential<'_> {
        StoredCredential {
            credential_id: &self.credential_id,
            public_key: &self.cose_key,
            sign_count: 0,
            backup_eligible: false,
            user_handle: &self.user_handle,
        }
    }
}

/// 64 `none` ES256 registrations, each with its own key, credential ID and challenge.
struct Es256Registrations {
    rp: RelyingParty,
    policy: AttestationPolicy,
    challenges: Vec<[u8; 32]>,
    /// As a minimal client sends them: no convenience copies.
    minimal: Vec<RegistrationResponseJson>,
    /// As `toJSON()` in browsers sends them: with `authenticatorData`, `publicKey` (SPKI) and
    /// `publicKeyAlgorithm`, which the verifier cross-checks.
    browser: Vec<RegistrationResponseJson>,
}

impl Es256Registrations {
    fn new() -> Self {
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
            let mut auth_data = set.rp.id_hash().to_vec();
            auth_data.push(0x45); // UP | UV | AT
            auth_data.extend_from_slice(&0u32.to_be_bytes());
            auth_data.extend_from_slice(&[0; 16]); // AAGUID
            let id_len = u16::try_from(credential_id.len()).expect("16-byte credential ID");
            auth_data.extend_from_slice(&id_len.to_be_bytes());
            auth_data.extend_from_slice(&credential_id);
            auth_data.extend_from_slice(&cose_es256(point));
            let attestation_object = cbor(&Value::Map(vec![
                (Value::Text("fmt".into()), Value::Text("none".into())),
                (Value::Text("attStmt".into()), Value::Map(Vec::new())),
                (
                    Value::Text("authData".into()),
                    Value::Bytes(auth_data.clone()),
                ),
            ]));
            let minimal = RegistrationResponseJson {
                id: base64url_encode(&credential_id),
                raw_id: Base64UrlBytes(credential_id),
                response: AuthenticatorAttestationResponseJson {
                    client_data_json: Base64UrlBytes(client_data_json(
                        "webauthn.create",
                        &challenge,
                    )),
                    attestation_object: Base64UrlBytes(attestation_object),
                    transports: vec!["hybrid".to_owned(), "internal".to_owned()],
                    authenticator_data: None,
                    public_key: None,
                    public_key_algorithm: None,
                },
                authenticator_attachment: Some("platform".to_owned()),
                client_extension_results: serde_json::Map::new(),
                type_: "public-key".to_owned(),
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

    fn expected(&self) -> Vec<ExpectedRegistration<'_>> {
        self.challenges
            .iter()
            .map(|c| ExpectedRegistration::new(&self.rp, c, &self.policy))
            .collect()
    }
}

/// The raw signature check for a corpus key, as a caller holding the key material would do it.
enum RawKey {
    Unparsed(&'static dyn VerificationAlgorithm, Vec<u8>),
    Rsa(&'static RsaParameters, Vec<u8>, Vec<u8>),
}

impl RawKey {
    fn new(key: &CredentialPublicKey) -> Self {
        let alg: &'static dyn VerificationAlgorithm = match key.algorithm() {
            CoseAlgorithm::Es256 => &signature::ECDSA_P256_SHA256_ASN1,
            CoseAlgorithm::Es384 => &signature::ECDSA_P384_SHA384_ASN1,
            CoseAlgorithm::Es512 => &signature::ECDSA_P521_SHA512_ASN1,
            CoseAlgorithm::EdDsa => &signature::ED25519,
            CoseAlgorithm::MlDsa44 => &signature::ML_DSA_44,
            CoseAlgorithm::MlDsa65 => &signature::ML_DSA_65,
            CoseAlgorithm::MlDsa87 => &signature::ML_DSA_87,
            CoseAlgorithm::Rs256 => {
                let KeyMaterial::Rsa { n, e } = key.material() else {
                    panic!("an RS256 key is an RSA key");
                };
                return Self::Rsa(&signature::RSA_PKCS1_2048_8192_SHA256, n.clone(), e.clone());
            }
            other => panic!("no raw baseline for {other}"),
        };
        let bytes = match key.material() {
            KeyMaterial::Ec2 { .. } => key.material().ec_point().expect("an EC key"),
            KeyMaterial::Ed25519(x) => x.clone(),
            KeyMaterial::MlDsa(_, public) => public.clone(),
            KeyMaterial::Rsa { .. } => panic!("RSA keys are handled above"),
        };
        Self::Unparsed(alg, bytes)
    }

    fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
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

/// A corpus assertion with everything `verify_authentication` needs, decoded once.
struct CorpusAssertion {
    rp: RelyingParty,
    challenge: Vec<u8>,
    response: AuthenticationResponseJson,
    case: Case,
    public_key: Vec<u8>,
    user_handle: Vec<u8>,
    raw: RawKey,
    message: Vec<u8>,
}

impl CorpusAssertion {
    fn new(name: &str, json: &[u8]) -> Self {
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
        let key = CredentialPublicKey::from_cose(&public_key).expect("a valid stored key");
        let auth_data = &response.response.authenticator_data.0;
        let message = [
            &auth_data[..],
            &sha256(&response.response.client_data_json.0),
        ]
        .concat();
        let raw = RawKey::new(&key);
        assert!(
            raw.verify(&message, &response.response.signature.0),
            "{name}: raw baseline must verify"
        );
        Self {
            challenge: base64url_decode(&case.challenge).expect("a base64url challenge"),
            rp,
            response,
            public_key,
            user_handle,
            raw,
            message,
            case,
        }
    }

    fn stored(&self) -> StoredCredential<'_> {
        let flags = self.response.response.authenticator_data.0[32];
        StoredCredential {
            credential_id: &self.response.raw_id.0,
            public_key: &self.public_key,
            sign_count: self.case.prior_sign_count,
            backup_eligible: self
                .case
                .stored_backup_eligible
                .unwrap_or(flags & passkeyd_webauthn::AuthenticatorFlags::BACKUP_ELIGIBLE != 0),
            user_handle: &self.user_handle,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Groups.

fn es256_authentication(criterion: &mut Criterion, results: &Results) {
    let set = Es256Assertions::new();
    let stored = set.stored();
    let allow: [&[u8]; 1] = [&set.credential_id];
    let expected: Vec<ExpectedAuthentication<'_>> = set
        .challenges
        .iter()
        .map(|c| {
            ExpectedAuthentication::new(
                &set.rp,
                c,
                UserIdentification::Identified {
                    user_handle: &set.user_handle,
                    allow_credentials: &allow,
                },
            )
        })
        .collect();
    let parsed = ParsedPublicKey::new(&signature::ECDSA_P256_SHA256_ASN1, &set.point)
        .expect("a valid P-256 point");
    let raw_unparsed = || {
        let key = UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_ASN1, &set.point);
        set.messages
            .iter()
            .zip(&set.signatures)
            .all(|(m, s)| key.verify(black_box(m), black_box(s)).is_ok())
    };
    let raw_parsed = || {
        set.messages
            .iter()
            .zip(&set.signatures)
            .all(|(m, s)| parsed.verify_sig(black_box(m), black_box(s)).is_ok())
    };
    let passkeyd = || {
        set.responses
            .iter()
            .zip(&expected)
            .all(|(r, e)| verify_authentication(black_box(r), e, &stored).is_ok())
    };
    let passkeyd_json = || {
        set.bodies.iter().zip(&expected).all(|(body, e)| {
            AuthenticationResponseJson::from_json(black_box(body))
                .and_then(|r| verify_authentication(&r, e, &stored))
                .is_ok()
        })
    };
    for (name, check) in [
        ("raw_unparsed", raw_unparsed()),
        ("raw_parsed", raw_parsed()),
        ("passkeyd_verify", passkeyd()),
        ("passkeyd_from_json_verify", passkeyd_json()),
    ] {
        assert!(check, "{name}: every assertion must verify before timing");
    }

    let mut group = Group::new(
        criterion,
        results,
        "es256_auth_x64",
        30,
        Duration::from_secs(2),
        Duration::from_secs(6),
    );
    let items = N as u64;
    group.bench("raw_unparsed", items, raw_unparsed);
    group.bench("raw_parsed", items, raw_parsed);
    group.bench("passkeyd_verify", items, passkeyd);
    group.bench("passkeyd_from_json_verify", items, passkeyd_json);
    group.finish();

    let names = [
        "raw_unparsed",
        "raw_parsed",
        "passkeyd_verify",
        "passkeyd_from_json_verify",
    ];
    if results.measured(&names.map(|name| format!("es256_auth_x64/{name}"))) {
        let (mut a, mut b, mut c, mut d) = (raw_unparsed, raw_parsed, passkeyd, passkeyd_json);
        let interleaved = interleave(
            "es256_auth_x64",
            &mut [
                ("raw_unparsed", &mut a),
                ("raw_parsed", &mut b),
                ("passkeyd_verify", &mut c),
                ("passkeyd_from_json_verify", &mut d),
            ],
            items,
            Duration::from_secs(8),
        );
        results.interleaved.borrow_mut().push(interleaved);
    }
}

fn es256_registration(criterion: &mut Criterion, results: &Results) {
    let set = Es256Registrations::new();
    let expected = set.expected();
    let minimal = || {
        set.minimal
            .iter()
            .zip(&expected)
            .all(|(r, e)| verify_registration(black_box(r), e, NOW).is_ok())
    };
    let browser = || {
        set.browser
            .iter()
            .zip(&expected)
            .all(|(r, e)| verify_registration(black_box(r), e, NOW).is_ok())
    };
    assert!(
        minimal(),
        "every minimal registration must verify before timing"
    );
    assert!(
        browser(),
        "every browser registration must verify before timing"
    );

    let mut group = Group::new(
        criterion,
        results,
        "es256_registration_none_x64",
        20,
        Duration::from_secs(1),
        Duration::from_secs(3),
    );
    group.bench("passkeyd_minimal", N as u64, minimal);
    group.bench("passkeyd_browser_json", N as u64, browser);
    group.finish();

    let ids = ["passkeyd_minimal", "passkeyd_browser_json"]
        .map(|name| format!("es256_registration_none_x64/{name}"));
    if results.measured(&ids) {
        let (mut minimal, mut browser) = (minimal, browser);
        let interleaved = interleave(
            "es256_registration_none_x64",
            &mut [
                ("passkeyd_minimal", &mut minimal),
                ("passkeyd_browser_json", &mut browser),
            ],
            N as u64,
            Duration::from_secs(2),
        );
        results.interleaved.borrow_mut().push(interleaved);
    }
}

fn authentication_by_algorithm(criterion: &mut Criterion, results: &Results) {
    let vectors: Vec<(&str, CorpusAssertion)> = ALGORITHM_VECTORS
        .iter()
        .map(|(name, json)| (*name, CorpusAssertion::new(name, json)))
        .collect();
    let mut group = Group::new(
        criterion,
        results,
        "auth_by_algorithm",
        20,
        Duration::from_millis(500),
        Duration::from_secs(2),
    );
    for (name, vector) in &vectors {
        let stored = vector.stored();
        let allow: [&[u8]; 1] = [&vector.response.raw_id.0];
        let expected = ExpectedAuthentication {
            user_verification: vector.case.user_verification,
            ..ExpectedAuthentication::new(
                &vector.rp,
                &vector.challenge,
                UserIdentification::Identified {
                    user_handle: &vector.user_handle,
                    allow_credentials: &allow,
                },
            )
        };
        let signature = &vector.response.response.signature.0;
        let raw = || {
            vector
                .raw
                .verify(black_box(&vector.message), black_box(signature))
        };
        let passkeyd =
            || verify_authentication(black_box(&vector.response), &expected, &stored).is_ok();
        assert!(passkeyd(), "{name} must verify before timing");
        group.bench(&format!("{name}/raw"), 1, raw);
        group.bench(&format!("{name}/passkeyd"), 1, passkeyd);
        let ids = [
            format!("auth_by_algorithm/{name}/raw"),
            format!("auth_by_algorithm/{name}/passkeyd"),
        ];
        if results.measured(&ids) {
            let (mut raw, mut passkeyd) = (raw, passkeyd);
            let interleaved = interleave(
                &format!("auth_by_algorithm/{name}"),
                &mut [("raw", &mut raw), ("passkeyd", &mut passkeyd)],
                1,
                Duration::from_millis(1500),
            );
            results.interleaved.borrow_mut().push(interleaved);
        }
    }
    group.finish();
}

// ---------------------------------------------------------------------------------------------
// Summary.

fn print_summary(results: &Results) {
    let per_item = |id: &str| results.ns_per_item(id);
    println!();
    println!("== passkeyd-webauthn verify: summary (criterion's samples from this run) ==");
    println!("{:<46} {:>12} {:>14}", "benchmark", "time/op", "ops/s");
    for id in results.ids() {
        if let Some(ns) = per_item(&id) {
            println!("{id:<46} {:>12} {:>14}", format_ns(ns), format_rate(ns));
        }
    }

    let raw = per_item("es256_auth_x64/raw_unparsed");
    let raw_parsed = per_item("es256_auth_x64/raw_parsed");
    let verify = per_item("es256_auth_x64/passkeyd_verify");
    let json = per_item("es256_auth_x64/passkeyd_from_json_verify");
    println!();
    println!("ES256 authentication, per assertion, from criterion's estimates:");
    if let (Some(raw), Some(verify)) = (raw, verify) {
        let ratio = verify / raw;
        println!(
            "  (a) verify_authentication / raw_unparsed = {ratio:.3}  \
             (goal <= {GOAL_RATIO}: {}; overhead {})",
            if ratio <= GOAL_RATIO {
                "met"
            } else {
                "NOT met"
            },
            format_ns(verify - raw),
        );
    }
    if let (Some(raw), Some(json)) = (raw, json) {
        println!(
            "  (b) from_json + verify_authentication / raw_unparsed = {:.3}  (overhead {})",
            json / raw,
            format_ns(json - raw),
        );
    }
    if let (Some(raw_parsed), Some(verify), Some(json)) = (raw_parsed, verify, json) {
        println!(
            "  for information, against raw_parsed: (a) {:.3}, (b) {:.3}",
            verify / raw_parsed,
            json / raw_parsed,
        );
    }
    print_es256_interleaved(results);
    for variant in ["passkeyd_minimal", "passkeyd_browser_json"] {
        let Some(ns) = per_item(&format!("es256_registration_none_x64/{variant}")) else {
            continue;
        };
        // The fastest interleaved batch: what an idle machine would give.
        let best = results
            .paired("es256_registration_none_x64", variant, variant)
            .map_or(ns, |p| p.min);
        println!(
            "ES256 `none` registration ({variant}): {}/s (criterion), {}/s (fastest batch)  \
             (target >= {}/s: {})",
            format_rate(ns),
            format_rate(best),
            format_count(GOAL_REGISTRATIONS_PER_SEC),
            if 1e9 / best >= GOAL_REGISTRATIONS_PER_SEC {
                "met"
            } else {
                "NOT met"
            },
        );
    }

    let mut header = false;
    for (name, _) in ALGORITHM_VECTORS {
        let raw = per_item(&format!("auth_by_algorithm/{name}/raw"));
        let passkeyd = per_item(&format!("auth_by_algorithm/{name}/passkeyd"));
        let (Some(raw), Some(passkeyd)) = (raw, passkeyd) else {
            continue;
        };
        if !header {
            println!();
            println!(
                "Authentication per algorithm (one corpus assertion): criterion's estimates, then \
                 interleaved calls (min, and median of per-round ratios)"
            );
            println!(
                "  {:<10} {:>11} {:>11} {:>11} {:>7} {:>11} {:>11} {:>8} {:>8}",
                "algorithm",
                "raw",
                "passkeyd",
                "passkeyd/s",
                "ratio",
                "min raw",
                "min pkd",
                "min rat",
                "med rat",
            );
            header = true;
        }
        let label = format!("auth_by_algorithm/{name}");
        let raw_min = results.paired(&label, "raw", "raw").map(|p| p.min);
        let paired = results.paired(&label, "passkeyd", "raw");
        let cell = |value: Option<String>| value.unwrap_or_else(|| "-".to_owned());
        println!(
            "  {name:<10} {:>11} {:>11} {:>11} {:>7.3} {:>11} {:>11} {:>8} {:>8}",
            format_ns(raw),
            format_ns(passkeyd),
            format_rate(passkeyd),
            passkeyd / raw,
            cell(raw_min.map(format_ns)),
            cell(paired.as_ref().map(|p| format_ns(p.min))),
            cell(paired.as_ref().map(|p| format!("{:.3}", p.min_ratio))),
            cell(paired.as_ref().map(|p| format!("{:.3}", p.median_ratio))),
        );
    }
}

fn print_es256_interleaved(results: &Results) {
    let mut header = false;
    for (name, label) in [
        ("raw_unparsed", "raw_unparsed"),
        ("raw_parsed", "raw_parsed"),
        ("passkeyd_verify", "(a) passkeyd_verify"),
        ("passkeyd_from_json_verify", "(b) from_json + verify"),
    ] {
        let Some(paired) = results.paired("es256_auth_x64", name, "raw_unparsed") else {
            continue;
        };
        if !header {
            println!(
                "ES256 authentication, per assertion, interleaved batches ({} rounds of 64, every \
                 variant under the same load; trust these when the machine is busy):",
                paired.rounds
            );
            println!(
                "  {:<24} {:>10} {:>10} {:>20} {:>14}",
                "variant", "min", "median", "median ratio to raw", "min / min raw"
            );
            header = true;
        }
        let goal = match name {
            "passkeyd_verify" if paired.median_ratio <= GOAL_RATIO => "  goal met",
            "passkeyd_verify" => "  goal NOT met",
            _ => "",
        };
        println!(
            "  {label:<24} {:>10} {:>10} {:>20.3} {:>14.3}{goal}",
            format_ns(paired.min),
            format_ns(paired.median),
            paired.median_ratio,
            paired.min_ratio,
        );
    }
}

fn format_ns(ns: f64) -> String {
    if ns.abs() >= 1e6 {
        format!("{:.3} ms", ns / 1e6)
    } else if ns.abs() >= 1e3 {
        format!("{:.2} µs", ns / 1e3)
    } else {
        format!("{ns:.0} ns")
    }
}

fn format_rate(ns_per_op: f64) -> String {
    format_count(1e9 / ns_per_op)
}

/// A count with thousands separators.
fn format_count(count: f64) -> String {
    let digits = format!("{:.0}", count.round());
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    // Only a measuring run has samples worth summarising: `cargo test --benches`, `--list` and
    // `--profile-time` call the routines without (or outside) criterion's sampling.
    let args: Vec<String> = std::env::args().collect();
    let results = Results {
        measuring: args.iter().any(|a| a == "--bench")
            && !args
                .iter()
                .any(|a| a == "--list" || a == "--test" || a.starts_with("--profile-time")),
        ..Results::default()
    };
    es256_authentication(&mut criterion, &results);
    es256_registration(&mut criterion, &results);
    authentication_by_algorithm(&mut criterion, &results);
    criterion.final_summary();
    if results.measuring {
        print_summary(&results);
    }
}
