//! The file formats an import reads: each turns lines into [`Parsed`](super::Parsed) records.

pub(crate) mod hanko;
pub(crate) mod kratos;
pub(crate) mod passkeyd;

use serde_json::Value;

/// A JSON object's string member.
pub(crate) fn text<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value.get(key).and_then(Value::as_str)
}

/// A JSON object's boolean member, false when absent.
pub(crate) fn flag(value: &Value, key: &str) -> bool {
    value.get(key).and_then(Value::as_bool).unwrap_or(false)
}

/// A sign count: a JSON number from 0 to 2^32 - 1 (absent: 0).
pub(crate) fn sign_count(value: Option<&Value>) -> Result<u32, &'static str> {
    match value {
        None | Some(Value::Null) => Ok(0),
        Some(v) => v
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .ok_or("sign_count_invalid"),
    }
}

/// Transports as a list of strings, or of objects with a `name` (Hanko's rows).
pub(crate) fn transports(value: Option<&Value>) -> Vec<String> {
    let Some(Value::Array(items)) = value else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|t| t.as_str().or_else(|| text(t, "name")))
        .map(str::to_owned)
        .collect()
}

/// An optional RFC 3339 time member; absent or null is `None`, anything else unparsable an
/// error. Go's zero time (year 1) counts as absent.
pub(crate) fn time(value: &Value, key: &str) -> Result<Option<i64>, &'static str> {
    match value.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => match super::rfc3339(s) {
            Some(t) if t <= -62_000_000_000 => Ok(None),
            Some(t) => Ok(Some(t)),
            None => Err("time_invalid"),
        },
        Some(_) => Err("time_invalid"),
    }
}
