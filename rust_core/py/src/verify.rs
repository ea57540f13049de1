//! Binding for `nftreg-verify`: proofs request bodies, whole (`verify_proofs_json`) or
//! streamed (`ProofStream`), verified with the GIL released. Registered in `_core.merkle`.

use std::sync::Mutex;

use pyo3::prelude::*;

use crate::errors::{invalid, Result};

/// Verify a whole JSON proofs request body (`{"root", "leaf_encoding"?, "items": [{"value",
/// "proof"}]}`) with the GIL released: split, parse, hash and fold in parallel in Rust. One
/// bool per item; a malformed item is `False`; a malformed body, root or encoding raises.
/// Items are hashed in groups in keccak lanes; `item_by_item=True` runs the one-lane,
/// item-by-item reference instead (same answers: for tests and the benchmark's "before").
#[pyfunction]
#[pyo3(signature = (body, default_encoding, max_items, *, item_by_item=false))]
fn verify_proofs_json(
    py: Python<'_>,
    body: &Bound<'_, PyAny>,
    default_encoding: Vec<String>,
    max_items: usize,
    item_by_item: bool,
) -> Result<Vec<bool>> {
    let data = crate::buffers::bytes_view(body, "body")?;
    let run = if item_by_item { nftreg_verify::verify_proofs_json_reference } else { nftreg_verify::verify_proofs_json };
    Ok(py.allow_threads(|| run(&data, &default_encoding, max_items))?)
}

/// Streaming form of `verify_proofs_json`: `feed` the body chunk by chunk as it arrives (full
/// batches of items are verified on the rayon pool meanwhile), then `finish` for one bool per
/// item. Same results and errors as `verify_proofs_json` on the whole body.
#[pyclass(module = "nftreg._core.merkle", name = "ProofStream", frozen)]
pub struct ProofStreamPy {
    inner: Mutex<Option<nftreg_verify::ProofStream>>,
}

impl ProofStreamPy {
    fn take_or_lock(&self) -> Result<std::sync::MutexGuard<'_, Option<nftreg_verify::ProofStream>>> {
        // never block on the lock while holding the GIL: the holder may be waiting for it
        self.inner.try_lock().map_err(|_| invalid("ProofStream is in use by another thread"))
    }
}

#[pymethods]
impl ProofStreamPy {
    #[new]
    fn new(default_encoding: Vec<String>, max_items: usize) -> Self {
        ProofStreamPy { inner: Mutex::new(Some(nftreg_verify::ProofStream::new(&default_encoding, max_items))) }
    }

    /// Append the next chunk of the body (bytes or any bytes-like object).
    fn feed(&self, py: Python<'_>, chunk: &Bound<'_, PyAny>) -> Result<()> {
        let data = crate::buffers::bytes_view(chunk, "chunk")?;
        let mut guard = self.take_or_lock()?;
        let stream = guard.as_mut().ok_or_else(|| invalid("ProofStream: feed() after finish()"))?;
        Ok(py.allow_threads(|| stream.feed(&data))?)
    }

    /// End of body: one bool per item, in order; raises for a malformed body, root or encoding.
    fn finish(&self, py: Python<'_>) -> Result<Vec<bool>> {
        let stream = self.take_or_lock()?.take().ok_or_else(|| invalid("ProofStream: finish() called twice"))?;
        Ok(py.allow_threads(move || stream.finish())?)
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<ProofStreamPy>()?;
    m.add_function(wrap_pyfunction!(verify_proofs_json, m)?)?;
    Ok(())
}
