//! Binding for `nftreg-merkle`: converts Python leaf values to ABI words (under the GIL, with
//! errors naming the value index and field), then hashes and builds with the GIL released.

use std::collections::{HashMap, VecDeque};
use std::sync::{Condvar, Mutex, OnceLock};

use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyInt, PyList, PySequence, PyString, PyTuple};

use nftreg_eth::abi::{self, AbiType, AbiValue};
use nftreg_eth::EthError;
use nftreg_merkle::hash::{keccak256, keccak256_32, Hash, Lanes};
use nftreg_merkle::tree::{self, IndexedTree};
use nftreg_merkle::MerkleError;

use crate::errors::{invalid, WrapMerkle};

fn merr(e: impl Into<MerkleError>) -> PyErr {
    WrapMerkle(e.into()).into()
}

/// Describe where a value sits: `values[3][1] (uint256)`, built only when reporting an error.
fn locate(e: EthError, prefix: &str, t: &AbiType) -> EthError {
    match e {
        EthError::BadValue { path, msg } => EthError::BadValue {
            path: format!("{prefix}{path} ({})", t.name()),
            msg,
        },
        other => other,
    }
}

fn bad(msg: impl Into<String>) -> EthError {
    EthError::BadValue { path: String::new(), msg: msg.into() }
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "?".into())
}

/// Raw bytes from `bytes`/`bytearray`/`memoryview` or a 0x-hex string.
fn raw_bytes(obj: &Bound<'_, PyAny>) -> Result<Vec<u8>, EthError> {
    if let Ok(s) = obj.downcast::<PyString>() {
        let s = s.to_str().map_err(|_| bad("string is not valid UTF-8"))?;
        return abi::parse_hex_bytes(s, "");
    }
    if let Ok(b) = obj.downcast::<PyBytes>() {
        return Ok(b.as_bytes().to_vec());
    }
    match crate::buffers::bytes_like(obj, "") {
        Ok(v) if !obj.is_instance_of::<PyInt>() => Ok(v),
        _ => Err(bad(format!("expected bytes or a 0x-hex string, got {}", type_name(obj)))),
    }
}

fn int_word(obj: &Bound<'_, PyAny>, signed: bool, bits: u16) -> Result<[u8; 32], EthError> {
    let ty = || if signed { format!("int{bits}") } else { format!("uint{bits}") };
    if obj.is_instance_of::<PyBool>() {
        return Err(bad(format!("expected an integer for {}, got bool", ty())));
    }
    if let Ok(s) = obj.downcast::<PyString>() {
        let s = s.to_str().map_err(|_| bad("string is not valid UTF-8"))?;
        return abi::parse_int_str(s, signed, bits, "");
    }
    if !obj.is_instance_of::<PyInt>() {
        return Err(bad(format!("expected an integer or a decimal/0x-hex string, got {}", type_name(obj))));
    }
    // Fast path without raising: fits in i64?
    let mut overflow: std::os::raw::c_int = 0;
    let v = unsafe { pyo3::ffi::PyLong_AsLongLongAndOverflow(obj.as_ptr(), &mut overflow) };
    if overflow == 0 {
        if v == -1 {
            // -1 is also the error return; clear a (never expected) pending error.
            if let Some(_e) = PyErr::take(obj.py()) {
                return Err(bad("could not read integer"));
            }
        }
        let mut mag = [0u8; 32];
        mag[24..].copy_from_slice(&v.unsigned_abs().to_be_bytes());
        return abi::word_from_magnitude(mag, v < 0, signed, bits, "");
    }
    // Beyond 64 bits: peel 64-bit limbs off (mask, then arithmetic shift) until the rest fits
    // an i64. Works for negatives too (two's complement limbs); no exceptions are raised.
    let negative = overflow < 0;
    if negative && !signed {
        return Err(bad(format!("negative value for {}", ty())));
    }
    let mut limbs = [0u64; 4]; // least significant first
    let mut cur = obj.clone();
    let mut k = 0;
    loop {
        let mut of: std::os::raw::c_int = 0;
        let v = unsafe { pyo3::ffi::PyLong_AsLongLongAndOverflow(cur.as_ptr(), &mut of) };
        if of == 0 {
            if k == 4 {
                if v != if negative { -1 } else { 0 } {
                    return Err(bad(format!("value out of range for {}", ty())));
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
            return Err(bad(format!("value out of range for {}", ty())));
        }
        limbs[k] = unsafe { pyo3::ffi::PyLong_AsUnsignedLongLongMask(cur.as_ptr()) };
        k += 1;
        cur = cur.rshift(64).map_err(|_| bad("could not read integer"))?;
    }
    let mut w = [0u8; 32];
    for (i, l) in limbs.iter().enumerate() {
        w[32 - 8 * (i + 1)..32 - 8 * i].copy_from_slice(&l.to_be_bytes());
    }
    abi::check_int_range(&w, signed, bits, negative, "").map_err(|_| bad(format!("value out of range for {}", ty())))?;
    Ok(w)
}

/// The 32-byte word of a static scalar type (address, bool, (u)intN, bytesN).
fn scalar_word(obj: &Bound<'_, PyAny>, t: &AbiType) -> Result<[u8; 32], EthError> {
    match t {
        AbiType::Address => {
            if let Ok(s) = obj.downcast::<PyString>() {
                let s = s.to_str().map_err(|_| bad("string is not valid UTF-8"))?;
                abi::parse_address(s, "")
            } else if let Ok(b) = obj.downcast::<PyBytes>() {
                abi::address_word(b.as_bytes(), "")
            } else {
                Err(bad(format!("expected an address string, got {}", type_name(obj))))
            }
        }
        AbiType::Bool => {
            let b = obj
                .downcast::<PyBool>()
                .map_err(|_| bad(format!("expected a bool, got {}", type_name(obj))))?;
            let mut w = [0u8; 32];
            w[31] = b.is_true() as u8;
            Ok(w)
        }
        AbiType::Uint(bits) => int_word(obj, false, *bits),
        AbiType::Int(bits) => int_word(obj, true, *bits),
        AbiType::FixedBytes(n) => abi::fixed_bytes_word(&raw_bytes(obj)?, *n, ""),
        _ => Err(EthError::Invariant(format!("{} is not a scalar type", t.name()))),
    }
}

fn is_scalar(t: &AbiType) -> bool {
    !matches!(t, AbiType::Bytes | AbiType::String | AbiType::Array(_) | AbiType::FixedArray(..))
}

fn sequence<'py>(obj: &Bound<'py, PyAny>) -> Option<Bound<'py, PySequence>> {
    if obj.is_instance_of::<PyString>() || obj.is_instance_of::<PyBytes>() {
        return None;
    }
    if obj.is_instance_of::<PyList>() || obj.is_instance_of::<PyTuple>() {
        return obj.downcast::<PySequence>().ok().cloned();
    }
    None
}

