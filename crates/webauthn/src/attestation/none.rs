//! [None attestation](https://www.w3.org/TR/webauthn-3/#sctn-none-attestation) (L3 §8.7).

use super::{AttestationType, Statement, StatementInput};
use crate::error::AttestationError;

/// `attStmt` must be the empty map.
pub(crate) fn verify<'a>(input: &StatementInput<'a>) -> Result<Statement<'a>, AttestationError> {
    if !input.att_stmt.is_empty() {
        return Err(AttestationError::Malformed(
            "attStmt must be empty for none",
        ));
    }
    Ok(Statement {
        attestation_type: AttestationType::None,
        x5c: Vec::new(),
        statement_algorithm: None,
    })
}
