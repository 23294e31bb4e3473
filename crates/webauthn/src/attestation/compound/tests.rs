use ciborium::value::Value;

use crate::test_util::{random_bytes, Credential};
use crate::{
    verify_registration, AttestationFormat, AttestationPolicy, AttestationType, CoseAlgorithm,
    ExpectedRegistration, RelyingParty, UnixTime, VerifyError,
};

const ORIGIN: &str = "https://rp.example";

/// Registers with a packed self statement rewritten into `compound` by `wrap`, which receives
/// the packed sub-statement `{fmt, attStmt}` and returns the compound `attStmt`.
fn register(wrap: impl Fn(Value) -> Value) -> Result<crate::VerifiedRegistration, VerifyError> {
    let credential = Credential::new(CoseAlgorithm::Es256, "rp.example");
    let challenge = random_bytes(32);
    let response = credential
        .register(&challenge, ORIGIN)
        .packed_self()
        .edit_attestation_object(move |object| {
            let fmt = take(object, "fmt");
            let stmt = take(object, "attStmt");
            let sub = Value::Map(vec![
                (Value::Text("fmt".into()), fmt),
                (Value::Text("attStmt".into()), stmt),
            ]);
            object.push((Value::Text("fmt".into()), Value::Text("compound".into())));
            object.push((Value::Text("attStmt".into()), wrap(sub)));
        })
        .build();
    let rp = RelyingParty::new("rp.example", [ORIGIN]);
    let policy = AttestationPolicy::default();
    let expected = ExpectedRegistration::new(&rp, &challenge, &policy);
    verify_registration(&response.to_response(), &expected, UnixTime(1_795_392_000))
}

fn take(object: &mut Vec<(Value, Value)>, key: &str) -> Value {
    let at = object
        .iter()
        .position(|(k, _)| k.as_text() == Some(key))
        .expect("member present");
    object.remove(at).1
}

fn with_fmt(sub: &Value, fmt: &str) -> Value {
    let Value::Map(entries) = sub else {
        panic!("sub-statement is a map")
    };
    let mut entries = entries.clone();
    entries[0].1 = Value::Text(fmt.into());
    Value::Map(entries)
}

#[test]
fn two_valid_statements_verify() {
    let verified = register(|sub| Value::Array(vec![sub.clone(), sub])).unwrap();
    assert_eq!(verified.attestation.format, AttestationFormat::Compound);
    assert_eq!(
        verified.attestation.attestation_type,
        AttestationType::SelfAttestation
    );
    assert_eq!(verified.attestation.sub_statements.len(), 2);
}

#[test]
fn fewer_than_two_or_too_many_statements_are_refused() {
    for count in [0, 1, 9] {
        let error = register(|sub| Value::Array(vec![sub; count])).unwrap_err();
        assert_eq!(error.code(), "attestation_invalid", "{count} statements");
    }
}

#[test]
fn nested_compound_is_refused() {
    let error = register(|sub| {
        let inner = Value::Map(vec![
            (Value::Text("fmt".into()), Value::Text("compound".into())),
            (
                Value::Text("attStmt".into()),
                Value::Array(vec![sub.clone(), sub.clone()]),
            ),
        ]);
        Value::Array(vec![sub, inner])
    })
    .unwrap_err();
    assert_eq!(error.code(), "attestation_invalid");
    assert!(error.to_string().contains("compound"), "{error}");
}

#[test]
fn every_statement_must_verify() {
    // The second statement claims `none` but carries a packed statement: not empty.
    let error =
        register(|sub| Value::Array(vec![sub.clone(), with_fmt(&sub, "none")])).unwrap_err();
    assert_eq!(error.code(), "attestation_invalid");
    // An unknown format inside is not skipped.
    let error =
        register(|sub| Value::Array(vec![sub.clone(), with_fmt(&sub, "Packed")])).unwrap_err();
    assert_eq!(error.code(), "attestation_unsupported");
    // A member that is not a statement map.
    let error = register(|sub| Value::Array(vec![sub, Value::Integer(1.into())])).unwrap_err();
    assert_eq!(error.code(), "attestation_invalid");
}

#[test]
fn a_map_statement_is_not_compound() {
    let error = register(|sub| sub).unwrap_err();
    assert_eq!(error.code(), "attestation_invalid");
}
