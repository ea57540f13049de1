//! Leaf hashing of many Python values: reading them (which needs the GIL) on the calling thread,
//! in chunks, while threads of our own hash the finished chunks (and fold proofs, when
//! verifying); once reading ends the caller releases the GIL and hashes too.
//!
//! For leaf encodings without arrays (the common case: address, uint256, bytes32, string...)
//! the GIL thread only copies each field out (text and bytes into an arena, ints as words:
//! [`values::extract_leaf`]) and the parsing and ABI encoding run on the hashing threads, in
//! parallel; with arrays the whole conversion stays on the GIL thread ([`encode_leaf`]).

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex};

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PySequence, PyString};

use nftreg_eth::abi::AbiType;
use nftreg_eth::keccak::{keccak256, keccak256_32, Lanes};
use nftreg_eth::Hash;
use nftreg_merkle::tree;

use super::values::{self, encode_leaf, try_hash32, Field};
use super::ProofSet;
use crate::errors::{invalid, invariant, Error, Result};

/// Values are converted in chunks of this many under the GIL while another thread hashes the
/// previous chunks, so conversion and hashing overlap.
const CHUNK: usize = 16 * 1024;

/// Chunks of encoded leaves waiting to be hashed, shared by the converting thread (which holds
/// the GIL) and the hashing threads.
/// One chunk: encoded leaves (+ offsets), or the extracted values still to encode; and, when
/// verifying, their proofs (+ offsets).
struct Job {
    k: usize,
    buf: Vec<u8>,
    offsets: Vec<usize>,
    proofs: Vec<Hash>,
    proof_offsets: Vec<usize>,
    extracted: Option<Extracted>,
}

/// A chunk's values copied out of Python: `types.len()` fields per value whose shape was right
/// (`shaped[i]`), their text and bytes in `arena`.
struct Extracted {
    start: usize,
    arena: Vec<u8>,
    fields: Vec<Field>,
    shaped: Vec<bool>,
}

/// A hashed chunk: its leaf hashes (or implied roots) and, for extracted values, which of them
/// encoded and the first encoding error (value index, error).
struct Done {
    k: usize,
    hashes: Vec<Hash>,
    encoded: Vec<bool>,
    error: Option<(usize, nftreg_eth::EthError)>,
}

struct HashQueue<'t> {
    types: &'t [AbiType],
    state: Mutex<(VecDeque<Job>, bool)>,
    ready: Condvar,
    results: Mutex<Vec<Done>>,
}

/// Encode a chunk of extracted values into `job.buf` / `job.offsets` (a value that fails encodes
/// as nothing); which encoded, and the first error.
fn encode_chunk(types: &[AbiType], ex: &Extracted, job: &mut Job) -> (Vec<bool>, Option<(usize, nftreg_eth::EthError)>) {
    let n = ex.shaped.len();
    job.buf.reserve(n * 32 * types.len());
    job.offsets.reserve(n + 1);
    job.offsets.push(0);
    let mut encoded = Vec::with_capacity(n);
    let mut error = None;
    let mut next = 0;
    for (i, &shaped) in ex.shaped.iter().enumerate() {
        let mut good = shaped;
        if shaped {
            let fields = &ex.fields[next..next + types.len()];
            next += types.len();
            let mark = job.buf.len();
            if let Err(e) = values::encode_extracted(fields, &ex.arena, types, ex.start + i, &mut job.buf) {
                job.buf.truncate(mark);
                good = false;
                error.get_or_insert((ex.start + i, e));
            }
        }
        encoded.push(good);
        job.offsets.push(job.buf.len());
    }
    (encoded, error)
}

impl HashQueue<'_> {
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
            let Some(mut job) = job else { return };
            let (good, error) = match job.extracted.take() {
                Some(ex) => encode_chunk(self.types, &ex, &mut job),
                None => (Vec::new(), None),
            };
            let lanes = Lanes::active();
            let leaves: Vec<&[u8]> = job.offsets.windows(2).map(|w| &job.buf[w[0]..w[1]]).collect();
            let mut hashes = vec![[0u8; 32]; leaves.len()];
            lanes.double(&leaves, &mut hashes);
            if !job.proof_offsets.is_empty() {
                // verifying: replace each leaf by the root its proof implies (proofs in lockstep)
                let leaves = hashes.clone();
                let (proofs, offs) = (&job.proofs, &job.proof_offsets);
                tree::process_proofs_with(lanes, &leaves, |i| &proofs[offs[i]..offs[i + 1]], &mut hashes);
            }
            self.results.lock().unwrap_or_else(|e| e.into_inner()).push(Done { k: job.k, hashes, encoded: good, error });
        }
    }
}

