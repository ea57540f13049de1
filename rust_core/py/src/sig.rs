//! Binding for `nftreg-sig`: batch inputs are converted under the GIL, verified on all cores
//! with the GIL released. Batch-shape errors raise; a bad item gives None / False.

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PySequence, PyString};
use rayon::prelude::*;

use nftreg_merkle::abi;
use nftreg_sig::{ecdsa, ed25519, eip712};

use crate::errors::invalid;

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

fn seq<'py>(obj: &Bound<'py, PyAny>, what: &str) -> PyResult<Bound<'py, PySequence>> {
    if obj.is_instance_of::<PyString>() || obj.is_instance_of::<PyBytes>() {
        return Err(invalid(format!("{what} must be a list, not a single str/bytes")));
    }
    obj.downcast::<PySequence>().cloned().map_err(|_| invalid(format!("{what} must be a list")))
}

fn collect<T>(obj: &Bound<'_, PyAny>, what: &str, f: impl Fn(&Bound<'_, PyAny>) -> Option<T>) -> PyResult<Vec<Option<T>>> {
    let s = seq(obj, what)?;
    (0..s.len()?).map(|i| Ok(f(&s.get_item(i)?))).collect()
}

fn same_len(lens: &[(&str, usize)]) -> PyResult<usize> {
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

/// Addresses may be given checksummed or not; a mixed-case one must have a valid checksum.
fn address_item(obj: &Bound<'_, PyAny>) -> Option<[u8; 20]> {
    if let Ok(s) = obj.downcast::<PyString>() {
        let w = abi::parse_address(s.to_str().ok()?, "").ok()?;
        return w[12..].try_into().ok();
    }
    address20(item_bytes(obj))
}

#[pyfunction]
#[pyo3(signature = (digests, signatures, *, allow_compact = false))]
fn recover_addresses(py: Python<'_>, digests: &Bound<'_, PyAny>, signatures: &Bound<'_, PyAny>, allow_compact: bool) -> PyResult<Vec<Option<String>>> {
    let d = collect(digests, "digests", |o| digest32(item_bytes(o)))?;
    let s = collect(signatures, "signatures", item_bytes)?;
    same_len(&[("digests", d.len()), ("signatures", s.len())])?;
    let out: Vec<Option<[u8; 20]>> = py.allow_threads(|| {
        d.par_iter()
            .zip(s.par_iter())
            .with_min_len(32)
            .map(|(d, s)| match (d, s) {
                (Some(d), Some(s)) => ecdsa::recover(d, s, allow_compact).ok(),
                _ => None,
            })
            .collect()
    });
    Ok(out.into_iter().map(|a| a.map(|a| abi::to_checksum(&a))).collect())
}

/// Packed path: `digests` is n×32 bytes, `signatures` n×65 bytes. Returns (n×20 addresses,
/// n validity bytes: 1 valid, 0 invalid; an invalid item's address is all zeros).
#[pyfunction]
fn recover_addresses_packed<'py>(
    py: Python<'py>,
    digests: &Bound<'py, PyAny>,
    signatures: &Bound<'py, PyAny>,
) -> PyResult<(Bound<'py, PyBytes>, Bound<'py, PyBytes>)> {
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
) -> PyResult<Vec<bool>> {
    let m = collect(messages, "messages", message_bytes)?;
    let s = collect(signatures, "signatures", item_bytes)?;
    let a = collect(addresses, "addresses", address_item)?;
    same_len(&[("messages", m.len()), ("signatures", s.len()), ("addresses", a.len())])?;
    Ok(py.allow_threads(|| {
        (0..m.len())
            .into_par_iter()
            .with_min_len(32)
            .map(|i| match (&m[i], &s[i], &a[i]) {
                (Some(m), Some(s), Some(a)) => ecdsa::recover(&ecdsa::personal_digest(m), s, allow_compact).is_ok_and(|r| r == *a),
                _ => false,
            })
            .collect()
    }))
}

/// EIP-712 digest of a typed-data JSON text (full message form).
#[pyfunction]
fn eip712_digest<'py>(py: Python<'py>, typed_data_json: &str) -> PyResult<Bound<'py, PyBytes>> {
    let d = eip712::digest_json(typed_data_json).map_err(|e| invalid(format!("typed data: {e}")))?;
    Ok(PyBytes::new(py, &d))
}

/// Verify EIP-712 signatures; each typed-data item is JSON text. An item whose typed data
/// does not parse or hash is simply invalid.
#[pyfunction]
#[pyo3(signature = (typed_data_json, signatures, addresses, *, allow_compact = false))]
fn verify_typed_data(
    py: Python<'_>,
    typed_data_json: Vec<String>,
    signatures: &Bound<'_, PyAny>,
    addresses: &Bound<'_, PyAny>,
    allow_compact: bool,
) -> PyResult<Vec<bool>> {
    let s = collect(signatures, "signatures", item_bytes)?;
    let a = collect(addresses, "addresses", address_item)?;
    same_len(&[("typed data items", typed_data_json.len()), ("signatures", s.len()), ("addresses", a.len())])?;
    Ok(py.allow_threads(|| {
        (0..s.len())
            .into_par_iter()
            .with_min_len(16)
            .map(|i| match (&s[i], &a[i], eip712::digest_json(&typed_data_json[i])) {
                (Some(s), Some(a), Ok(d)) => ecdsa::recover(&d, s, allow_compact).is_ok_and(|r| r == *a),
                _ => false,
            })
            .collect()
    }))
}

#[pyfunction]
fn verify_ed25519(py: Python<'_>, messages: &Bound<'_, PyAny>, signatures: &Bound<'_, PyAny>, public_keys: &Bound<'_, PyAny>) -> PyResult<Vec<bool>> {
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
fn personal_sign_digest<'py>(py: Python<'py>, message: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
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
