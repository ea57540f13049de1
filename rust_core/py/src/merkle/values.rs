//! Python leaf values seen by the shared value → ABI conversion (`nftreg_eth::value`): this file
//! only says what a Python object *is* (str, int, bool, bytes, list); the rules and messages are
//! the shared ones. Errors name the value index and field (`values[3][1] (uint256): …`).

use pyo3::prelude::*;
use pyo3::types::{PyBool, PyByteArray, PyBytes, PyInt, PyList, PySequence, PyString, PyTuple};

use nftreg_eth::abi::{self, AbiType};
use nftreg_eth::value::{self, Input, Source};
use nftreg_eth::{EthError, Hash};

use crate::errors::{invalid, Result};

fn bad(msg: impl Into<String>) -> EthError {
    EthError::BadValue { path: String::new(), msg: msg.into() }
}

pub fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "?".into())
}

/// A list or tuple (not str/bytes), as a sequence.
pub fn sequence<'py>(obj: &Bound<'py, PyAny>) -> Option<Bound<'py, PySequence>> {
    if obj.is_instance_of::<PyList>() || obj.is_instance_of::<PyTuple>() {
        return obj.downcast::<PySequence>().ok().cloned();
    }
    None
}

/// One Python value, with what it is read once (an int is read into a word here: it is the
/// only Python-specific reading the conversion needs).
pub struct Py<'py> {
    obj: Bound<'py, PyAny>,
    text: Option<Bound<'py, PyString>>,
    int: Option<(Option<[u8; 32]>, bool)>,
    /// The bytes of a buffer other than `bytes` (bytearray, memoryview, ...), copied once.
    buffer: Option<Vec<u8>>,
    name: String,
}

impl<'py> Py<'py> {
    pub fn new(obj: Bound<'py, PyAny>) -> Py<'py> {
        let text = obj.downcast::<PyString>().ok().cloned();
        let int = (text.is_none() && obj.is_instance_of::<PyInt>() && !obj.is_instance_of::<PyBool>()).then(|| read_int(&obj));
        let other = text.is_none() && int.is_none() && !obj.is_instance_of::<PyBool>() && !obj.is_instance_of::<PyBytes>();
        let buffer = (other && (obj.is_instance_of::<PyByteArray>() || might_be_buffer(&obj)))
            .then(|| crate::buffers::bytes_like(&obj, "").ok())
            .flatten();
        let name = if other && buffer.is_none() { type_name(&obj) } else { String::new() };
        Py { obj, text, int, buffer, name }
    }
}

impl Source for Py<'_> {
    fn input(&self) -> Input<'_> {
        if let Some(s) = &self.text {
            return match s.to_str() {
                Ok(s) => Input::Str(s),
                Err(_) => Input::Other("str (not valid UTF-8)"),
            };
        }
        if let Some((word, negative)) = self.int {
            return Input::Int { word, negative };
        }
        if let Ok(b) = self.obj.downcast::<PyBool>() {
            return Input::Bool(b.is_true());
        }
        if let Ok(b) = self.obj.downcast::<PyBytes>() {
            return Input::Bytes(b.as_bytes());
        }
        if let Some(b) = &self.buffer {
            return Input::Bytes(b);
        }
        Input::Other(&self.name)
    }

    fn items(&self) -> Option<std::result::Result<Vec<Self>, EthError>> {
        let seq = sequence(&self.obj)?;
        let n = match seq.len() {
            Ok(n) => n,
            Err(_) => return Some(Err(bad("could not read list length"))),
        };
        Some((0..n).map(|i| seq.get_item(i).map(Py::new).map_err(|_| bad("could not read list item"))).collect())
    }
}

/// Objects that may export the buffer protocol (memoryview, numpy arrays): not the builtin
/// containers and scalars, for which asking would only raise.
fn might_be_buffer(obj: &Bound<'_, PyAny>) -> bool {
    !(obj.is_instance_of::<PyList>()
        || obj.is_instance_of::<PyTuple>()
        || obj.is_instance_of::<pyo3::types::PyDict>()
        || obj.is_instance_of::<pyo3::types::PyFloat>()
        || obj.is_none())
}