/// Convert one Python value to a typed ABI value. Errors carry a relative path (`[2]` for
/// array items) that the caller prefixes with the value index and field.
fn to_value(obj: &Bound<'_, PyAny>, t: &AbiType) -> Result<AbiValue, EthError> {
    Ok(match t {
        AbiType::Bytes => AbiValue::Dynamic(raw_bytes(obj)?),
        AbiType::String => {
            let s = obj
                .downcast::<PyString>()
                .map_err(|_| bad(format!("expected a str, got {}", type_name(obj))))?;
            AbiValue::Dynamic(s.to_str().map_err(|_| bad("string is not valid UTF-8"))?.as_bytes().to_vec())
        }
        AbiType::Address | AbiType::Bool | AbiType::Uint(_) | AbiType::Int(_) | AbiType::FixedBytes(_) => {
            AbiValue::Word(scalar_word(obj, t)?)
        }
        AbiType::Array(inner) | AbiType::FixedArray(inner, _) => {
            let seq = sequence(obj).ok_or_else(|| bad(format!("expected a list, got {}", type_name(obj))))?;
            let n = seq.len().map_err(|_| bad("could not read list length"))?;
            if let AbiType::FixedArray(_, k) = t {
                if n != *k {
                    return Err(bad(format!("expected exactly {k} items, got {n}")));
                }
            }
            let mut items = Vec::with_capacity(n);
            for i in 0..n {
                let item = seq.get_item(i).map_err(|_| bad("could not read list item"))?;
                items.push(to_value(&item, inner).map_err(|e| match e {
                    EthError::BadValue { path, msg } => EthError::BadValue { path: format!("[{i}]{path}"), msg },
                    other => other,
                })?);
            }
            AbiValue::Array(items)
        }
    })
}

/// ABI-encode one leaf value (a list/tuple with one entry per type) into `out`.
fn encode_leaf(obj: &Bound<'_, PyAny>, types: &[AbiType], index: usize, out: &mut Vec<u8>) -> Result<(), EthError> {
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
    if types.iter().all(is_scalar) {
        // All-static leaf: abi.encode is the concatenation of the words; no temporaries.
        for (f, t) in types.iter().enumerate() {
            let item = seq.get_item(f).map_err(|_| bad("could not read field"))?;
            let w = scalar_word(&item, t).map_err(|e| locate(e, &format!("values[{index}][{f}]"), t))?;
            out.extend_from_slice(&w);
        }
        return Ok(());
    }
    let mut vals = Vec::with_capacity(n);
    for (f, t) in types.iter().enumerate() {
        let item = seq.get_item(f).map_err(|_| bad("could not read field"))?;
        vals.push(to_value(&item, t).map_err(|e| locate(e, &format!("values[{index}][{f}]"), t))?);
    }
    abi::encode_into(types, &vals, out)
}

