//! Verification throughput, measured against the bare signature check it is built around and
//! against another Rust relying-party library.
//!
//! Run with `cargo bench -p passkeyd-webauthn --bench verify`. One run measures:
//!
//! 1. `es256_auth_x64`: the same 64 distinct ES256 assertions (one credential, 64 challenges
//!    issued by webauthn-rs, counters 1 to 64), checked by
//!    - `raw_unparsed`: aws-lc-rs `UnparsedPublicKey::verify` (ECDSA P-256, DER) of
//!      `authenticatorData || SHA-256(clientDataJSON)`, the floor any verifier holding a stored
//!      key pays (`raw_parsed` reuses one `ParsedPublicKey`, for information);
//!    - `passkeyd_verify`: [`verify_authentication`] on the assertions already deserialized, and
//!      `passkeyd_from_json_verify`, which also parses each request body, as the server does;
//!    - `webauthn_rs_core_verify` / `webauthn_rs_core_from_json_verify`: webauthn-rs-core 0.6's
//!      `WebauthnCore::authenticate_credential`, the same two ways.
//! 2. `es256_registration_none_x64`: [`verify_registration`] of 64 `none` ES256 registrations,
//!    with and without the convenience copies browsers add in `toJSON()`.
//! 3. `auth_by_algorithm`: one assertion per algorithm (corpus payloads, and the software
//!    authenticator's for algorithms the corpus lacks), raw signature check and passkeyd.
//! 4. `registration_by_algorithm`: one `none` registration per algorithm.
//! 5. `registration_by_format`: one registration per attestation format and statement kind:
//!    `none`, `packed` self and x5c and `fido-u2f` made here (chains anchored at a CA the policy
//!    trusts), and real corpus payloads for `packed` x5c, `tpm`, `android-key`,
//!    `android-safetynet`, `apple` and `compound`, each checked as `passkeyd verify` would.
//!
//! Every input is built and verified once before timing, so no error path is ever measured. After
//! the groups, a summary prints throughput and the ratios against the goals, computed from the
//! very samples criterion took in this run (the same slope estimate criterion reports as "time").
//!
//! Criterion measures one benchmark after another, so on a shared machine a change of load between
//! two of them skews their ratio. The ES256 group therefore ends with ten seconds of interleaved
//! timing (the variants batch by batch, in turn) and the summary also gives those: the fastest
//! round (what an idle machine gives) and the median of the per-round ratios. When the machine is
//! busy, judge the ratios by those. For a deterministic count, run one benchmark under callgrind:
//! `valgrind --tool=callgrind --toggle-collect='verify::timing::time_iters*'
//! target/release/deps/verify-* --bench --profile-time 1 'es256_auth_x64/passkeyd_verify$'`.

mod groups;
mod inputs;
mod summary;
mod timing;
mod webauthn_rs;

use criterion::Criterion;
#[cfg(doc)]
use passkeyd_webauthn::{verify_authentication, verify_registration};
use passkeyd_webauthn::{CoseAlgorithm, UnixTime};

use crate::timing::Results;

/// Assertions (and registrations) per batch.
const N: usize = 64;
const RP_ID: &str = "example.com";
const ORIGIN: &str = "https://example.com";
/// 2026-11-23T00:00:00Z, as in the vector tests.
const NOW: UnixTime = UnixTime(1_795_392_000);
/// The throughput of the full ES256 authentication check over that of the raw signature check
/// that it should reach (a time ratio of at most `1 / 0.90`).
const GOAL_RAW_FRACTION: f64 = 0.90;
/// How many times webauthn-rs-core's throughput passkeyd's should reach.
const GOAL_OVER_WEBAUTHN_RS: f64 = 4.5;
/// Registrations per second wanted for `none` ES256.
const GOAL_REGISTRATIONS_PER_SEC: f64 = 200_000.0;

