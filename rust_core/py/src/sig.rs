//! Binding for `nftreg-sig`: batch inputs are converted under the GIL, verified on all cores
//! with the GIL released. Batch-shape errors raise; a bad item gives None / False.

use pyo3::prelude::*;
use pyo3::types::{PyBool, PyByteArray, PyBytes, PyDict, PyFloat, PyInt, PyList, PyMapping, PySequence, PyString, PyTuple};
use rayon::prelude::*;

use nftreg_eth::abi;
use nftreg_eth::keccak::Lanes;
use nftreg_sig::serde_json::{self, Map, Number, Value};
use nftreg_sig::{ecdsa, ed25519, eip712};

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{mpsc, Arc};

use crate::errors::{invalid, invariant, Result};

/// Per-item bytes: `bytes`/`bytearray`/buffers as-is, `str` as 0x-hex; None if malformed.
fn item_bytes(obj: &Bound<'_, PyAny>) -> Option<Vec<u8>> {
    if let Ok(b) = obj.downcast::<PyBytes>() {
        return Some(b.as_bytes().to_vec());
    }
    if let Ok(s) = obj.downcast::<PyString>() {
        return abi::parse_hex_bytes(s.to_str().ok()?, "").ok();
    }
    crate::buffers::bytes_like(obj, "").ok()
}

/// A message for personal_sign: bytes as-is, `str` as UTF-8 text.
fn message_bytes(obj: &Bound<'_, PyAny>) -> Option<Vec<u8>> {
    if let Ok(s) = obj.downcast::<PyString>() {
        return s.to_str().ok().map(|s| s.as_bytes().to_vec());
    }
    if let Ok(b) = obj.downcast::<PyBytes>() {
        return Some(b.as_bytes().to_vec());
    }
    crate::buffers::bytes_like(obj, "").ok()
}

fn seq<'py>(obj: &Bound<'py, PyAny>, what: &str) -> Result<Bound<'py, PySequence>> {
    if obj.is_instance_of::<PyString>() || obj.is_instance_of::<PyBytes>() {
        return Err(invalid(format!("{what} must be a list, not a single str/bytes")));
    }
    obj.downcast::<PySequence>().cloned().map_err(|_| invalid(format!("{what} must be a list")))
}

fn collect<T>(obj: &Bound<'_, PyAny>, what: &str, f: impl Fn(&Bound<'_, PyAny>) -> Option<T>) -> Result<Vec<Option<T>>> {
    let s = seq(obj, what)?;
    (0..s.len()?).map(|i| Ok(f(&s.get_item(i)?))).collect()
}

fn same_len(lens: &[(&str, usize)]) -> Result<usize> {
    let n = lens[0].1;
    for (name, l) in &lens[1..] {
        if *l != n {
            let desc: Vec<String> = lens.iter().map(|(k, v)| format!("{v} {k}")).collect();
            return Err(invalid(format!("batch lengths differ ({}); mismatch at {name}", desc.join(", "))));
        }
    }
    Ok(n)
}

fn digest32(v: Option<Vec<u8>>) -> Option<[u8; 32]> {
    v.and_then(|d| d.try_into().ok())
}

fn address20(v: Option<Vec<u8>>) -> Option<[u8; 20]> {
    v.and_then(|d| d.try_into().ok())
}

/// An address as given: checked (hex, EIP-55 checksum: a keccak each) on the worker threads,
/// not under the GIL.
enum AddressIn {
    Raw([u8; 20]),
    Text(String),
    Bad,
}

impl AddressIn {
    fn from_py(obj: &Bound<'_, PyAny>) -> AddressIn {
        if let Ok(s) = obj.downcast::<PyString>() {
            return match s.to_str() {
                Ok(s) => AddressIn::Text(s.to_owned()),
                Err(_) => AddressIn::Bad,
            };
        }
        match address20(item_bytes(obj)) {
            Some(a) => AddressIn::Raw(a),
            None => AddressIn::Bad,
        }
    }

    /// Addresses may be given checksummed or not; a mixed-case one must have a valid checksum.
    fn resolve(&self) -> Option<[u8; 20]> {
        match self {
            AddressIn::Raw(a) => Some(*a),
            AddressIn::Text(s) => abi::parse_address(s, "").ok().and_then(|w| w[12..].try_into().ok()),
            AddressIn::Bad => None,
        }
    }
}

