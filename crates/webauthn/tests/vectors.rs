//! Runs every ceremony case under `tests/vectors/` and compares the outcome with its `expect`.
//!
//! Positive cases must verify and report exactly the decoded fields; negative cases must be
//! rejected, with the exact code when the case names one (`expect.code`, used by our own vectors,
//! or the table below for the corpus).

use std::path::{Path, PathBuf};

use passkeyd_webauthn::case::{Case, RunOptions};
use passkeyd_webauthn::UnixTime;
use serde_json::Value;

/// The time used for cases without `verify_at`: 2026-11-23T00:00:00Z.
const NOW: UnixTime = UnixTime(1_795_392_000);

/// The options every case runs with: as `passkeyd verify --allow-legacy` (the SafetyNet cases
/// come from suites that accept the deprecated format).
fn options() -> RunOptions {
    RunOptions {
        allow_legacy_formats: true,
        ..RunOptions::new(NOW)
    }
}

/// Corpus negatives whose failure is one source library's policy (or needs a network check) and
/// that passkeyd accepts, with why.
const LENIENTER_POLICY: &[(&str, &str)] = &[
    (
        "simplewebauthn/android_safetynet_gsr1_revoked_neg",
        "the failure needs the issuer's CRL; passkeyd does no network I/O while verifying",
    ),
    (
        "webauthn_rs/tpm_ecc_aseigler_policy_neg",
        "webauthn-rs refuses RS1-signed TPM statements; real TPMs sign that way and the chain, \
         not the statement hash, carries the trust",
    ),
];

/// Corpus cases whose expected outcome is one source library's policy, where passkeyd's policy is
/// stricter, with the code passkeyd gives and why.
const STRICTER_POLICY: &[(&str, &str, &str)] = &[
    (
        "w3c_spec_vectors/reg_fido_u2f_es256",
        "attestation_invalid",
        "synthetic fido-u2f with a non-zero AAGUID; real U2F responses carry the zero AAGUID \
         (browsers build their authenticator data) and FIDO conformance requires it",
    ),
    (
        "simplewebauthn/tpm_rs1_dontneeda_sha1",
        "algorithm_not_allowed",
        "an RS1 credential key; RS1 is accepted only when the relying party offers it",
    ),
    (
        "simplewebauthn/tpm_rs1_fido2netlib_sha1",
        "algorithm_not_allowed",
        "an RS1 credential key; RS1 is accepted only when the relying party offers it",
    ),
    (
        "go_webauthn/apple_2020_go",
        "credential_id_mismatch",
        "the source test checked only the statement; the case's id is not the attested credential ID",
    ),
    (
        "webauthn_rs/android_key_software_root_webauthn_org",
        "credential_id_mismatch",
        "the case's id is not the attested credential ID",
    ),
];