fn parse_types(types: &[String]) -> PyResult<Vec<AbiType>> {
    abi::parse_types(types).map_err(merr)
}

/// Values are converted in chunks of this many under the GIL while another thread hashes the
/// previous chunks, so conversion and hashing overlap.
const CHUNK: usize = 16 * 1024;

/// Chunks of encoded leaves waiting to be hashed, shared by the converting thread (which holds
/// the GIL) and the hashing threads.
/// One chunk: encoded leaves (+ offsets) and, when verifying, their proofs (+ offsets).
struct Job {
    k: usize,
    buf: Vec<u8>,
    offsets: Vec<usize>,
    proofs: Vec<Hash>,
    proof_offsets: Vec<usize>,
}

struct HashQueue {
    state: Mutex<(VecDeque<Job>, bool)>,
    ready: Condvar,
    results: Mutex<Vec<(usize, Vec<Hash>)>>,
}

impl HashQueue {
    fn push(&self, job: Job) {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).0.push_back(job);
        self.ready.notify_one();
    }
    fn close(&self) {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).1 = true;
        self.ready.notify_all();
    }
    /// Hash chunks until the queue is closed and empty.
    fn work(&self) {
        loop {
            let job = {
                let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
                loop {
                    if let Some(job) = st.0.pop_front() {
                        break Some(job);
                    }
                    if st.1 {
                        break None;
                    }
                    st = self.ready.wait(st).unwrap_or_else(|e| e.into_inner());
                }
            };
            let Some(job) = job else { return };
            let lanes = Lanes::active();
            let encoded: Vec<&[u8]> = job.offsets.windows(2).map(|w| &job.buf[w[0]..w[1]]).collect();
            let mut hashes = vec![[0u8; 32]; encoded.len()];
            lanes.double(&encoded, &mut hashes);
            if !job.proof_offsets.is_empty() {
                // verifying: replace each leaf by the root its proof implies (proofs in lockstep)
                let leaves = hashes.clone();
                let (proofs, offs) = (&job.proofs, &job.proof_offsets);
                tree::process_proofs_with(lanes, &leaves, |i| &proofs[offs[i]..offs[i + 1]], &mut hashes);
            }
            self.results.lock().unwrap_or_else(|e| e.into_inner()).push((job.k, hashes));
        }
    }
}

/// Leaf hashes of every value (and per-item validity when `lenient`). Converting Python
/// objects needs the GIL and runs on this thread while the other cores hash finished chunks;
/// once conversion ends this thread releases the GIL and hashes too.
fn leaf_hashes_pipelined(
    py: Python<'_>,
    values: &Bound<'_, PyAny>,
    types: &[AbiType],
    lenient: bool,
    proofs: Option<&ProofSource<'_, '_>>,
) -> PyResult<(Vec<Hash>, Vec<bool>)> {
    if values.is_instance_of::<PyString>() || values.is_instance_of::<PyBytes>() {
        return Err(invalid("values must be a list or tuple"));
    }
    let seq = values.downcast::<PySequence>().map_err(|_| invalid("values must be a list or tuple"))?;
    let n = seq.len()?;
    let list = values.downcast::<PyList>().ok();
    let queue = HashQueue { state: Mutex::new((VecDeque::new(), false)), ready: Condvar::new(), results: Mutex::new(Vec::new()) };
    let helpers = std::thread::available_parallelism().map(|c| c.get()).unwrap_or(1).saturating_sub(1).max(1);
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..helpers).map(|_| scope.spawn(|| queue.work())).collect();
        let mut ok = Vec::with_capacity(n);
        let mut failure: Option<PyErr> = None;
        let mut start = 0;
        while start < n && failure.is_none() {
            let end = (start + CHUNK).min(n);
            let mut buf = Vec::with_capacity((end - start) * 32 * types.len());
            let mut offsets = Vec::with_capacity(end - start + 1);
            offsets.push(0);
            let (mut pflat, mut poffs) = (Vec::new(), Vec::new());
            if proofs.is_some() {
                pflat.reserve((end - start) * 20);
                poffs.reserve(end - start + 1);
                poffs.push(0);
            }
            for i in start..end {
                let item = match &list {
                    Some(l) => l.get_item(i),
                    None => seq.get_item(i),
                };
                let item = match item {
                    Ok(x) => x,
                    Err(e) => {
                        failure = Some(e);
                        break;
                    }
                };
                let mark = buf.len();
                match encode_leaf(&item, types, i, &mut buf) {
                    Ok(()) => ok.push(true),
                    Err(_) if lenient => {
                        buf.truncate(mark);
                        ok.push(false);
                    }
                    Err(e) => {
                        failure = Some(merr(e));
                        break;
                    }
                }
                offsets.push(buf.len());
                if let Some(src) = proofs {
                    let pmark = pflat.len();
                    match src.append(i, &mut pflat) {
                        Ok(true) => {}
                        Ok(false) => {
                            pflat.truncate(pmark);
                            ok[i] = false;
                        }
                        Err(e) => {
                            failure = Some(e);
                            break;
                        }
                    }
                    poffs.push(pflat.len());
                }
            }
            if failure.is_none() {
                queue.push(Job { k: start / CHUNK, buf, offsets, proofs: pflat, proof_offsets: poffs });
            }
            start = end;
        }
        queue.close();
        py.allow_threads(|| {
            queue.work();
            for w in workers {
                let _ = w.join();
            }
        });
        if let Some(e) = failure {
            return Err(e);
        }
        let mut parts = std::mem::take(&mut *queue.results.lock().unwrap_or_else(|e| e.into_inner()));
        parts.sort_unstable_by_key(|(k, _)| *k);
        let mut out = Vec::with_capacity(n);
        for (_, h) in parts {
            out.extend_from_slice(&h);
        }
        if out.len() != n {
            return Err(crate::errors::invariant("leaf hashing lost a chunk"));
        }
        Ok((out, ok))
    })
}

