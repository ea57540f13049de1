//! The JSON parser of proofs bodies, worded as the Python API words every JSON body it
//! refuses (`nftreg.claims.parse_json`, then the route's "request body is not JSON (…)").

use jiter::{JsonError, JsonErrorType, JsonValue, LinePosition};

use crate::VerifyError;

/// Nesting limit of jiter (and so of pydantic-core); the API's `MAX_JSON_DEPTH`.
pub const MAX_JSON_DEPTH: usize = 200;

/// Parse JSON text as the API does (NaN and infinities allowed, numbers kept exact).
pub fn parse_json(data: &[u8]) -> Result<JsonValue<'_>, VerifyError> {
    JsonValue::parse(data, true).map_err(|e| VerifyError(not_json(data, &e)))
}

/// `request body is not JSON (<what> at position <n>)`, with the position computed as the
/// API computes it from jiter's "line L column C" (a byte offset, capped at the number of
/// characters of the body decoded with replacement).
pub fn not_json(data: &[u8], e: &JsonError) -> String {
    let pos = LinePosition::find(data, api_index(e));
    let (line, col) = (pos.line, pos.column);
    let mut start: usize = 0;
    for _ in 1..line {
        start = match data[start.min(data.len())..].iter().position(|&b| b == b'\n') {
            Some(i) => start + i + 1,
            None => 0,
        };
    }
    let byte_pos = (start + col).saturating_sub(1);
    let msg = match e.error_type {
        JsonErrorType::RecursionLimitExceeded => format!("nested deeper than {MAX_JSON_DEPTH} levels"),
        JsonErrorType::NumberOutOfRange => "number out of range (more than 4300 digits)".to_string(),
        ref other => other.to_string(),
    };
    let chars = String::from_utf8_lossy(data).chars().count();
    format!("request body is not JSON ({msg} at position {})", byte_pos.min(chars))
}

/// jiter 0.10 reports invalid UTF-8 in a string (its only `InvalidUnicodeCodePoint`) one byte
/// further on than the release the API's parser is built with (0.19); report it as 0.19 does.
fn api_index(e: &JsonError) -> usize {
    match e.error_type {
        JsonErrorType::InvalidUnicodeCodePoint => e.index.saturating_sub(1),
        _ => e.index,
    }
}

/// The last value of `key` in an object (duplicate keys: the last one wins, as in a Python
/// dict); `None` when `v` is not an object or has no such key.
pub fn field<'a, 'j>(v: &'a JsonValue<'j>, key: &str) -> Option<&'a JsonValue<'j>> {
    match v {
        JsonValue::Object(o) => o.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v),
        _ => None,
    }
}

/// The Python name of a JSON value's type (for messages).
pub fn kind(v: &JsonValue<'_>) -> &'static str {
    match v {
        JsonValue::Null => "NoneType",
        JsonValue::Bool(_) => "bool",
        JsonValue::Int(_) | JsonValue::BigInt(_) => "int",
        JsonValue::Float(_) => "float",
        JsonValue::Str(_) => "str",
        JsonValue::Array(_) => "list",
        JsonValue::Object(_) => "dict",
    }
}