/// The code each corpus negative must fail with (our own vectors carry `expect.code`).
const CORPUS_NEGATIVE_CODES: &[(&str, &str)] = &[
    (
        "go_webauthn/compound_one_tampered_substatement_neg",
        "attestation_invalid",
    ),
    (
        "py_webauthn/auth_eddsa_tampered_signature_neg",
        "signature_invalid",
    ),
    (
        "py_webauthn/auth_es256_tampered_client_data_neg",
        "signature_invalid",
    ),
    (
        "py_webauthn/auth_es256_tampered_signature_neg",
        "signature_invalid",
    ),
    (
        "py_webauthn/auth_rs256_tampered_signature_neg",
        "signature_invalid",
    ),
    (
        "py_webauthn/auth_uv_required_but_false_neg",
        "user_verification_required",
    ),
    ("py_webauthn/auth_wrong_public_key_neg", "signature_invalid"),
    (
        "py_webauthn/fido_u2f_tampered_att_sig_neg",
        "attestation_invalid",
    ),
    (
        "py_webauthn/fido_u2f_token_binding_not_supported_neg",
        "token_binding_invalid",
    ),
    (
        "py_webauthn/none_empty_attestation_object_neg",
        "response_malformed",
    ),
    (
        "py_webauthn/packed_x5c_yubikey5_tampered_att_sig_neg",
        "attestation_invalid",
    ),
    (
        "py_webauthn/packed_yubikey_wrong_trust_root_neg",
        "attestation_untrusted",
    ),
    ("py_webauthn/unsupported_fmt_neg", "attestation_unsupported"),
    (
        "simplewebauthn/android_safetynet_cts_false_neg",
        "attestation_invalid",
    ),
    (
        "simplewebauthn/android_safetynet_gsr1_revoked_neg",
        "attestation_unsupported",
    ),
    (
        "simplewebauthn/auth_counter_not_increased_neg",
        "counter_regression",
    ),
    (
        "simplewebauthn/auth_origin_not_in_list_neg",
        "origin_mismatch",
    ),
    (
        "simplewebauthn/auth_uv_required_but_false_neg",
        "user_verification_required",
    ),
    (
        "simplewebauthn/auth_wrong_challenge_neg",
        "challenge_mismatch",
    ),
    ("simplewebauthn/auth_wrong_origin_neg", "origin_mismatch"),
    ("simplewebauthn/auth_wrong_rp_id_neg", "rp_id_mismatch"),
    (
        "simplewebauthn/none_origin_not_in_list_neg",
        "origin_mismatch",
    ),
    (
        "simplewebauthn/none_wrong_challenge_neg",
        "challenge_mismatch",
    ),
    ("simplewebauthn/none_wrong_origin_neg", "origin_mismatch"),
    ("simplewebauthn/none_wrong_rp_id_neg", "rp_id_mismatch"),
    (
        "simplewebauthn/packed_self_es256_tampered_att_sig_neg",
        "attestation_invalid",
    ),
    (
        "simplewebauthn/packed_x5c_aaguid_ext_mismatch_neg",
        "attestation_invalid",
    ),
    (
        "simplewebauthn/tpm_aaguid_ext_mismatch_neg",
        "attestation_invalid",
    ),
    (
        "w3c_spec_vectors/auth_none_es256_cross_origin_not_allowed_neg",
        "cross_origin_not_allowed",
    ),
    (
        "w3c_spec_vectors/auth_none_es256_top_origin_not_allowed_neg",
        "cross_origin_not_allowed",
    ),
    (
        "w3c_spec_vectors/reg_android_key_es256_neg",
        "attestation_invalid",
    ),
    (
        "w3c_spec_vectors/reg_none_es256_cross_origin_not_allowed_neg",
        "cross_origin_not_allowed",
    ),
    (
        "w3c_spec_vectors/reg_none_es256_top_origin_not_allowed_neg",
        "cross_origin_not_allowed",
    ),
    (
        "webauthn_rs/android_safetynet_webauthn_io_policy_neg",
        "attestation_invalid",
    ),
    (
        "webauthn_rs/firefox98_hello_truncated_aaguid_neg",
        "authenticator_data_invalid",
    ),
    (
        "webauthn_rs/none_pixel3a_alg_not_requested_neg",
        "algorithm_not_allowed",
    ),
    // SoloKey v2 firmware wrote a COSE map header of 3 entries for 4: the fourth pair is left over
    // after the key, so the authenticator data has trailing bytes.
    (
        "webauthn_rs/packed_solokey_v2_eddsa_bad_attestation_sig_neg",
        "authenticator_data_invalid",
    ),
    (
        "webauthn_rs/packed_x5c_aaguid_ext_mismatch_neg",
        "attestation_invalid",
    ),
    (
        "webauthn_rs/solokey_v2_ed25519_invalid_cose_cbor_neg",
        "authenticator_data_invalid",
    ),
    (
        "webauthn_rs/tpm_ecc_aseigler_policy_neg",
        "attestation_unsupported",
    ),
];

fn vector_files() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("vector directory") {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "json")
                && !path.ends_with("roots/index.json")
            {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors"),
        &mut files,
    );
    files.sort();
    files
}

fn case_name(path: &Path) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors");
    let rel = path.strip_prefix(&root).expect("under the vector root");
    rel.with_extension("").to_string_lossy().replace('\\', "/")
}

