//! `passkeyd verify` against the real corpus files.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn vectors() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../webauthn/tests/vectors")
}

fn passkeyd(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_passkeyd"))
        .args(args)
        .output()
        .expect("run passkeyd")
}

fn lines(output: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect()
}

fn vector(name: &str) -> String {
    vectors().join(name).display().to_string()
}

const KEYS: [&str; 13] = [
    "file",
    "ok",
    "code",
    "message",
    "fmt",
    "alg",
    "attestation_type",
    "credential_id",
    "aaguid",
    "sign_count",
    "user_verified",
    "backup_eligible",
    "backup_state",
];

#[test]
fn verified_registration_prints_what_to_store() {
    let out = passkeyd(&[
        "verify",
        &vector("py_webauthn/packed_x5c_yubikey5_es256.json"),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = lines(&out);
    assert_eq!(lines.len(), 1);
    let line = &lines[0];
    for key in KEYS {
        assert!(line.get(key).is_some(), "missing {key} in {line}");
    }
    assert_eq!(line["ok"], true);
    assert_eq!(line["fmt"], "packed");
    assert_eq!(line["alg"], -7);
    assert_eq!(line["attestation_type"], "Basic");
    assert_eq!(line["code"], Value::Null);
}

#[test]
fn rejected_case_names_the_failed_check_and_exits_1() {
    let out = passkeyd(&[
        "verify",
        &vector("py_webauthn/none_es256_localhost.json"),
        &vector("simplewebauthn/none_wrong_challenge_neg.json"),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let lines = lines(&out);
    assert_eq!(lines[0]["ok"], true);
    assert_eq!(lines[1]["ok"], false);
    assert_eq!(lines[1]["code"], "challenge_mismatch");
    assert!(lines[1]["message"].as_str().unwrap().contains("challenge"));
}

#[test]
fn authentication_case_reports_the_new_counter() {
    let out = passkeyd(&["verify", &vector("py_webauthn/auth_ml_dsa_65.json")]);
    assert_eq!(out.status.code(), Some(0));
    let line = &lines(&out)[0];
    assert_eq!(line["alg"], -49);
    assert_eq!(line["sign_count"], 5);
    assert_eq!(line["fmt"], Value::Null);
}

#[test]
fn the_expect_member_is_never_read() {
    let dir = tempdir();
    let original = vector("py_webauthn/none_es256_localhost.json");
    let mut case: Value = serde_json::from_slice(&std::fs::read(&original).unwrap()).unwrap();
    case["expect"] = serde_json::json!({"ok": false, "code": "signature_invalid"});
    let tampered = dir.path().join("tampered.json");
    std::fs::write(&tampered, serde_json::to_vec(&case).unwrap()).unwrap();
    let a = lines(&passkeyd(&["verify", &original]));
    let b = lines(&passkeyd(&["verify", tampered.to_str().unwrap()]));
    assert_eq!(a[0]["ok"], b[0]["ok"]);
    assert_eq!(a[0]["credential_id"], b[0]["credential_id"]);
}

#[test]
fn unreadable_or_invalid_files_are_usage_errors() {
    let dir = tempdir();
    let junk = dir.path().join("junk.json");
    std::fs::write(&junk, b"{\"ceremony\": \"dance\"}").unwrap();
    let out = passkeyd(&["verify", junk.to_str().unwrap(), "/nonexistent/case.json"]);
    assert_eq!(out.status.code(), Some(2));
    let lines = lines(&out);
    assert_eq!(lines.len(), 2);
    assert!(lines.iter().all(|l| l["code"] == "case_invalid"));
    // No file at all is a command-line error.
    assert_eq!(passkeyd(&["verify"]).status.code(), Some(2));
    assert_eq!(
        passkeyd(&["verify", "--at", "yesterday", "x"])
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn human_output_says_what_failed_in_words() {
    let out = passkeyd(&[
        "verify",
        "--human",
        &vector("simplewebauthn/auth_wrong_rp_id_neg.json"),
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("rejected [rp_id_mismatch]"), "{text}");
    assert!(text.contains("rpIdHash"), "{text}");
}

#[test]
fn at_sets_the_time_for_cases_without_verify_at() {
    // A packed x5c case whose verify_at is removed: its chain is checked at --at instead.
    let dir = tempdir();
    let original = vector("py_webauthn/packed_x5c_yubikey5_es256.json");
    let mut case: Value = serde_json::from_slice(&std::fs::read(&original).unwrap()).unwrap();
    let at = case["verify_at"].as_str().unwrap().to_owned();
    case.as_object_mut().unwrap().remove("verify_at");
    let path = dir.path().join("no_verify_at.json");
    std::fs::write(&path, serde_json::to_vec(&case).unwrap()).unwrap();
    let path = path.to_str().unwrap();
    let ok = passkeyd(&["verify", "--at", &at, path]);
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stdout)
    );
    let expired = passkeyd(&["verify", "--at", "1990-01-01T00:00:00Z", path]);
    assert_eq!(expired.status.code(), Some(1));
    assert_eq!(lines(&expired)[0]["code"], "attestation_untrusted");
}

#[test]
fn the_whole_corpus_runs() {
    let mut files = Vec::new();
    for dir in [
        "py_webauthn",
        "simplewebauthn",
        "go_webauthn",
        "webauthn_rs",
        "w3c_spec_vectors",
    ] {
        for entry in std::fs::read_dir(vectors().join(dir)).unwrap() {
            files.push(entry.unwrap().path().display().to_string());
        }
    }
    let mut args = vec![
        "verify".to_owned(),
        "--at".to_owned(),
        "2026-11-23T00:00:00Z".to_owned(),
    ];
    args.extend(files.iter().cloned());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = passkeyd(&args);
    // Negative vectors are in the corpus, so some are rejected.
    assert_eq!(out.status.code(), Some(1));
    let lines = lines(&out);
    assert_eq!(lines.len(), files.len());
    // Every line names its file, in order; outcomes are compared with each case's `expect` by
    // the verification crate's own vector test, so here only the shape is checked.
    for (line, file) in lines.iter().zip(&files) {
        assert_eq!(line["file"].as_str(), Some(file.as_str()));
        match line["code"].as_str() {
            None => assert_eq!(line["ok"], true),
            Some(code) => assert!(
                passkeyd_webauthn::ERROR_CODES.contains(&code),
                "unknown code {code}"
            ),
        }
        let case: Value = serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap();
        if line["ok"] == true && case["ceremony"] == "registration" {
            assert!(
                line["fmt"].is_string() && line["attestation_type"].is_string(),
                "{line}"
            );
        }
    }
}

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temporary directory")
}

#[test]
fn roots_option_requires_chains_to_reach_the_given_roots() {
    let case = vector("py_webauthn/packed_x5c_yubikey5_es256.json");
    let roots = vectors().join("roots");
    // The YubiKey chains to Yubico's root, which is in the directory.
    let ok = passkeyd(&["verify", "--roots", roots.to_str().unwrap(), &case]);
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stdout)
    );
    // Apple's root alone does not anchor it.
    let apple = roots.join("apple_webauthn_root_ca.pem");
    let out = passkeyd(&["verify", "--roots", apple.to_str().unwrap(), &case]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(lines(&out)[0]["code"], "attestation_untrusted");
    // A root file that is not PEM is a usage error.
    let dir = tempdir();
    let bad = dir.path().join("bad.pem");
    std::fs::write(&bad, "not a certificate").unwrap();
    let out = passkeyd(&["verify", "--roots", bad.to_str().unwrap(), &case]);
    assert_eq!(out.status.code(), Some(2));
}

fn mds_fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/mds")
        .join(name)
        .display()
        .to_string()
}

#[test]
fn mds_revocation_refuses_the_model() {
    let case = vector("py_webauthn/packed_x5c_yubikey5_es256.json");
    let root = mds_fixture("root.pem");
    let certified = passkeyd(&[
        "verify",
        "--mds",
        &mds_fixture("blob_no5.jwt"),
        "--mds-root",
        &root,
        &case,
    ]);
    assert_eq!(certified.status.code(), Some(0));
    let revoked = passkeyd(&[
        "verify",
        "--mds",
        &mds_fixture("blob_no6.jwt"),
        "--mds-root",
        &root,
        &case,
    ]);
    assert_eq!(revoked.status.code(), Some(1));
    let line = &lines(&revoked)[0];
    assert_eq!(line["code"], "attestation_untrusted");
    assert!(
        line["message"].as_str().unwrap().contains("REVOKED"),
        "{line}"
    );
    // A BLOB that does not verify is a usage error, not a silently ignored option.
    let bad = passkeyd(&[
        "verify",
        "--mds",
        &mds_fixture("blob_bad_signature.jwt"),
        "--mds-root",
        &root,
        &case,
    ]);
    assert_eq!(bad.status.code(), Some(2));
    // --mds without --mds-root is refused by the command line.
    assert_eq!(
        passkeyd(&["verify", "--mds", &mds_fixture("blob_no5.jwt"), &case])
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn mds_import_keeps_only_good_newer_blobs() {
    let dir = tempdir();
    let data = dir.path().to_str().unwrap();
    let root = mds_fixture("root.pem");
    let import = |blob: &str| {
        passkeyd(&[
            "mds",
            "import",
            &mds_fixture(blob),
            "--root",
            &root,
            "--data-dir",
            data,
        ])
    };
    let kept = || std::fs::read_to_string(dir.path().join("mds.jwt")).ok();

    let out = import("blob_no6.jwt");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("no 6"));
    let six = std::fs::read_to_string(mds_fixture("blob_no6.jwt")).unwrap();
    assert_eq!(kept().as_deref(), Some(six.as_str()));

    for (blob, code) in [
        ("blob_no5.jwt", "mds_rollback"),
        ("blob_bad_signature.jwt", "mds_signature_invalid"),
        ("blob_expired.jwt", "mds_expired"),
    ] {
        let out = import(blob);
        assert_eq!(out.status.code(), Some(1), "{blob}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(code),
            "{blob}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            kept().as_deref(),
            Some(six.as_str()),
            "{blob} changed the kept BLOB"
        );
    }
}

#[tokio::test]
async fn the_server_stores_the_imported_blob_and_refuses_a_tampered_one() {
    let dir = tempdir();
    let data = dir.path().to_str().unwrap();
    let out = passkeyd(&[
        "mds",
        "import",
        &mds_fixture("blob_no6.jwt"),
        "--root",
        &mds_fixture("root.pem"),
        "--data-dir",
        data,
    ]);
    assert_eq!(out.status.code(), Some(0));
    let config = crate::common::config(dir.path(), &[]);
    let store = passkeyd::store::open(&config).await.unwrap();
    let state = passkeyd::open_state(store.clone(), config.clone())
        .await
        .unwrap();
    assert_eq!(state.metadata().map(|b| b.no()), Some(6));

    // A BLOB changed on disk no longer verifies: it is not stored, and the server keeps the
    // verified BLOB the database holds (never an unverified one).
    let bad = std::fs::read_to_string(mds_fixture("blob_bad_signature.jwt")).unwrap();
    std::fs::write(dir.path().join("mds.jwt"), bad).unwrap();
    let state = passkeyd::open_state(store, config).await.unwrap();
    assert_eq!(state.metadata().map(|b| b.no()), Some(6));
}
