//! Generates the passkeyd vectors in `tests/vectors/passkeyd/`: negative vectors for every error
//! code and for the hostile cases of SECURITY.md §6 that a payload can express, plus a few positive
//! controls.
//!
//! ```text
//! cargo run -p passkeyd-webauthn --example generate_vectors --features test-util [-- --findings DIR]
//! ```
//!
//! Every run makes new keys, IDs and challenges with the `test-util` software authenticator, so all
//! files change; commit them as data. Before writing, each vector is run through [`Case::run`] and
//! its outcome compared with the expectation it records:
//!
//! * A vector the verifier disagrees with is not written. If it is one of the *known findings*
//!   (SECURITY.md expectations the verifier does not meet yet, see `known_findings.rs`) it is listed;
//!   any other disagreement is a regression or a wrong expectation, and the run exits with
//!   status 1.
//! * `--findings DIR` saves every vector that was not written in DIR, for a bug report.
//! * A known finding that the verifier has come to meet is written like any other vector.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use ciborium::value::Value as Cbor;
use passkeyd_webauthn::case::Case;
use passkeyd_webauthn::json::base64url_encode;
use passkeyd_webauthn::test_util::{
    encode_cbor, encode_cose_key, random_bytes, AssertionBuilder, AttestationCa,
    AttestationCertificate, CertificateParams, Credential, CredentialKey, NameAttribute,
    RegistrationBuilder, TEST_AAGUID,
};
use passkeyd_webauthn::{Aaguid, AuthenticatorFlags, CoseAlgorithm, UnixTime};
use serde_json::{json, Map, Value};

const RP_ID: &str = "rp.example";
const ORIGIN: &str = "https://rp.example";
/// The `now` of `tests/vectors.rs`: 2026-11-23T00:00:00Z.
const NOW: UnixTime = UnixTime(1_795_392_000);
/// When certificate-bearing vectors are verified (inside the test certificates' validity).
const VERIFY_AT: &str = "2026-06-01T00:00:00Z";

const UP: u8 = AuthenticatorFlags::USER_PRESENT;
const UV: u8 = AuthenticatorFlags::USER_VERIFIED;
const BE: u8 = AuthenticatorFlags::BACKUP_ELIGIBLE;
const BS: u8 = AuthenticatorFlags::BACKUP_STATE;
const AT: u8 = AuthenticatorFlags::ATTESTED_DATA;
const ED: u8 = AuthenticatorFlags::EXTENSION_DATA;

/// One vector file being assembled.
struct Vector {
    name: String,
    doc: Map<String, Value>,
    /// A SECURITY.md expectation the verifier is known not to meet yet.
    known_finding: bool,
}

impl Vector {
    fn new(name: &str, case: Option<u32>, what: &str, ceremony: &str, challenge: &[u8]) -> Self {
        let mut doc = Map::new();
        doc.insert("source".into(), format!("passkeyd: {what}").into());
        doc.insert("synthetic".into(), true.into());
        // Case 0: a positive control that belongs to no single case.
        if let Some(case) = case.filter(|c| *c != 0) {
            doc.insert("security_case".into(), case.into());
        }
        doc.insert("ceremony".into(), ceremony.into());
        doc.insert("rp_id".into(), RP_ID.into());
        doc.insert("origin".into(), ORIGIN.into());
        doc.insert("challenge".into(), base64url_encode(challenge).into());
        doc.insert("user_verification".into(), "preferred".into());
        Self {
            name: name.to_owned(),
            doc,
            known_finding: false,
        }
    }

    fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.doc.insert(key.to_owned(), value.into());
        self
    }

    /// Adds the stored record of `owner`'s credential (authentication).
    fn stored(self, owner: &Credential) -> Self {
        self.with("credential_public_key", base64url_encode(&owner.cose_key()))
            .with("prior_sign_count", owner.sign_count)
            .with("user_handle", base64url_encode(&owner.user_handle))
            .with("stored_backup_eligible", owner.backup_eligible)
    }

    fn fails(mut self, code: &str, hint: &str) -> Self {
        self.name.push_str("_neg");
        self.with(
            "expect",
            json!({"ok": false, "code": code, "error_hint": hint}),
        )
    }

    fn passes(self, expect: Value) -> Self {
        self.with("expect", expect)
    }

    /// Pretty JSON with the members in the corpus order: provenance, RP parameters, the stored
    /// record, then `response` and `expect` (nested objects keep serde_json's sorted order).
    fn to_text(&self) -> String {
        const FIRST: [&str; 7] = [
            "source",
            "synthetic",
            "security_case",
            "ceremony",
            "rp_id",
            "origin",
            "challenge",
        ];
        const LAST: [&str; 2] = ["response", "expect"];
        let middle = self
            .doc
            .keys()
            .map(String::as_str)
            .filter(|k| !FIRST.contains(k) && !LAST.contains(k));
        let members: Vec<String> = FIRST
            .into_iter()
            .chain(middle)
            .chain(LAST)
            .filter_map(|key| {
                let value = self.doc.get(key)?;
                let text = serde_json::to_string_pretty(value).expect("JSON serialises");
                Some(format!(
                    "  {}: {}",
                    json_string(key),
                    text.replace('\n', "\n  ")
                ))
            })
            .collect();
        format!("{{\n{}\n}}\n", members.join(",\n"))
    }

    fn expected(&self) -> (bool, Option<&str>) {
        let expect = &self.doc["expect"];
        (
            expect["ok"].as_bool().unwrap_or(false),
            expect["code"].as_str(),
        )
    }
}