fn addresses_in(obj: &Bound<'_, PyAny>) -> Result<Vec<AddressIn>> {
    let s = seq(obj, "addresses")?;
    (0..s.len()?).map(|i| Ok(AddressIn::from_py(&s.get_item(i)?))).collect()
}

#[pyfunction]
#[pyo3(signature = (digests, signatures, *, allow_compact = false))]
fn recover_addresses(py: Python<'_>, digests: &Bound<'_, PyAny>, signatures: &Bound<'_, PyAny>, allow_compact: bool) -> Result<Vec<Option<String>>> {
    let d = collect(digests, "digests", |o| digest32(item_bytes(o)))?;
    let s = collect(signatures, "signatures", item_bytes)?;
    same_len(&[("digests", d.len()), ("signatures", s.len())])?;
    // EIP-55 checksumming costs a keccak per address: done on the workers, not under the GIL.
    Ok(py.allow_threads(|| {
        d.par_iter()
            .zip(s.par_iter())
            .with_min_len(32)
            .map(|(d, s)| match (d, s) {
                (Some(d), Some(s)) => ecdsa::recover(d, s, allow_compact).ok().map(|a| abi::to_checksum(&a)),
                _ => None,
            })
            .collect()
    }))
}

/// Packed path: `digests` is n×32 bytes, `signatures` n×65 bytes. Returns (n×20 addresses,
/// n validity bytes: 1 valid, 0 invalid; an invalid item's address is all zeros).
#[pyfunction]
fn recover_addresses_packed<'py>(
    py: Python<'py>,
    digests: &Bound<'py, PyAny>,
    signatures: &Bound<'py, PyAny>,
) -> Result<(Bound<'py, PyBytes>, Bound<'py, PyBytes>)> {
    let d = crate::buffers::bytes_like(digests, "digests")?;
    let s = crate::buffers::bytes_like(signatures, "signatures")?;
    if d.len() % 32 != 0 {
        return Err(invalid(format!("digests: length {} is not a multiple of 32", d.len())));
    }
    let sig_len = 65;
    if s.len() % sig_len != 0 {
        return Err(invalid(format!("signatures: length {} is not a multiple of {sig_len}", s.len())));
    }
    let n = d.len() / 32;
    if s.len() / sig_len != n {
        return Err(invalid(format!("batch lengths differ: {n} digests, {} signatures", s.len() / sig_len)));
    }
    let (addrs, ok) = py.allow_threads(|| {
        let res: Vec<Option<[u8; 20]>> = d
            .par_chunks_exact(32)
            .zip(s.par_chunks_exact(sig_len))
            .with_min_len(32)
            .map(|(d, s)| <&[u8; 32]>::try_from(d).ok().and_then(|d| ecdsa::recover(d, s, false).ok()))
            .collect();
        let mut addrs = vec![0u8; 20 * n];
        let mut ok = vec![0u8; n];
        for (i, r) in res.iter().enumerate() {
            if let Some(a) = r {
                addrs[20 * i..20 * i + 20].copy_from_slice(a);
                ok[i] = 1;
            }
        }
        (addrs, ok)
    });
    Ok((PyBytes::new(py, &addrs), PyBytes::new(py, &ok)))
}

#[pyfunction]
#[pyo3(signature = (messages, signatures, addresses, *, allow_compact = false))]
fn verify_personal_sign(
    py: Python<'_>,
    messages: &Bound<'_, PyAny>,
    signatures: &Bound<'_, PyAny>,
    addresses: &Bound<'_, PyAny>,
    allow_compact: bool,
) -> Result<Vec<bool>> {
    let m = collect(messages, "messages", message_bytes)?;
    let s = collect(signatures, "signatures", item_bytes)?;
    let a = addresses_in(addresses)?;
    same_len(&[("messages", m.len()), ("signatures", s.len()), ("addresses", a.len())])?;
    let lanes = Lanes::active();
    Ok(py.allow_threads(|| {
        (0..m.len())
            .into_par_iter()
            .chunks(32)
            .flat_map_iter(|part| {
                // The part's EIP-191 digests together in keccak lanes, then one recovery each.
                let empty: &[u8] = &[];
                let msgs: Vec<&[u8]> = part.iter().map(|&i| m[i].as_deref().unwrap_or(empty)).collect();
                let digests = ecdsa::personal_digests(lanes, &msgs);
                part.into_iter().zip(digests).map(|(i, d)| match (&m[i], &s[i], &a[i].resolve()) {
                    (Some(_), Some(s), Some(a)) => ecdsa::recover(&d, s, allow_compact).is_ok_and(|r| r == *a),
                    _ => false,
                })
            })
            .collect()
    }))
}