fn standard_leaf(encoded: &[u8]) -> Hash {
    keccak256_32(&keccak256(encoded))
}

fn hash32(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Hash> {
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
    raw.as_slice()
        .try_into()
        .map_err(|_| invalid(format!("{what}: expected 32 bytes, got {}", raw.len())))
}

fn hashes(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Vec<Hash>> {
    let seq = obj.downcast::<PySequence>().map_err(|_| invalid(format!("{what} must be a list")))?;
    if obj.is_instance_of::<PyString>() || obj.is_instance_of::<PyBytes>() {
        return Err(invalid(format!("{what} must be a list of 32-byte hashes")));
    }
    (0..seq.len()?).map(|i| hash32(&seq.get_item(i)?, &format!("{what}[{i}]"))).collect()
}

fn hex0x(h: &Hash) -> String {
    let mut s = String::with_capacity(66);
    s.push_str("0x");
    s.push_str(&hex::encode(h));
    s
}

/// A built tree: node array, per-value tree positions, and a lazily built hash → value index.
#[pyclass(module = "nftreg._core", frozen)]
pub struct MerkleCore {
    inner: IndexedTree,
    lookup: OnceLock<HashMap<Hash, usize>>,
}

impl MerkleCore {
    fn new(inner: IndexedTree) -> Self {
        MerkleCore { inner, lookup: OnceLock::new() }
    }
    fn position(&self, value_index: usize) -> PyResult<usize> {
        self.inner
            .positions
            .get(value_index)
            .copied()
            .ok_or_else(|| invalid(format!("index {value_index} out of bounds (tree has {} values)", self.inner.positions.len())))
    }
    fn lookup_map(&self) -> &HashMap<Hash, usize> {
        self.lookup.get_or_init(|| {
            let mut m = HashMap::with_capacity(self.inner.positions.len());
            for (v, &p) in self.inner.positions.iter().enumerate() {
                m.insert(self.inner.tree[p], v); // later duplicates win, as in the npm library
            }
            m
        })
    }
}

#[pymethods]
impl MerkleCore {
    #[getter]
    fn root<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.root())
    }
    fn __len__(&self) -> usize {
        self.inner.positions.len()
    }
    fn node_count(&self) -> usize {
        self.inner.tree.len()
    }
    fn tree_hex(&self) -> Vec<String> {
        self.inner.tree.iter().map(hex0x).collect()
    }
    fn positions(&self) -> Vec<usize> {
        self.inner.positions.clone()
    }
    fn position_of(&self, value_index: usize) -> PyResult<usize> {
        self.position(value_index)
    }
    fn leaf<'py>(&self, py: Python<'py>, value_index: usize) -> PyResult<Bound<'py, PyBytes>> {
        let p = self.position(value_index)?;
        Ok(PyBytes::new(py, &self.inner.tree[p]))
    }
    fn lookup(&self, py: Python<'_>, leaf_hash: &Bound<'_, PyAny>) -> PyResult<Option<usize>> {
        let h = hash32(leaf_hash, "leaf hash")?;
        Ok(py.allow_threads(|| self.lookup_map().get(&h).copied()))
    }
    fn proof(&self, value_index: usize) -> PyResult<Vec<String>> {
        let p = self.position(value_index)?;
        Ok(tree::get_proof(&self.inner.tree, p).map_err(merr)?.iter().map(hex0x).collect())
    }
    /// Returns (value indices of the proven leaves in proof order, proof, proof_flags).
    fn multiproof(&self, py: Python<'_>, value_indices: Vec<usize>) -> PyResult<(Vec<usize>, Vec<String>, Vec<bool>)> {
        let positions = value_indices.iter().map(|&v| self.position(v)).collect::<PyResult<Vec<_>>>()?;
        let mp = tree::get_multiproof(&self.inner.tree, &positions).map_err(merr)?;
        let map = py.allow_threads(|| self.lookup_map());
        let leaves = mp.leaves.iter().map(|&p| map[&self.inner.tree[p]]).collect();
        Ok((leaves, mp.proof.iter().map(hex0x).collect(), mp.proof_flags))
    }
    /// Every value's proof at once, computed in parallel with the GIL released.
    fn all_proofs(&self, py: Python<'_>) -> PyResult<ProofSet> {
        let (flat, offsets) = py
            .allow_threads(|| tree::all_proofs(&self.inner.tree, &self.inner.positions))
            .map_err(merr)?;
        Ok(ProofSet { flat, offsets })
    }
    /// First value index whose leaf (32-byte slice of `flat`) differs from the tree, if any.
    fn first_leaf_mismatch(&self, py: Python<'_>, flat: &[u8]) -> PyResult<Option<usize>> {
        if flat.len() != 32 * self.inner.positions.len() {
            return Err(invalid("leaf hash buffer does not match the number of values"));
        }
        Ok(py.allow_threads(|| {
            self.inner
                .positions
                .iter()
                .enumerate()
                .position(|(v, &p)| self.inner.tree[p][..] != flat[32 * v..32 * v + 32])
        }))
    }
    fn render(&self) -> PyResult<String> {
        tree::render(&self.inner.tree).map_err(merr)
    }
    fn is_valid(&self, py: Python<'_>) -> bool {
        py.allow_threads(|| tree::is_valid_tree(&self.inner.tree))
    }
}