/// A Python int as a 256-bit two's-complement word (`None` when wider) and its sign, without
/// raising: the i64 fast path, else 64-bit limbs peeled off (mask, then arithmetic shift).
fn read_int(obj: &Bound<'_, PyAny>) -> (Option<[u8; 32]>, bool) {
    let mut overflow: std::os::raw::c_int = 0;
    // SAFETY: `obj` is a live int (checked by the caller) and the GIL is held.
    let v = unsafe { pyo3::ffi::PyLong_AsLongLongAndOverflow(obj.as_ptr(), &mut overflow) };
    if overflow == 0 {
        if v == -1 && PyErr::take(obj.py()).is_some() {
            return (None, false);
        }
        let mut w = if v < 0 { [0xff; 32] } else { [0; 32] };
        w[24..].copy_from_slice(&v.to_be_bytes());
        return (Some(w), v < 0);
    }
    let negative = overflow < 0;
    let mut limbs = [0u64; 4]; // least significant first
    let mut cur = obj.clone();
    let mut k = 0;
    loop {
        let mut of: std::os::raw::c_int = 0;
        // SAFETY: as above; `cur` is an int (the result of `>>` on an int).
        let v = unsafe { pyo3::ffi::PyLong_AsLongLongAndOverflow(cur.as_ptr(), &mut of) };
        if of == 0 {
            if k == 4 {
                if v != if negative { -1 } else { 0 } {
                    return (None, negative);
                }
            } else {
                limbs[k] = v as u64;
                let fill = if v < 0 { u64::MAX } else { 0 };
                for l in limbs.iter_mut().skip(k + 1) {
                    *l = fill;
                }
            }
            break;
        }
        if k == 4 {
            return (None, negative);
        }
        // SAFETY: as above.
        limbs[k] = unsafe { pyo3::ffi::PyLong_AsUnsignedLongLongMask(cur.as_ptr()) };
        k += 1;
        cur = match cur.rshift(64) {
            Ok(c) => c,
            Err(_) => return (None, negative),
        };
    }
    let mut w = [0u8; 32];
    for (i, l) in limbs.iter().enumerate() {
        w[32 - 8 * (i + 1)..32 - 8 * i].copy_from_slice(&l.to_be_bytes());
    }
    (Some(w), negative)
}

/// A leaf value as a list/tuple of exactly one field per type, or the error naming the value.
fn leaf_fields<'py>(obj: &Bound<'py, PyAny>, types: &[AbiType], index: usize) -> std::result::Result<Bound<'py, PySequence>, EthError> {
    let seq = sequence(obj).ok_or_else(|| EthError::BadValue {
        path: format!("values[{index}]"),
        msg: format!("expected a list or tuple of {} fields, got {}", types.len(), type_name(obj)),
    })?;
    let n = seq.len().unwrap_or(usize::MAX);
    if n != types.len() {
        return Err(EthError::BadValue {
            path: format!("values[{index}]"),
            msg: format!("wrong arity: the leaf encoding has {} types, the value has {n} fields", types.len()),
        });
    }
    Ok(seq)
}

/// Put the value index, field and type on a conversion error of field `f`.
pub fn field_error(types: &[AbiType], index: usize, (f, e): (usize, EthError)) -> EthError {
    match (e, types.get(f)) {
        (EthError::BadValue { path, msg }, Some(t)) => {
            EthError::BadValue { path: format!("values[{index}][{f}]{path} ({})", t.name()), msg }
        }
        (other, _) => other,
    }
}

/// ABI-encode one leaf value (a list/tuple with one entry per type) into `out`; errors name the
/// value index, field and type.
pub fn encode_leaf(obj: &Bound<'_, PyAny>, types: &[AbiType], index: usize, out: &mut Vec<u8>) -> std::result::Result<(), EthError> {
    let seq = leaf_fields(obj, types, index)?;
    value::encode_fields(types, |f| seq.get_item(f).map(Py::new).map_err(|_| bad("could not read field")), out)
        .map_err(|e| field_error(types, index, e))
}

/// One field of a leaf value, copied out of Python under the GIL (text and bytes into an arena
/// shared by a chunk of values) so that parsing and ABI encoding can run on any thread. What a
/// field *is* is decided by [`Py`], exactly as for [`encode_leaf`].
pub enum Field {
    /// Text: offset and length in the arena (valid UTF-8, copied from a `str`).
    Str(u32, u32),
    Int(Option<[u8; 32]>, bool),
    Bool(bool),
    /// Raw bytes (bytes, bytearray, memoryview): offset and length in the arena.
    Bytes(u32, u32),
    /// Anything else: its type name in the arena.
    Other(u32, u32),
    /// The field could not be read (the sequence's `__getitem__` raised).
    Unreadable,
}

fn stash(arena: &mut Vec<u8>, b: &[u8]) -> (u32, u32) {
    let off = arena.len() as u32;
    arena.extend_from_slice(b);
    (off, b.len() as u32)
}

/// Copy leaf value `obj`'s fields into `fields` / `arena` (under the GIL; nothing is parsed).
/// Fails, adding nothing, when the value is not a list/tuple of one field per type.
pub fn extract_leaf(
    obj: &Bound<'_, PyAny>,
    types: &[AbiType],
    index: usize,
    arena: &mut Vec<u8>,
    fields: &mut Vec<Field>,
) -> std::result::Result<(), EthError> {
    let seq = leaf_fields(obj, types, index)?;
    for f in 0..types.len() {
        let Ok(item) = seq.get_item(f) else {
            fields.push(Field::Unreadable);
            continue;
        };
        let py = Py::new(item);
        fields.push(match py.input() {
            Input::Str(s) => {
                let (o, l) = stash(arena, s.as_bytes());
                Field::Str(o, l)
            }
            Input::Int { word, negative } => Field::Int(word, negative),
            Input::Bool(b) => Field::Bool(b),
            Input::Bytes(b) => {
                let (o, l) = stash(arena, b);
                Field::Bytes(o, l)
            }
            Input::Other(name) => {
                let (o, l) = stash(arena, name.as_bytes());
                Field::Other(o, l)
            }
            Input::Number(_) => Field::Unreadable, // never produced for Python values
        });
    }
    Ok(())
}

