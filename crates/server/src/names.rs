//! Names a client gives us (user names, display names, friendly names, app user IDs): what is
//! accepted, and the one form it is stored in.
//!
//! A name is shown to people: in the authenticator's account picker, on the account page, in
//! the audit trail. So it must look like what it is. Control characters and Unicode format
//! characters (general category Cf: bidi overrides such as U+202E, zero-width spaces and
//! joiners, the BOM) are refused: they let a name display as another (`alice`, U+202E,
//! `moc.live` shows as `aliceevil.com`), or two names that look the same differ. What is
//! accepted is stored in Normalization Form C, so a name typed on a system that sends
//! decomposed accents (NFD) is the same name.

use unicode_normalization::UnicodeNormalization;
use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

use crate::error::ApiError;

/// The longest user name, display name or friendly name accepted, in bytes (after NFC).
pub const MAX_NAME_BYTES: usize = 256;
/// The longest app user ID accepted, in bytes.
pub const MAX_USER_ID_BYTES: usize = 128;

/// Whether `c` may not appear in a name: a control or a format character.
fn hidden(c: char) -> bool {
    c.is_control() || c.general_category() == GeneralCategory::Format
}

/// Refuses an empty, oversized name, or one with control or format characters. For names that
/// are only compared (lookups), or already stored; [`clean_name`] for names to store.
pub fn check_name(field: &'static str, value: &str, max: usize) -> Result<(), ApiError> {
    if value.trim().is_empty() || value.len() > max || value.chars().any(hidden) {
        return Err(ApiError::InvalidRequest(format!(
            "{field} must be 1 to {max} bytes of printable text, without control or format \
             characters (such as bidi overrides or zero-width characters)"
        )));
    }
    Ok(())
}

/// The name as stored: `value` in NFC, after [`check_name`].
pub fn clean_name(field: &'static str, value: &str, max: usize) -> Result<String, ApiError> {
    let normalized: String = value.nfc().collect();
    check_name(field, &normalized, max)?;
    Ok(normalized)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_names_pass_in_nfc() {
        assert_eq!(clean_name("n", "alice", 16).unwrap(), "alice");
        // "é" as e + COMBINING ACUTE ACCENT becomes the one precomposed character.
        assert_eq!(clean_name("n", "Jose\u{301}", 16).unwrap(), "Jos\u{e9}");
        assert_eq!(
            clean_name("n", "Zoë Ørsted 李", 32).unwrap(),
            "Zoë Ørsted 李"
        );
    }

    #[test]
    fn hidden_characters_are_refused() {
        for bad in [
            "alice\u{202e}moc.live", // RIGHT-TO-LEFT OVERRIDE
            "al\u{200b}ice",         // ZERO WIDTH SPACE
            "al\u{200d}ice",         // ZERO WIDTH JOINER
            "\u{feff}alice",         // BOM
            "alice\u{2066}",         // LEFT-TO-RIGHT ISOLATE
            "ali\u{ad}ce",           // SOFT HYPHEN
            "alice\n",
            "ali\u{7}ce",
            "   ",
            "",
        ] {
            let err = clean_name("userName", bad, 64).unwrap_err();
            assert_eq!(err.code(), "invalid_request", "{bad:?}");
        }
    }

    #[test]
    fn the_limit_is_on_the_stored_form() {
        assert!(clean_name("n", &"a".repeat(16), 16).is_ok());
        assert!(clean_name("n", &"a".repeat(17), 16).is_err());
    }
}