/// All proofs of a tree in one flat buffer; `proofs[i]` is value i's proof.
#[pyclass(module = "nftreg._core", frozen, sequence)]
pub struct ProofSet {
    flat: Vec<Hash>,
    offsets: Vec<usize>,
}

#[pymethods]
impl ProofSet {
    fn __len__(&self) -> usize {
        self.offsets.len() - 1
    }
    fn __getitem__(&self, i: isize) -> PyResult<Vec<String>> {
        let n = self.__len__() as isize;
        let j = if i < 0 { i + n } else { i };
        if j < 0 || j >= n {
            return Err(pyo3::exceptions::PyIndexError::new_err("proof index out of range"));
        }
        let j = j as usize;
        Ok(self.flat[self.offsets[j]..self.offsets[j + 1]].iter().map(hex0x).collect())
    }
    /// Value i's proof as concatenated 32-byte hashes.
    fn proof_bytes<'py>(&self, py: Python<'py>, i: usize) -> PyResult<Bound<'py, PyBytes>> {
        if i >= self.__len__() {
            return Err(invalid(format!("index {i} out of bounds")));
        }
        Ok(PyBytes::new(py, self.flat[self.offsets[i]..self.offsets[i + 1]].as_flattened()))
    }
    /// All proofs concatenated (32 bytes per hash); slice with `offsets()` (in hashes).
    fn to_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.flat.as_flattened())
    }
    fn offsets(&self) -> Vec<usize> {
        self.offsets.clone()
    }
    #[getter]
    fn nbytes(&self) -> usize {
        self.flat.len() * 32
    }
}

#[pyfunction]
#[pyo3(signature = (leaf_encoding, values, sort_leaves = true))]
fn build_standard(py: Python<'_>, leaf_encoding: Vec<String>, values: &Bound<'_, PyAny>, sort_leaves: bool) -> PyResult<MerkleCore> {
    let types = parse_types(&leaf_encoding)?;
    let (leaves, _) = leaf_hashes_pipelined(py, values, &types, false, None)?;
    if leaves.is_empty() {
        return Err(invalid("expected a non-zero number of values"));
    }
    let tree = py.allow_threads(move || IndexedTree::build(&leaves, sort_leaves));
    Ok(MerkleCore::new(tree.map_err(merr)?))
}

