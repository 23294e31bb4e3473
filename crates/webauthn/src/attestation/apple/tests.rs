use crate::case::Case;
use crate::json::{base64url_decode, base64url_encode};
use crate::UnixTime;

const CASE: &str = include_str!("../../../tests/vectors/py_webauthn/apple_passkey_2021.json");

fn run(edit: impl FnOnce(&mut serde_json::Value)) -> crate::case::CaseReport {
    let mut doc: serde_json::Value = serde_json::from_str(CASE).unwrap();
    edit(&mut doc);
    let case = Case::from_json(doc.to_string().as_bytes()).unwrap();
    case.run(UnixTime(0)).unwrap()
}

#[test]
fn the_corpus_case_verifies_as_anonymization_ca() {
    let report = run(|_| {});
    assert!(report.ok, "{report:?}");
    assert_eq!(report.attestation_type, Some("AnonCA"));
    assert_eq!(report.trusted, Some(true));
}

#[test]
fn a_nonce_for_other_client_data_is_refused() {
    // A space inside clientDataJSON keeps every member valid but changes its hash, so the
    // certificate's nonce no longer matches this registration.
    let report = run(|doc| {
        let cdj = doc["response"]["response"]["clientDataJSON"]
            .as_str()
            .unwrap();
        let mut bytes = base64url_decode(cdj).unwrap();
        bytes.insert(1, b' ');
        doc["response"]["response"]["clientDataJSON"] = base64url_encode(&bytes).into();
    });
    assert_eq!(report.code, Some("attestation_invalid"), "{report:?}");
    assert!(report.message.unwrap().contains("nonce"));
}

#[test]
fn the_chain_must_reach_apples_root_when_roots_are_given() {
    let report = run(|doc| {
        doc["trust_roots"] = serde_json::json!([include_str!(
            "../../../tests/vectors/roots/yubico_u2f_root_ca_serial_457200631.pem"
        )]);
    });
    assert_eq!(report.code, Some("attestation_untrusted"), "{report:?}");
}