/// Compares one case; returns a description of the mismatch, if any.
fn check(path: &Path) -> Option<String> {
    let bytes = std::fs::read(path).expect("readable vector");
    let doc: Value = serde_json::from_slice(&bytes).expect("vector is JSON");
    let case = Case::from_json(&bytes).expect("vector matches the case schema");
    let report = case
        .run_with(&options())
        .expect("case parameters are valid");
    let expect = &doc["expect"];
    let name = case_name(path);
    let expected_ok = expect["ok"].as_bool().expect("expect.ok");

    if let Some((_, code, _)) = STRICTER_POLICY.iter().find(|(n, _, _)| *n == name) {
        return (report.code != Some(code))
            .then(|| format!("{name}: expected {code} by passkeyd policy, got {report:?}"));
    }
    if LENIENTER_POLICY.iter().any(|(n, _)| *n == name) {
        return (!report.ok)
            .then(|| format!("{name}: accepted by passkeyd policy, got {report:?}"));
    }
    if !expected_ok {
        let wanted = expect["code"].as_str().or_else(|| {
            CORPUS_NEGATIVE_CODES
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, c)| *c)
        });
        return match (report.ok, wanted) {
            (true, _) => Some(format!("{name}: verified, but must be rejected")),
            (false, None) => Some(format!(
                "{name}: no expected code recorded, got {:?}",
                report.code
            )),
            (false, Some(code)) if report.code != Some(code) => Some(format!(
                "{name}: expected {code}, got {:?}: {:?}",
                report.code, report.message
            )),
            _ => None,
        };
    }
    if !report.ok {
        return Some(format!(
            "{name}: rejected: {:?} {:?}",
            report.code, report.message
        ));
    }
    let mut problems = Vec::new();
    let mut compare = |field: &str, got: Option<Value>| {
        let want = &expect[field];
        if !want.is_null() && got.as_ref() != Some(want) {
            problems.push(format!("{field}: expected {want}, got {got:?}"));
        }
    };
    compare("alg", report.alg.map(Value::from));
    compare("sign_count", report.sign_count.map(Value::from));
    compare(
        "counter_regressed",
        report.counter_regressed.map(Value::from),
    );
    compare(
        "credential_id",
        report.credential_id.clone().map(Value::from),
    );
    if case.ceremony == passkeyd_webauthn::case::Ceremony::Registration {
        compare("fmt", report.fmt.clone().map(Value::from));
        compare("aaguid", report.aaguid.clone().map(Value::from));
        compare(
            "credential_public_key",
            report.credential_public_key.clone().map(Value::from),
        );
    }
    if let Some(flags) = expect["flags"].as_object() {
        let got = [
            ("up", report.user_present),
            ("uv", report.user_verified),
            ("be", report.backup_eligible),
            ("bs", report.backup_state),
        ];
        for (flag, value) in got {
            if flags.get(flag).and_then(Value::as_bool) != value {
                problems.push(format!(
                    "flag {flag}: expected {:?}, got {value:?}",
                    flags.get(flag)
                ));
            }
        }
    }
    let has_roots = doc["trust_roots"]
        .as_array()
        .is_some_and(|roots| !roots.is_empty());
    if has_roots && report.trusted != Some(true) {
        problems.push("the chain must end at the case's trust root".into());
    }
    (!problems.is_empty()).then(|| format!("{name}: {}", problems.join("; ")))
}

#[test]
fn every_vector_gives_its_expected_outcome() {
    let files = vector_files();
    assert!(
        files.len() >= 145,
        "expected the whole corpus, found {}",
        files.len()
    );
    let failures: Vec<String> = files.iter().filter_map(|f| check(f)).collect();
    assert!(
        failures.is_empty(),
        "{} of {} vectors failed:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}

#[test]
fn every_error_code_has_a_negative_vector() {
    let mut seen = std::collections::BTreeSet::new();
    for path in vector_files() {
        let bytes = std::fs::read(&path).expect("readable vector");
        let case = Case::from_json(&bytes).expect("case schema");
        if let Some(code) = case.run_with(&options()).expect("valid case").code {
            seen.insert(code);
        }
    }
    let missing: Vec<&str> = passkeyd_webauthn::ERROR_CODES
        .iter()
        .copied()
        .filter(|c| !seen.contains(c))
        .collect();
    assert!(missing.is_empty(), "no negative vector yields: {missing:?}");
}

/// The bundled vendor roots anchor the real devices of the corpus, each through its own
/// vendor, and anchor nothing made by a test CA.
#[test]
fn bundled_roots_anchor_real_devices_only() {
    let anchored = [
        "py_webauthn/android_key_pixel8a_2025",
        "simplewebauthn/android_key_galaxy_s9_android10",
        "py_webauthn/android_safetynet_2021",
        "py_webauthn/apple_passkey_2021",
        "simplewebauthn/apple_dontneeda_2020",
        "py_webauthn/fido_u2f_yubikey_firefox",
        "py_webauthn/packed_x5c_yubikey5_es256",
        "py_webauthn/tpm_rs256_dell_xps13_ntc",
        "py_webauthn/tpm_rs256_lenovo_x1_stm",
        "py_webauthn/tpm_rs256_surface_pro_4_intc",
        "py_webauthn/tpm_ecc_es256_webauthn_io",
    ];
    let not_anchored = [
        "go_webauthn/packed_x5c_es256_fido_conformance",
        "simplewebauthn/android_key_fido_conformance_2020",
        "simplewebauthn/tpm_rs256_fido2netlib_sha256",
        "w3c_spec_vectors/reg_apple_anonymous_es256",
        "w3c_spec_vectors/reg_tpm_es256",
    ];
    let options = RunOptions {
        use_bundled_roots: true,
        ..options()
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors");
    let run = |name: &str| {
        let bytes = std::fs::read(root.join(format!("{name}.json"))).expect("vector");
        let mut doc: Value = serde_json::from_slice(&bytes).expect("JSON");
        // Only the bundled roots count here, not the case's own.
        doc.as_object_mut().expect("object").remove("trust_roots");
        let case = Case::from_json(doc.to_string().as_bytes()).expect("case");
        case.run_with(&options).expect("valid case")
    };
    for name in anchored {
        let report = run(name);
        assert!(
            report.ok && report.trusted == Some(true),
            "{name}: {report:?}"
        );
    }
    for name in not_anchored {
        assert_eq!(run(name).code, Some("attestation_untrusted"), "{name}");
    }
}