/// Why a 32-byte ABI word is not the canonical encoding of a static scalar type, if it is not.
fn noncanonical(t: &AbiType, w: &[u8]) -> Option<&'static str> {
    let zero_until = |n: usize| w[..n].iter().all(|b| *b == 0);
    match t {
        AbiType::Address => (!zero_until(12)).then_some("address with nonzero upper 12 bytes"),
        AbiType::Bool => (!zero_until(31) || w[31] > 1).then_some("bool other than 0 or 1"),
        AbiType::Uint(bits) => (!zero_until(32 - *bits as usize / 8)).then_some("uint out of range"),
        AbiType::Int(bits) => {
            let top = 32 - *bits as usize / 8;
            let fill = if w[top] & 0x80 != 0 { 0xff } else { 0 };
            (!w[..top].iter().all(|b| *b == fill)).then_some("int not sign-extended")
        }
        AbiType::FixedBytes(n) => (!w[*n as usize..].iter().all(|b| *b == 0)).then_some("bytesN with nonzero padding"),
        _ => Some("not a static scalar type"),
    }
}

/// A StandardMerkleTree from packed `abi.encode` bytes: `data` is every value's encoding
/// concatenated (32 bytes per type, static scalar types only), so no Python object is touched
/// per leaf; checking, both leaf hashes (in keccak lanes) and the tree run in parallel with the
/// GIL released. Same tree as `build_standard` on the decoded values.
#[pyfunction]
#[pyo3(signature = (leaf_encoding, data, sort_leaves = true))]
fn build_standard_packed(py: Python<'_>, leaf_encoding: Vec<String>, data: &Bound<'_, PyAny>, sort_leaves: bool) -> PyResult<MerkleCore> {
    use rayon::prelude::*;
    let types = parse_types(&leaf_encoding)?;
    if let Some(t) = types.iter().find(|t| !is_scalar(t) || t.is_dynamic()) {
        return Err(invalid(format!("build_standard_packed: {} is not a static scalar type", t.name())));
    }
    let stride = 32 * types.len();
    let data = crate::buffers::bytes_view(data, "data")?;
    if stride == 0 || data.is_empty() || data.len() % stride != 0 {
        return Err(invalid(format!("data: expected a non-zero multiple of {stride} bytes, got {}", data.len())));
    }
    let n = data.len() / stride;
    let tree = py.allow_threads(|| -> Result<IndexedTree, MerkleError> {
        if let Some((i, why)) = data.par_chunks(stride).enumerate().find_map_first(|(i, leaf)| {
            types.iter().zip(leaf.chunks_exact(32)).find_map(|(t, w)| noncanonical(t, w)).map(|why| (i, why))
        }) {
            return Err(MerkleError::InvalidInput(format!("data: value {i}: {why}")));
        }
        let lanes = Lanes::active();
        let mut leaves = vec![[0u8; 32]; n];
        leaves.par_chunks_mut(4096).enumerate().for_each(|(k, out)| {
            let first = k * 4096;
            let enc: Vec<&[u8]> = (first..first + out.len()).map(|i| &data[i * stride..(i + 1) * stride]).collect();
            lanes.double(&enc, out);
        });
        IndexedTree::build(&leaves, sort_leaves)
    });
    Ok(MerkleCore::new(tree.map_err(merr)?))
}

#[pyfunction]
#[pyo3(signature = (leaves, sort_leaves = true))]
fn build_simple(py: Python<'_>, leaves: &Bound<'_, PyAny>, sort_leaves: bool) -> PyResult<MerkleCore> {
    let leaves = hashes(leaves, "values")?;
    if leaves.is_empty() {
        return Err(invalid("expected a non-zero number of values"));
    }
    let tree = py.allow_threads(|| IndexedTree::build(&leaves, sort_leaves));
    Ok(MerkleCore::new(tree.map_err(merr)?))
}

/// Rebuild from a dump's `tree` and the values' `treeIndex`es; checks the node structure.
#[pyfunction]
fn core_from_dump(py: Python<'_>, tree: &Bound<'_, PyAny>, positions: Vec<usize>) -> PyResult<MerkleCore> {
    let nodes = hashes(tree, "tree")?;
    let inner = py.allow_threads(|| IndexedTree::from_parts(nodes, positions)).map_err(merr)?;
    Ok(MerkleCore::new(inner))
}

/// keccak256(keccak256(abi.encode(leaf_encoding, value))): the StandardMerkleTree leaf hash.
#[pyfunction]
fn standard_leaf_hash<'py>(py: Python<'py>, leaf_encoding: Vec<String>, value: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
    let types = parse_types(&leaf_encoding)?;
    let mut buf = Vec::new();
    encode_leaf(value, &types, 0, &mut buf).map_err(merr)?;
    Ok(PyBytes::new(py, &standard_leaf(&buf)))
}

/// abi.encode(types, values) as bytes.
#[pyfunction]
fn abi_encode<'py>(py: Python<'py>, types: Vec<String>, values: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
    let t = parse_types(&types)?;
    let mut buf = Vec::new();
    encode_leaf(values, &t, 0, &mut buf).map_err(merr)?;
    Ok(PyBytes::new(py, &buf))
}

