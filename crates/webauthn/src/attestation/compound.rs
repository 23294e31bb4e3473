//! [Compound attestation](https://www.w3.org/TR/webauthn-3/#sctn-compound-attestation) (L3 §8.9):
//! several statements about one credential, each verified on its own.

use ciborium::value::Value;

use super::{
    verify_single, AttestationFormat, AttestationType, StatementInput, VerifiedAttestation,
};
use crate::cbor;
use crate::error::{AttestationError, VerifyError};

/// Upper bound on sub-statements, to bound the work one response can ask for.
const MAX_SUB_STATEMENTS: usize = 8;

/// Verifies every sub-statement (all must verify: passkeyd's policy is the strict one) and
/// reports the strongest.
pub(crate) fn verify(input: &StatementInput<'_>) -> Result<VerifiedAttestation, VerifyError> {
    let fail = |source| VerifyError::attestation(AttestationFormat::Compound, source);
    let Value::Array(items) = input.att_stmt_value else {
        return Err(fail(AttestationError::Malformed(
            "attStmt must be an array",
        )));
    };
    // At least two statements (a single one would just be that statement).
    if items.len() < 2 || items.len() > MAX_SUB_STATEMENTS {
        return Err(fail(AttestationError::Malformed(
            "compound needs between 2 and 8 statements",
        )));
    }
    let mut verified = Vec::with_capacity(items.len());
    for item in items {
        let Value::Map(entries) = item else {
            return Err(fail(AttestationError::Malformed(
                "a sub-statement is not a map",
            )));
        };
        let fmt = cbor::map_get(entries, "fmt").and_then(Value::as_text);
        let stmt = cbor::map_get(entries, "attStmt");
        let (Some(fmt), Some(stmt)) = (fmt, stmt) else {
            return Err(fail(AttestationError::Malformed(
                "a sub-statement lacks fmt or attStmt",
            )));
        };
        let format = AttestationFormat::from_fmt(fmt)
            .ok_or_else(|| VerifyError::UnknownAttestationFormat(fmt.to_owned()))?;
        if format == AttestationFormat::Compound {
            return Err(fail(AttestationError::Malformed(
                "a compound statement cannot contain another compound statement",
            )));
        }
        let sub_input = StatementInput {
            att_stmt: stmt.as_map().map_or(&[], Vec::as_slice),
            att_stmt_value: stmt,
            ..*input
        };
        verified.push(verify_single(format, &sub_input)?);
    }
    let strongest = verified
        .iter()
        .max_by_key(|v| strength(v))
        .cloned()
        .ok_or_else(|| fail(AttestationError::Malformed("no statement")))?;
    Ok(VerifiedAttestation {
        format: AttestationFormat::Compound,
        sub_statements: verified,
        ..strongest
    })
}

fn strength(v: &VerifiedAttestation) -> u8 {
    match (v.attestation_type, v.trusted) {
        (AttestationType::None, _) => 0,
        (AttestationType::SelfAttestation, _) => 1,
        (_, false) => 2,
        (_, true) => 3,
    }
}

#[cfg(all(test, feature = "test-util"))]
mod tests;