/// An extracted field seen by the shared conversion (scalars, `string` and `bytes`; arrays
/// never take this path).
pub struct Owned<'a> {
    pub field: &'a Field,
    pub arena: &'a [u8],
}

impl Owned<'_> {
    fn slice(&self, o: u32, l: u32) -> &[u8] {
        &self.arena[o as usize..(o + l) as usize]
    }
}

impl Source for Owned<'_> {
    fn input(&self) -> Input<'_> {
        match *self.field {
            Field::Str(o, l) => match std::str::from_utf8(self.slice(o, l)) {
                Ok(s) => Input::Str(s),
                Err(_) => Input::Other("str (not valid UTF-8)"),
            },
            Field::Int(word, negative) => Input::Int { word, negative },
            Field::Bool(b) => Input::Bool(b),
            Field::Bytes(o, l) => Input::Bytes(self.slice(o, l)),
            Field::Other(o, l) => Input::Other(std::str::from_utf8(self.slice(o, l)).unwrap_or("?")),
            Field::Unreadable => Input::Other("?"),
        }
    }

    fn items(&self) -> Option<std::result::Result<Vec<Self>, EthError>> {
        None
    }
}

/// ABI-encode one extracted leaf (its `types.len()` fields) into `out`; the same bytes and
/// errors as [`encode_leaf`] on the Python value.
pub fn encode_extracted(fields: &[Field], arena: &[u8], types: &[AbiType], index: usize, out: &mut Vec<u8>) -> std::result::Result<(), EthError> {
    value::encode_fields(
        types,
        |f| match &fields[f] {
            Field::Unreadable => Err(bad("could not read field")),
            field => Ok(Owned { field, arena }),
        },
        out,
    )
    .map_err(|e| field_error(types, index, e))
}

/// Raw bytes from `bytes`/`bytearray`/`memoryview` or a 0x-hex string.
pub fn raw_bytes(obj: &Bound<'_, PyAny>) -> std::result::Result<Vec<u8>, EthError> {
    value::raw_bytes(Py::new(obj.clone()).input())
}

/// A 32-byte hash from 0x-hex (lower-case `0x`, 64 digits) or 32 bytes; `what` names it.
pub fn hash32(obj: &Bound<'_, PyAny>, what: &str) -> Result<Hash> {
    let raw = if let Ok(s) = obj.downcast::<PyString>() {
        let s = s.to_str()?;
        let h = s.strip_prefix("0x").ok_or_else(|| invalid(format!("{what}: expected 0x-prefixed hex")))?;
        if h.len() != 64 {
            return Err(invalid(format!("{what}: expected 32 bytes (64 hex digits), got {} digits", h.len())));
        }
        let mut out = [0u8; 32];
        if !abi::decode_hex_exact(h.as_bytes(), &mut out).0 {
            return Err(invalid(format!("{what}: not valid hex")));
        }
        return Ok(out);
    } else {
        crate::buffers::bytes_like(obj, what)?
    };
    raw.as_slice().try_into().map_err(|_| invalid(format!("{what}: expected 32 bytes, got {}", raw.len())))
}

/// A list of 32-byte hashes.
pub fn hashes(obj: &Bound<'_, PyAny>, what: &str) -> Result<Vec<Hash>> {
    if obj.is_instance_of::<PyString>() || obj.is_instance_of::<PyBytes>() {
        return Err(invalid(format!("{what} must be a list of 32-byte hashes")));
    }
    let seq = obj.downcast::<PySequence>().map_err(|_| invalid(format!("{what} must be a list")))?;
    (0..seq.len()?).map(|i| hash32(&seq.get_item(i)?, &format!("{what}[{i}]"))).collect()
}

/// A 32-byte hash from 0x-hex or bytes, or None (no error object: used per item in batches).
pub fn try_hash32(obj: &Bound<'_, PyAny>) -> Option<Hash> {
    let mut out = [0u8; 32];
    if let Ok(s) = obj.downcast::<PyString>() {
        let h = s.to_str().ok()?.strip_prefix("0x")?;
        abi::decode_hex_exact(h.as_bytes(), &mut out).0.then_some(out)
    } else if let Ok(b) = obj.downcast::<PyBytes>() {
        b.as_bytes().try_into().ok()
    } else {
        None
    }
}