fn flags_json(flags: u8) -> Value {
    json!({
        "up": flags & UP != 0,
        "uv": flags & UV != 0,
        "be": flags & BE != 0,
        "bs": flags & BS != 0,
    })
}

/// A registration's expected outcome, from what the generator put in.
fn registered(
    fmt: &str,
    alg: CoseAlgorithm,
    cose_key: &[u8],
    credential_id: &[u8],
    aaguid: Aaguid,
    flags: u8,
) -> Value {
    json!({
        "ok": true,
        "fmt": fmt,
        "alg": alg.to_i64(),
        "alg_name": alg.name(),
        "credential_public_key": base64url_encode(cose_key),
        "sign_count": 0,
        "aaguid": aaguid.to_string(),
        "credential_id": base64url_encode(credential_id),
        "flags": flags_json(flags),
    })
}

/// The expected outcome of registering `credential` unchanged.
fn registered_as(credential: &Credential, fmt: &str) -> Value {
    registered(
        fmt,
        credential.key.algorithm(),
        &credential.cose_key(),
        &credential.id,
        credential.aaguid,
        UP | UV,
    )
}

fn authenticated(credential: &Credential, sign_count: u32, flags: u8) -> Value {
    let alg = credential.key.algorithm();
    json!({
        "ok": true,
        "alg": alg.to_i64(),
        "alg_name": alg.name(),
        "sign_count": sign_count,
        "credential_id": base64url_encode(&credential.id),
        "flags": flags_json(flags),
    })
}

fn challenge() -> Vec<u8> {
    random_bytes(32)
}

fn json_string(text: &str) -> String {
    Value::String(text.to_owned()).to_string()
}

/// A registration vector for `credential`, its builder changed by `edit`.
fn reg<'c>(
    credential: &'c Credential,
    name: &str,
    case: u32,
    what: &str,
    edit: impl FnOnce(RegistrationBuilder<'c>) -> RegistrationBuilder<'c>,
) -> Vector {
    reg_c(credential, name, case, what, |b, _| edit(b))
}

/// Like [`reg`], with the issued challenge (base64url) passed to `edit`.
fn reg_c<'c>(
    credential: &'c Credential,
    name: &str,
    case: u32,
    what: &str,
    edit: impl FnOnce(RegistrationBuilder<'c>, &str) -> RegistrationBuilder<'c>,
) -> Vector {
    let challenge = challenge();
    let builder = credential.register(&challenge, ORIGIN);
    let response = edit(builder, &base64url_encode(&challenge)).build();
    Vector::new(name, Some(case), what, "registration", &challenge)
        .with("response", response.to_json())
}

/// A registration vector with an x5c statement, verified against the fixtures' root.
fn reg_anchored<'c>(
    f: &Fixtures,
    credential: &'c Credential,
    name: &str,
    case: u32,
    what: &str,
    edit: impl FnOnce(RegistrationBuilder<'c>) -> RegistrationBuilder<'c>,
) -> Vector {
    reg(credential, name, case, what, edit)
        .with("trust_roots", vec![f.ca.pem()])
        .with("verify_at", VERIFY_AT)
}

/// A registration vector whose response JSON is changed by `mutate` after signing.
fn reg_json(
    credential: &Credential,
    name: &str,
    case: u32,
    what: &str,
    mutate: impl FnOnce(&mut Value),
) -> Vector {
    let challenge = challenge();
    let mut response = credential.register(&challenge, ORIGIN).build().to_json();
    mutate(&mut response);
    Vector::new(name, Some(case), what, "registration", &challenge).with("response", response)
}

/// An authentication vector for `credential` (stored as it is), its builder changed by `edit`.
fn auth<'c>(
    credential: &'c Credential,
    name: &str,
    case: u32,
    what: &str,
    edit: impl FnOnce(AssertionBuilder<'c>) -> AssertionBuilder<'c>,
) -> Vector {
    auth_c(credential, name, case, what, |b, _| edit(b))
}