/// Python typed data → JSON value, as `json.dumps` would write it, except that bytes become
/// 0x-hex and floats are refused (no EIP-712 type takes one).
fn to_json(obj: &Bound<'_, PyAny>, depth: u32) -> std::result::Result<Value, String> {
    if depth > 64 {
        return Err("typed data is nested more than 64 levels deep".into());
    }
    if let Ok(s) = obj.downcast::<PyString>() {
        return s.to_str().map(|s| Value::String(s.to_owned())).map_err(|e| e.to_string());
    }
    if let Ok(b) = obj.downcast::<PyBool>() {
        return Ok(Value::Bool(b.is_true()));
    }
    if let Ok(i) = obj.downcast::<PyInt>() {
        if let Ok(v) = i.extract::<i64>() {
            return Ok(Value::Number(v.into()));
        }
        // Beyond 64 bits: exact decimal digits (serde_json keeps them, `arbitrary_precision`).
        let digits = i.str().map_err(|e| e.to_string())?;
        let digits = digits.to_str().map_err(|e| e.to_string())?;
        return serde_json::from_str::<Number>(digits).map(Value::Number).map_err(|e| e.to_string());
    }
    if let Ok(d) = obj.downcast::<PyDict>() {
        let mut m = Map::with_capacity(d.len());
        for (k, v) in d.iter() {
            let k = k.downcast::<PyString>().map_err(|_| format!("typed data keys must be str, got {k}"))?;
            let k = k.to_str().map_err(|e| e.to_string())?;
            m.insert(k.to_owned(), to_json(&v, depth + 1)?);
        }
        return Ok(Value::Object(m));
    }
    if let Ok(l) = obj.downcast::<PyList>() {
        return l.iter().map(|v| to_json(&v, depth + 1)).collect::<std::result::Result<_, _>>().map(Value::Array);
    }
    if let Ok(t) = obj.downcast::<PyTuple>() {
        return t.iter().map(|v| to_json(&v, depth + 1)).collect::<std::result::Result<_, _>>().map(Value::Array);
    }
    if let Ok(b) = obj.downcast::<PyBytes>() {
        return Ok(Value::String(format!("0x{}", hex::encode(b.as_bytes()))));
    }
    if let Ok(b) = obj.downcast::<PyByteArray>() {
        return Ok(Value::String(format!("0x{}", hex::encode(b.to_vec()))));
    }
    if obj.is_none() {
        return Ok(Value::Null);
    }
    if obj.is_instance_of::<PyFloat>() {
        return Err(format!("floats are not allowed in typed data (got {obj}); use int"));
    }
    if let Ok(m) = obj.downcast::<PyMapping>() {
        let d = PyDict::new(obj.py());
        for item in m.items().map_err(|e| e.to_string())?.iter() {
            let (k, v): (Bound<'_, PyAny>, Bound<'_, PyAny>) = item.extract().map_err(|e| e.to_string())?;
            d.set_item(k, v).map_err(|e| e.to_string())?;
        }
        return to_json(d.as_any(), depth);
    }
    let ty = obj.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "object".into());
    Err(format!("cannot encode {ty} in typed data"))
}

/// One typed-data item ready for the workers.
enum TypedItem {
    /// JSON text: parsed (and its context looked up) on a worker.
    Text(String),
    /// A dict converted under the GIL, with the context of its types and domain.
    Parsed { ctx: Arc<eip712::Context>, primary: Option<String>, message: Option<Value> },
    Bad,
}

/// Contexts of the dicts seen so far in a batch. Most batches share one `types` and one
/// `domain`: `types` is matched by identity or `==` with an earlier item's (it holds only
/// strings, so `==` is exact), `domain` by its converted JSON value (so `chainId=1.0` or
/// `True` never borrows the context of `chainId=1`).
#[derive(Default)]
struct DictContexts<'py> {
    seen: Vec<(Bound<'py, PyAny>, Value, Arc<eip712::Context>)>,
}

