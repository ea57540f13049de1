//! Leaf hashing of many Python values: conversion (which needs the GIL) on the calling thread,
//! in chunks, while threads of our own hash the finished chunks (and fold proofs, when
//! verifying); once conversion ends the caller releases the GIL and hashes too.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex};

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PySequence, PyString};

use nftreg_eth::abi::AbiType;
use nftreg_eth::keccak::{keccak256, keccak256_32, Lanes};
use nftreg_eth::Hash;
use nftreg_merkle::tree;

use super::values::{encode_leaf, try_hash32};
use super::ProofSet;
use crate::errors::{invalid, invariant, Error, Result};

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
pub fn leaf_hashes_pipelined(
    py: Python<'_>,
    values: &Bound<'_, PyAny>,
    types: &[AbiType],
    lenient: bool,
    proofs: Option<&ProofSource<'_, '_>>,
) -> Result<(Vec<Hash>, Vec<bool>)> {
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
        let mut failure: Option<Error> = None;
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
                        failure = Some(e.into());
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
                        failure = Some(Error::from(e));
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