/// Leaf hashes of many values, concatenated (32 bytes each), hashed in parallel.
#[pyfunction]
fn standard_leaf_hashes<'py>(py: Python<'py>, leaf_encoding: Vec<String>, values: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
    let types = parse_types(&leaf_encoding)?;
    let (flat, _) = leaf_hashes_pipelined(py, values, &types, false, None)?;
    Ok(PyBytes::new(py, flat.as_flattened()))
}

#[pyfunction]
fn process_proof<'py>(py: Python<'py>, leaf: &Bound<'py, PyAny>, proof: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
    let l = hash32(leaf, "leaf")?;
    let p = hashes(proof, "proof")?;
    Ok(PyBytes::new(py, &tree::process_proof(&l, &p)))
}

#[pyfunction]
fn process_multiproof<'py>(
    py: Python<'py>,
    leaves: &Bound<'py, PyAny>,
    proof: &Bound<'py, PyAny>,
    proof_flags: Vec<bool>,
) -> PyResult<Bound<'py, PyBytes>> {
    let l = hashes(leaves, "leaves")?;
    let p = hashes(proof, "proof")?;
    let root = tree::process_multiproof(&l, &p, &proof_flags).map_err(merr)?;
    Ok(PyBytes::new(py, &root))
}

/// Where `verify_many` reads proofs from: Python lists of 0x-hex / bytes, or a `ProofSet`.
enum ProofSource<'a, 'py> {
    Lists(&'a Bound<'py, PySequence>),
    Set(&'a ProofSet),
}

impl ProofSource<'_, '_> {
    /// Append proof `i` to `out`; Ok(false) for a malformed proof (that item is just invalid).
    fn append(&self, i: usize, out: &mut Vec<Hash>) -> PyResult<bool> {
        match self {
            ProofSource::Set(set) => {
                out.extend_from_slice(&set.flat[set.offsets[i]..set.offsets[i + 1]]);
                Ok(true)
            }
            ProofSource::Lists(seq) => {
                let item = seq.get_item(i)?;
                if item.is_instance_of::<PyString>() || item.is_instance_of::<PyBytes>() {
                    return Ok(false);
                }
                let Ok(p) = item.downcast::<PySequence>() else { return Ok(false) };
                let list = item.downcast::<PyList>().ok();
                for k in 0..p.len()? {
                    let el = match &list {
                        Some(l) => l.get_item(k)?,
                        None => p.get_item(k)?,
                    };
                    match try_hash32(&el) {
                        Some(h) => out.push(h),
                        None => return Ok(false),
                    }
                }
                Ok(true)
            }
        }
    }
}

/// A 32-byte hash from 0x-hex or bytes, or None (no error object: used per item in batches).
fn try_hash32(obj: &Bound<'_, PyAny>) -> Option<Hash> {
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

/// Verify many (value, proof) pairs against one root. Conversion (GIL held) overlaps with
/// hashing on the other cores. `proofs` is a list of proofs (0x-hex or bytes) or a `ProofSet`.
/// A malformed value or proof gives `False` for that item; only batch-shape errors raise.
#[pyfunction]
fn verify_many(
    py: Python<'_>,
    root: &Bound<'_, PyAny>,
    leaf_encoding: Vec<String>,
    values: &Bound<'_, PyAny>,
    proofs: &Bound<'_, PyAny>,
) -> PyResult<Vec<bool>> {
    let root = hash32(root, "root")?;
    let types = parse_types(&leaf_encoding)?;
    let n_values = values.len().map_err(|_| invalid("values must be a list or tuple"))?;
    let set_ref;
    let seq_ref;
    let source = if let Ok(set) = proofs.downcast::<ProofSet>() {
        set_ref = set.get();
        ProofSource::Set(set_ref)
    } else {
        if proofs.is_instance_of::<PyString>() || proofs.is_instance_of::<PyBytes>() {
            return Err(invalid("proofs must be a list of proofs or a ProofSet"));
        }
        seq_ref = proofs.downcast::<PySequence>().map_err(|_| invalid("proofs must be a list of proofs or a ProofSet"))?.clone();
        ProofSource::Lists(&seq_ref)
    };
    let n_proofs = proofs.len()?;
    if n_proofs != n_values {
        return Err(invalid(format!("values and proofs differ in length: {n_values} values, {n_proofs} proofs")));
    }
    let (implied, ok) = leaf_hashes_pipelined(py, values, &types, true, Some(&source))?;
    Ok(implied.iter().zip(ok).map(|(h, good)| good && *h == root).collect())
}

/// Verify a whole JSON proofs request body (`{"root", "leaf_encoding"?, "items": [{"value",
/// "proof"}]}`) with the GIL released: split, parse, hash and fold in parallel in Rust. One
/// bool per item; a malformed item is `False`; a malformed body, root or encoding raises.
#[pyfunction]
fn verify_proofs_json(py: Python<'_>, body: &Bound<'_, PyAny>, default_encoding: Vec<String>, max_items: usize) -> PyResult<Vec<bool>> {
    let data = crate::buffers::bytes_view(body, "body")?;
    py.allow_threads(|| nftreg_merkle::json::verify_proofs_json(&data, &default_encoding, max_items))
        .map_err(|e| WrapMerkle(e).into())
}

/// Streaming form of `verify_proofs_json`: `feed` the body chunk by chunk as it arrives (full
/// batches of items are verified on the rayon pool meanwhile), then `finish` for one bool per
/// item. Same results and errors as `verify_proofs_json` on the whole body.
#[pyclass(module = "nftreg._core", name = "ProofStream", frozen)]
pub struct ProofStreamPy {
    inner: Mutex<Option<nftreg_merkle::json::ProofStream>>,
}

impl ProofStreamPy {
    fn take_or_lock(&self) -> PyResult<std::sync::MutexGuard<'_, Option<nftreg_merkle::json::ProofStream>>> {
        // never block on the lock while holding the GIL: the holder may be waiting for it
        self.inner.try_lock().map_err(|_| invalid("ProofStream is in use by another thread"))
    }
}

#[pymethods]
impl ProofStreamPy {
    #[new]
    fn new(default_encoding: Vec<String>, max_items: usize) -> Self {
        ProofStreamPy { inner: Mutex::new(Some(nftreg_merkle::json::ProofStream::new(&default_encoding, max_items))) }
    }