/// The corpus assertions benchmarked per algorithm.
const ALGORITHM_VECTORS: [(&str, &[u8]); 7] = [
    (
        "es384",
        include_bytes!("../../tests/vectors/w3c_spec_vectors/auth_packed_es384.json"),
    ),
    (
        "es512",
        include_bytes!("../../tests/vectors/w3c_spec_vectors/auth_packed_es512.json"),
    ),
    (
        "eddsa",
        include_bytes!("../../tests/vectors/w3c_spec_vectors/auth_packed_eddsa.json"),
    ),
    (
        "rs256",
        include_bytes!("../../tests/vectors/w3c_spec_vectors/auth_packed_rs256.json"),
    ),
    (
        "ml_dsa_44",
        include_bytes!("../../tests/vectors/py_webauthn/auth_ml_dsa_44.json"),
    ),
    (
        "ml_dsa_65",
        include_bytes!("../../tests/vectors/py_webauthn/auth_ml_dsa_65.json"),
    ),
    (
        "ml_dsa_87",
        include_bytes!("../../tests/vectors/py_webauthn/auth_ml_dsa_87.json"),
    ),
];

/// Algorithms without a corpus assertion: the software authenticator signs one.
const GENERATED_ALGORITHMS: [(&str, CoseAlgorithm); 6] = [
    ("es256", CoseAlgorithm::Es256),
    ("rs384", CoseAlgorithm::Rs384),
    ("rs512", CoseAlgorithm::Rs512),
    ("ps256", CoseAlgorithm::Ps256),
    ("ps384", CoseAlgorithm::Ps384),
    ("ps512", CoseAlgorithm::Ps512),
];

/// Every algorithm offered by default, for `registration_by_algorithm`.
const REGISTRATION_ALGORITHMS: [(&str, CoseAlgorithm); 13] = [
    ("es256", CoseAlgorithm::Es256),
    ("es384", CoseAlgorithm::Es384),
    ("es512", CoseAlgorithm::Es512),
    ("eddsa", CoseAlgorithm::EdDsa),
    ("rs256", CoseAlgorithm::Rs256),
    ("rs384", CoseAlgorithm::Rs384),
    ("rs512", CoseAlgorithm::Rs512),
    ("ps256", CoseAlgorithm::Ps256),
    ("ps384", CoseAlgorithm::Ps384),
    ("ps512", CoseAlgorithm::Ps512),
    ("ml_dsa_44", CoseAlgorithm::MlDsa44),
    ("ml_dsa_65", CoseAlgorithm::MlDsa65),
    ("ml_dsa_87", CoseAlgorithm::MlDsa87),
];

/// Real registrations, one per attestation format the software authenticator does not make.
const FORMAT_VECTORS: [(&str, &[u8]); 8] = [
    (
        "packed_x5c_yubikey5",
        include_bytes!("../../tests/vectors/py_webauthn/packed_x5c_yubikey5_es256.json"),
    ),
    (
        "tpm_rs256_dell",
        include_bytes!("../../tests/vectors/py_webauthn/tpm_rs256_dell_xps13_ntc.json"),
    ),
    (
        "tpm_es256",
        include_bytes!("../../tests/vectors/w3c_spec_vectors/reg_tpm_es256.json"),
    ),
    (
        "android_key_pixel8a",
        include_bytes!("../../tests/vectors/py_webauthn/android_key_pixel8a_2025.json"),
    ),
    (
        "android_safetynet",
        include_bytes!("../../tests/vectors/py_webauthn/android_safetynet_2021.json"),
    ),
    (
        "apple_passkey",
        include_bytes!("../../tests/vectors/py_webauthn/apple_passkey_2021.json"),
    ),
    (
        "compound_packed_self_x2",
        include_bytes!("../../tests/vectors/go_webauthn/compound_packed_self_x2.json"),
    ),
    (
        "fido_u2f_yubikey",
        include_bytes!("../../tests/vectors/py_webauthn/fido_u2f_yubikey_firefox.json"),
    ),
];

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
    groups::es256_authentication(&mut criterion, &results);
    groups::es256_registration(&mut criterion, &results);
    groups::authentication_by_algorithm(&mut criterion, &results);
    groups::registration_by_algorithm(&mut criterion, &results);
    groups::registration_by_format(&mut criterion, &results);
    criterion.final_summary();
    if results.measuring {
        summary::print_summary(&results);
    }
}