/// Like [`auth`], with the issued challenge (base64url) passed to `edit`.
fn auth_c<'c>(
    credential: &'c Credential,
    name: &str,
    case: u32,
    what: &str,
    edit: impl FnOnce(AssertionBuilder<'c>, &str) -> AssertionBuilder<'c>,
) -> Vector {
    let challenge = challenge();
    let builder = credential.assert(&challenge, ORIGIN);
    let response = edit(builder, &base64url_encode(&challenge)).build();
    Vector::new(name, Some(case), what, "authentication", &challenge)
        .stored(credential)
        .with("response", response.to_json())
}

/// An authentication vector whose response JSON is changed by `mutate` after signing.
fn auth_json(
    credential: &Credential,
    name: &str,
    case: u32,
    what: &str,
    mutate: impl FnOnce(&mut Value),
) -> Vector {
    let challenge = challenge();
    let mut response = credential.assert(&challenge, ORIGIN).build().to_json();
    mutate(&mut response);
    Vector::new(name, Some(case), what, "authentication", &challenge)
        .stored(credential)
        .with("response", response)
}

/// Long-lived inputs shared by many vectors.
struct Fixtures {
    /// User A's ES256 credential, the one most vectors mutate.
    es256: Credential,
    /// User B's credential (the victim of the user-binding cases).
    victim: Credential,
    /// The attestation root the x5c vectors trust.
    ca: AttestationCa,
    /// A root nobody trusts.
    attacker_ca: AttestationCa,
    /// A packed batch certificate from `ca` for [`TEST_AAGUID`].
    batch: AttestationCertificate,
    /// A U2F device certificate from `ca`.
    u2f: AttestationCertificate,
}

mod attestation;
mod authenticator_data;
mod client_data;
mod controls;
mod known_findings;
mod public_key;
mod signature;
mod structure;
mod user_binding;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let findings_dir = match args.as_slice() {
        [] => None,
        [flag, dir] if flag == "--findings" => Some(PathBuf::from(dir)),
        _ => {
            eprintln!("usage: generate_vectors [--findings DIR]");
            return ExitCode::from(2);
        }
    };

    let ca = AttestationCa::generate("passkeyd test attestation root");
    let fixtures = Fixtures {
        es256: Credential::new(CoseAlgorithm::Es256, RP_ID),
        victim: Credential::new(CoseAlgorithm::Es256, RP_ID),
        batch: ca.issue(&CertificateParams::packed(TEST_AAGUID)),
        u2f: ca.issue(&CertificateParams::fido_u2f()),
        attacker_ca: AttestationCa::generate("passkeyd attacker root"),
        ca,
    };
    let mut vectors = Vec::new();
    controls::cases(&fixtures, &mut vectors);
    client_data::cases(&fixtures, &mut vectors);
    structure::cases(&fixtures, &mut vectors);
    authenticator_data::cases(&fixtures, &mut vectors);
    public_key::cases(&fixtures, &mut vectors);
    attestation::cases(&fixtures, &mut vectors);
    signature::cases(&fixtures, &mut vectors);
    user_binding::cases(&fixtures, &mut vectors);
    known_findings::cases(&fixtures, &mut vectors);

    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/passkeyd");
    std::fs::create_dir_all(&dir).expect("create the vector directory");
    for entry in std::fs::read_dir(&dir).expect("read the vector directory") {
        let path = entry.expect("directory entry").path();
        if path.extension().is_some_and(|e| e == "json") {
            std::fs::remove_file(&path).expect("remove an old vector");
        }
    }

    let mut names = std::collections::BTreeSet::new();
    let mut findings = Vec::new();
    let mut unexpected = 0;
    let mut written = 0;
    for vector in vectors {
        assert!(
            names.insert(vector.name.clone()),
            "duplicate vector {}",
            vector.name
        );
        let text = vector.to_text();
        let report = Case::from_json(text.as_bytes())
            .expect("the vector fits the case schema")
            .run(NOW)
            .expect("the case parameters are valid");
        let (ok, code) = vector.expected();
        let file = format!("{}.json", vector.name);
        if report.ok != ok || report.code != code {
            let label = if vector.known_finding {
                "known finding"
            } else {
                unexpected += 1;
                "UNEXPECTED"
            };
            println!(
                "{label} {}: expected {}, the verifier gives {}",
                vector.name,
                code.unwrap_or("ok"),
                report.code.unwrap_or("ok"),
            );
            findings.push((file, text));
            continue;
        }
        std::fs::write(dir.join(&file), text).expect("write the vector");
        written += 1;
    }
    println!("wrote {written} vectors to {}", dir.display());
    if let Some(findings_dir) = findings_dir.filter(|_| !findings.is_empty()) {
        std::fs::create_dir_all(&findings_dir).expect("create the findings directory");
        for (file, text) in &findings {
            std::fs::write(findings_dir.join(file), text).expect("write a finding");
        }
        println!(
            "saved {} findings in {}",
            findings.len(),
            findings_dir.display()
        );
    }
    if unexpected == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