    /// Append the next chunk of the body (bytes or any bytes-like object).
    fn feed(&self, py: Python<'_>, chunk: &Bound<'_, PyAny>) -> PyResult<()> {
        let data = crate::buffers::bytes_view(chunk, "chunk")?;
        let mut guard = self.take_or_lock()?;
        let stream = guard.as_mut().ok_or_else(|| invalid("ProofStream: feed() after finish()"))?;
        py.allow_threads(|| stream.feed(&data)).map_err(|e| WrapMerkle(e).into())
    }

    /// End of body: one bool per item, in order; raises for a malformed body, root or encoding.
    fn finish(&self, py: Python<'_>) -> PyResult<Vec<bool>> {
        let stream = self.take_or_lock()?.take().ok_or_else(|| invalid("ProofStream: finish() called twice"))?;
        py.allow_threads(move || stream.finish()).map_err(|e| WrapMerkle(e).into())
    }
}

#[pyfunction]
fn keccak<'py>(py: Python<'py>, data: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
    let d = crate::buffers::bytes_like(data, "data")?;
    Ok(PyBytes::new(py, &keccak256(&d)))
}

/// Run `n` bare keccak-f[1600] permutations on one core (benchmark ceiling); returns a
/// state word so the work cannot be optimised away.
#[pyfunction]
fn keccak_permutations(py: Python<'_>, n: u64) -> u64 {
    py.allow_threads(|| nftreg_merkle::hash::permute_n(n))
}

/// EIP-55 checksum of a 20-byte address.
#[pyfunction]
fn to_checksum_address(address: &Bound<'_, PyAny>) -> PyResult<String> {
    let raw = raw_bytes(address).map_err(|e| invalid(format!("address: {e}")))?;
    if raw.len() != 20 {
        return Err(invalid(format!("address: expected 20 bytes, got {}", raw.len())));
    }
    Ok(abi::to_checksum(&raw))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<MerkleCore>()?;
    m.add_class::<ProofSet>()?;
    m.add_class::<ProofStreamPy>()?;
    m.add_function(wrap_pyfunction!(build_standard, m)?)?;
    m.add_function(wrap_pyfunction!(build_simple, m)?)?;
    m.add_function(wrap_pyfunction!(build_standard_packed, m)?)?;
    m.add_function(wrap_pyfunction!(core_from_dump, m)?)?;
    m.add_function(wrap_pyfunction!(standard_leaf_hash, m)?)?;
    m.add_function(wrap_pyfunction!(abi_encode, m)?)?;
    m.add_function(wrap_pyfunction!(standard_leaf_hashes, m)?)?;
    m.add_function(wrap_pyfunction!(process_proof, m)?)?;
    m.add_function(wrap_pyfunction!(process_multiproof, m)?)?;
    m.add_function(wrap_pyfunction!(verify_many, m)?)?;
    m.add_function(wrap_pyfunction!(verify_proofs_json, m)?)?;
    m.add_function(wrap_pyfunction!(keccak, m)?)?;
    m.add_function(wrap_pyfunction!(keccak_permutations, m)?)?;
    m.add_function(wrap_pyfunction!(to_checksum_address, m)?)?;
    Ok(())
}