fn get<'py>(d: &Bound<'py, PyAny>, key: &str) -> std::result::Result<Option<Bound<'py, PyAny>>, String> {
    if let Ok(d) = d.downcast::<PyDict>() {
        return d.get_item(key).map_err(|e| e.to_string());
    }
    let m = d.downcast::<PyMapping>().map_err(|_| "typed data must be a mapping (the full EIP-712 message) or JSON text".to_string())?;
    match m.contains(key) {
        Ok(true) => m.get_item(key).map(Some).map_err(|e| e.to_string()),
        Ok(false) => Ok(None),
        Err(e) => Err(e.to_string()),
    }
}

impl<'py> DictContexts<'py> {
    fn item(&mut self, obj: &Bound<'py, PyAny>) -> std::result::Result<TypedItem, String> {
        if let Ok(s) = obj.downcast::<PyString>() {
            return s.to_str().map(|s| TypedItem::Text(s.to_owned())).map_err(|e| e.to_string());
        }
        let types = get(obj, "types")?.ok_or("missing 'types'")?;
        let domain = to_json(&get(obj, "domain")?.ok_or("missing 'domain'")?, 0)?;
        let primary = match get(obj, "primaryType")? {
            None => None,
            Some(p) => {
                let p = p.downcast_into::<PyString>().map_err(|_| "'primaryType' must be a str")?;
                Some(p.to_str().map_err(|e| e.to_string())?.to_owned())
            }
        };
        let message = match get(obj, "message")? {
            Some(m) => Some(to_json(&m, 0)?),
            None => None,
        };
        let hit = self
            .seen
            .iter()
            .rev()
            .find(|(t, d, _)| (t.is(&types) || t.eq(&types).unwrap_or(false)) && *d == domain)
            .map(|(_, _, c)| c.clone());
        let ctx = match hit {
            Some(c) => c,
            None => {
                let c = Arc::new(eip712::Context::new(&to_json(&types, 0)?, &domain).map_err(|e| e.0)?);
                if self.seen.len() == 8 {
                    self.seen.remove(0);
                }
                self.seen.push((types, domain, c.clone()));
                c
            }
        };
        Ok(TypedItem::Parsed { ctx, primary, message })
    }
}

/// EIP-712 digest of typed data: a mapping (the full message form) or its JSON text.
#[pyfunction]
fn eip712_digest<'py>(py: Python<'py>, typed_data: &Bound<'py, PyAny>) -> Result<Bound<'py, PyBytes>> {
    let mut ctxs = DictContexts::default();
    let d = match ctxs.item(typed_data).map_err(|e| invalid(format!("typed data: {e}")))? {
        TypedItem::Text(t) => eip712::digest_json(&t),
        TypedItem::Parsed { ctx, primary, message } => ctx.digest(primary.as_deref(), message.as_ref()),
        TypedItem::Bad => Err(eip712::TypedDataError("not typed data".into())),
    }
    .map_err(|e| invalid(format!("typed data: {e}")))?;
    Ok(PyBytes::new(py, &d))
}

/// Verify EIP-712 signatures; each item is a mapping or JSON text. An item whose typed data
/// does not convert, parse or hash is simply invalid.
#[pyfunction]
#[pyo3(signature = (typed_data_list, signatures, addresses, *, allow_compact = false))]
fn verify_typed_data(
    py: Python<'_>,
    typed_data_list: &Bound<'_, PyAny>,
    signatures: &Bound<'_, PyAny>,
    addresses: &Bound<'_, PyAny>,
    allow_compact: bool,
) -> Result<Vec<bool>> {
    let list = seq(typed_data_list, "typed_data_list")?;
    let sigs = seq(signatures, "signatures")?;
    let addrs = seq(addresses, "addresses")?;
    let n = same_len(&[("typed_data_list", list.len()?), ("signatures", sigs.len()?), ("addresses", addrs.len()?)])?;
    // Converting dicts needs the GIL (one thread); hashing and recovery do not. Each chunk
    // goes to the workers as soon as it is converted, so conversion overlaps verification
    // instead of running before it.
    let (tx, rx) = mpsc::channel::<(usize, Vec<bool>)>();
    let mut ctxs = DictContexts::default();
    let mut chunks = 0usize;
    for start in (0..n).step_by(TYPED_CHUNK) {
        let end = (start + TYPED_CHUNK).min(n);
        let mut work = Vec::with_capacity(end - start);
        for i in start..end {
            let item = ctxs.item(&list.get_item(i)?).unwrap_or(TypedItem::Bad);
            work.push((item, item_bytes(&sigs.get_item(i)?), AddressIn::from_py(&addrs.get_item(i)?)));
        }
        let tx = tx.clone();
        rayon::spawn(move || {
            // A panic sends nothing, and the missing chunk is reported below; it must not
            // unwind out of a pool thread (that aborts the interpreter).
            if let Ok(out) = catch_unwind(AssertUnwindSafe(|| verify_typed_chunk(&work, allow_compact))) {
                let _ = tx.send((start, out));
            }
        });
        chunks += 1;
    }
    drop(tx);
    let (out, received) = py.allow_threads(move || {
        let mut out = vec![false; n];
        let mut received = 0usize;
        for (start, part) in rx.iter() {
            out[start..start + part.len()].copy_from_slice(&part);
            received += 1;
        }
        (out, received)
    });
    if received != chunks {
        return Err(invariant("EIP-712 verification: a worker failed; no result for part of the batch"));
    }
    Ok(out)
}

