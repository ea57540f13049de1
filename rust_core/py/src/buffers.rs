//! Helpers to accept any bytes-like object (bytes, bytearray, memoryview, numpy) or 0x-hex.
//!
//! The wheel targets the stable ABI for CPython >= 3.10, where the buffer protocol is not part
//! of the limited API; `bytes` is read in place and other buffers go through `bytes(obj)`
//! (one copy).

use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyString};

use crate::errors::{invalid, Result};

/// The bytes of a bytes-like object without a copy when it is `bytes` (read in place), else a
/// copy as `bytes_like` makes one (for large request bodies handed to Rust whole).
pub fn bytes_view<'a>(obj: &'a Bound<'_, PyAny>, what: &str) -> Result<std::borrow::Cow<'a, [u8]>> {
    if let Ok(b) = obj.downcast::<PyBytes>() {
        return Ok(std::borrow::Cow::Borrowed(b.as_bytes()));
    }
    bytes_like(obj, what).map(std::borrow::Cow::Owned)
}

/// Copy the bytes of a bytes-like object or a 0x-hex string. `what` names the argument in
/// error messages.
pub fn bytes_like(obj: &Bound<'_, PyAny>, what: &str) -> Result<Vec<u8>> {
    if let Ok(b) = obj.downcast::<PyBytes>() {
        return Ok(b.as_bytes().to_vec());
    }
    if let Ok(s) = obj.downcast::<PyString>() {
        let s = s.to_str()?;
        let h = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")).unwrap_or(s);
        return hex::decode(h).map_err(|e| invalid(format!("{what}: not valid hex ({e})")));
    }
    if let Ok(b) = obj.downcast::<PyByteArray>() {
        return Ok(b.to_vec());
    }
    // memoryview() accepts only real buffers (bytes(5) would make five zero bytes).
    let builtins = obj.py().import("builtins")?;
    let view = builtins
        .getattr("memoryview")?
        .call1((obj,))
        .map_err(|_| invalid(format!("{what}: expected bytes, a buffer or a 0x-hex string")))?;
    let as_bytes = view.call_method0("tobytes")?;
    Ok(as_bytes.downcast::<PyBytes>()?.as_bytes().to_vec())
}