/// Leaf hashes of every value (and per-item validity when `lenient`). Reading Python objects
/// needs the GIL and runs on this thread while the other cores encode and hash finished chunks;
/// once reading ends this thread releases the GIL and works too. `parallel` = false keeps the
/// whole conversion on this thread (the benchmark's "before"; arrays always do).
pub fn leaf_hashes_pipelined(
    py: Python<'_>,
    values: &Bound<'_, PyAny>,
    types: &[AbiType],
    lenient: bool,
    proofs: Option<&ProofSource<'_, '_>>,
    parallel: bool,
) -> Result<(Vec<Hash>, Vec<bool>)> {
    if values.is_instance_of::<PyString>() || values.is_instance_of::<PyBytes>() {
        return Err(invalid("values must be a list or tuple"));
    }
    let seq = values.downcast::<PySequence>().map_err(|_| invalid("values must be a list or tuple"))?;
    let n = seq.len()?;
    let list = values.downcast::<PyList>().ok();
    let extract = parallel && types.iter().all(|t| !matches!(t, AbiType::Array(_) | AbiType::FixedArray(..)));
    let queue =
        HashQueue { types, state: Mutex::new((VecDeque::new(), false)), ready: Condvar::new(), results: Mutex::new(Vec::new()) };
    let helpers = std::thread::available_parallelism().map(|c| c.get()).unwrap_or(1).saturating_sub(1).max(1);
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..helpers).map(|_| scope.spawn(|| queue.work())).collect();
        let mut ok = Vec::with_capacity(n);
        // the first failure seen on this thread (value index, error); the workers report theirs
        let mut failure: Option<(usize, Error)> = None;
        let mut start = 0;
        while start < n && failure.is_none() {
            let end = (start + CHUNK).min(n);
            let mut buf = Vec::new();
            let mut offsets = Vec::new();
            let mut ex = None;
            if extract {
                ex = Some(Extracted {
                    start,
                    arena: Vec::with_capacity((end - start) * 48),
                    fields: Vec::with_capacity((end - start) * types.len()),
                    shaped: Vec::with_capacity(end - start),
                });
            } else {
                buf.reserve((end - start) * 32 * types.len());
                offsets.reserve(end - start + 1);
                offsets.push(0);
            }
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
                        failure = Some((i, e.into()));
                        break;
                    }
                };
                let converted = match &mut ex {
                    Some(ex) => {
                        let r = values::extract_leaf(&item, types, i, &mut ex.arena, &mut ex.fields);
                        ex.shaped.push(r.is_ok());
                        r
                    }
                    None => {
                        let mark = buf.len();
                        let r = encode_leaf(&item, types, i, &mut buf);
                        if r.is_err() {
                            buf.truncate(mark);
                        }
                        offsets.push(buf.len());
                        r
                    }
                };
                match converted {
                    Ok(()) => ok.push(true),
                    Err(_) if lenient => ok.push(false),
                    Err(e) => {
                        failure = Some((i, Error::from(e)));
                        break;
                    }
                }
                if let Some(src) = proofs {
                    let pmark = pflat.len();
                    match src.append(i, &mut pflat) {
                        Ok(true) => {}
                        Ok(false) => {
                            pflat.truncate(pmark);
                            ok[i] = false;
                        }
                        Err(e) => {
                            failure = Some((i, e));
                            break;
                        }
                    }
                    poffs.push(pflat.len());
                }
            }
            if failure.is_none() {
                queue.push(Job { k: start / CHUNK, buf, offsets, proofs: pflat, proof_offsets: poffs, extracted: ex });
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
        let mut parts = std::mem::take(&mut *queue.results.lock().unwrap_or_else(|e| e.into_inner()));
        parts.sort_unstable_by_key(|d| d.k);
        // values are read in order here but encoded on the workers: the error to report is the
        // one of the lowest value index, whichever side found it (this thread stops at its first failure and never queues that chunk, so any
        // worker error has a lower index)
        if !lenient {
            if let Some((_, e)) = parts.iter_mut().find_map(|d| d.error.take()) {
                return Err(Error::from(e));
            }
        }
        if let Some((_, e)) = failure {
            return Err(e);
        }
        let mut out = Vec::with_capacity(n);
        for d in parts {
            let base = out.len();
            for (j, good) in d.encoded.iter().enumerate() {
                if !good {
                    ok[base + j] = false;
                }
            }
            out.extend_from_slice(&d.hashes);
        }
        if out.len() != n {
            return Err(invariant("leaf hashing lost a chunk"));
        }
        Ok((out, ok))
    })
}

pub fn standard_leaf(encoded: &[u8]) -> Hash {
    keccak256_32(&keccak256(encoded))
}

/// Where `verify_many` reads proofs from: Python lists of 0x-hex / bytes, or a `ProofSet`.
pub enum ProofSource<'a, 'py> {
    Lists(&'a Bound<'py, PySequence>),
    Set(&'a ProofSet),
}

impl ProofSource<'_, '_> {
    /// Append proof `i` to `out`; Ok(false) for a malformed proof (that item is just invalid).
    pub fn append(&self, i: usize, out: &mut Vec<Hash>) -> Result<bool> {
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