/// Items per chunk handed to the workers: small enough that the first chunk starts verifying
/// early and the last one splits well across cores.
const TYPED_CHUNK: usize = 128;

fn verify_typed_chunk(work: &[(TypedItem, Option<Vec<u8>>, AddressIn)], allow_compact: bool) -> Vec<bool> {
    let lanes = Lanes::active();
    work.par_chunks(16)
        .flat_map_iter(|part| {
            // Everything but the last two hashes per item, then those for the part in lanes.
            let pending: Vec<Option<eip712::Pending>> = part
                .iter()
                .map(|(item, _, _)| match item {
                    TypedItem::Text(t) => eip712::pending_json_cached(t).ok(),
                    TypedItem::Parsed { ctx, primary, message } => ctx.pending(primary.as_deref(), message.as_ref()).ok(),
                    TypedItem::Bad => None,
                })
                .collect();
            let refs: Vec<Option<&eip712::Pending>> = pending.iter().map(Option::as_ref).collect();
            let digests = eip712::finish_many(lanes, &refs);
            part.iter().zip(digests).map(move |((_, sig, addr), digest)| match (digest, sig, addr.resolve()) {
                (Some(d), Some(s), Some(a)) => ecdsa::recover(&d, s, allow_compact).is_ok_and(|r| r == a),
                _ => false,
            })
        })
        .collect()
}

#[pyfunction]
fn verify_ed25519(py: Python<'_>, messages: &Bound<'_, PyAny>, signatures: &Bound<'_, PyAny>, public_keys: &Bound<'_, PyAny>) -> Result<Vec<bool>> {
    let m = collect(messages, "messages", message_bytes)?;
    let s = collect(signatures, "signatures", item_bytes)?;
    let k = collect(public_keys, "public_keys", item_bytes)?;
    same_len(&[("messages", m.len()), ("signatures", s.len()), ("public_keys", k.len())])?;
    Ok(py.allow_threads(|| {
        let empty: &[u8] = &[];
        let mm: Vec<&[u8]> = m.iter().map(|x| x.as_deref().unwrap_or(empty)).collect();
        let ss: Vec<&[u8]> = s.iter().map(|x| x.as_deref().unwrap_or(empty)).collect();
        let kk: Vec<&[u8]> = k.iter().map(|x| x.as_deref().unwrap_or(empty)).collect();
        let mut out = ed25519::verify_many(&mm, &ss, &kk);
        for (i, o) in out.iter_mut().enumerate() {
            *o &= m[i].is_some();
        }
        out
    }))
}

/// EIP-191 personal_sign digest of one message.
#[pyfunction]
fn personal_sign_digest<'py>(py: Python<'py>, message: &Bound<'py, PyAny>) -> Result<Bound<'py, PyBytes>> {
    let m = message_bytes(message).ok_or_else(|| invalid("message: expected bytes or str"))?;
    Ok(PyBytes::new(py, &ecdsa::personal_digest(&m)))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(recover_addresses, m)?)?;
    m.add_function(wrap_pyfunction!(recover_addresses_packed, m)?)?;
    m.add_function(wrap_pyfunction!(verify_personal_sign, m)?)?;
    m.add_function(wrap_pyfunction!(eip712_digest, m)?)?;
    m.add_function(wrap_pyfunction!(verify_typed_data, m)?)?;
    m.add_function(wrap_pyfunction!(verify_ed25519, m)?)?;
    m.add_function(wrap_pyfunction!(personal_sign_digest, m)?)?;
    Ok(())
}
