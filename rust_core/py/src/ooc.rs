//! `_core.ooc`: binding for `nftreg-ooc` (trees larger than memory). Builds run with the GIL
//! released; tree files are memory-mapped read-only and proofs read a few pages each.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

use nftreg_eth::Hash;
use nftreg_ooc::{build_claims_file, Format, Options, TreeFile};

use crate::errors::{invalid, invariant, Result};
use crate::merkle::values::hash32;

fn hex0x(h: &Hash) -> String {
    format!("0x{}", hex::encode(h))
}

/// Run `f` without the GIL; a panic comes back as an `InvariantError`, never across the FFI.
fn detached<T: Send>(py: Python<'_>, what: &str, f: impl FnOnce() -> nftreg_ooc::Result<T> + Send) -> Result<T> {
    py.allow_threads(|| catch_unwind(AssertUnwindSafe(f)))
        .map_err(|_| invariant(format!("{what}: internal panic")))?
        .map_err(Into::into)
}

/// Build the tree file `out` from the claims file `claims` (`fmt`: "csv" or "jsonl"). Returns
/// a dict: n, root (bytes), errors ([(line, message)], the first 1000), error_count, lines,
/// runs, read_seconds, write_seconds.
#[pyfunction]
#[pyo3(signature = (claims, out, fmt, *, memory_budget = nftreg_ooc::build::DEFAULT_BUDGET, temp_dir = None))]
fn build_claims<'py>(
    py: Python<'py>,
    claims: PathBuf,
    out: PathBuf,
    fmt: &str,
    memory_budget: usize,
    temp_dir: Option<PathBuf>,
) -> Result<Bound<'py, PyDict>> {
    let fmt = Format::parse(fmt).ok_or_else(|| invalid(format!("unknown claims format {fmt:?} (expected 'csv' or 'jsonl')")))?;
    let opts = Options { memory_budget, temp_dir };
    let r = detached(py, "build_claims", || build_claims_file(&claims, fmt, &out, &opts))?;
    let d = PyDict::new(py);
    d.set_item("n", r.n)?;
    d.set_item("root", PyBytes::new(py, &r.root))?;
    d.set_item("errors", r.errors)?;
    d.set_item("error_count", r.error_count)?;
    d.set_item("lines", r.lines)?;
    d.set_item("runs", r.runs)?;
    d.set_item("read_seconds", r.read_seconds)?;
    d.set_item("write_seconds", r.write_seconds)?;
    Ok(d)
}

/// A tree file, memory-mapped read-only.
#[pyclass(name = "TreeFile", module = "nftreg._core.ooc", frozen)]
pub struct PyTreeFile {
    inner: TreeFile,
}

#[pymethods]
impl PyTreeFile {
    #[new]
    fn new(py: Python<'_>, path: PathBuf) -> Result<Self> {
        let inner = detached(py, "TreeFile", || TreeFile::open(Path::new(&path)))?;
        Ok(PyTreeFile { inner })
    }
    #[getter]
    fn path(&self) -> &str {
        self.inner.path()
    }
    #[getter]
    fn root<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.root())
    }
    #[getter]
    fn leaf_encoding(&self) -> Vec<String> {
        self.inner.leaf_encoding().to_vec()
    }
    fn __len__(&self) -> usize {
        self.inner.len() as usize
    }
    fn node_count(&self) -> u64 {
        self.inner.nodes()
    }
    fn position(&self, row: u64) -> Result<u64> {
        Ok(self.inner.position(row)?)
    }
    fn row_at(&self, position: u64) -> Result<u64> {
        Ok(self.inner.row_at(position)?)
    }
    fn leaf<'py>(&self, py: Python<'py>, row: u64) -> Result<Bound<'py, PyBytes>> {
        Ok(PyBytes::new(py, &self.inner.leaf(row)?))
    }
    /// Proof of row `row` as 0x-hex (the npm library's `getProof(index)`).
    fn proof(&self, py: Python<'_>, row: u64) -> Result<Vec<String>> {
        let p = detached(py, "proof", || self.inner.proof(row))?;
        Ok(p.iter().map(hex0x).collect())
    }
    /// Proof of row `row`, concatenated 32-byte hashes.
    fn proof_bytes<'py>(&self, py: Python<'py>, row: u64) -> Result<Bound<'py, PyBytes>> {
        let p = detached(py, "proof", || self.inner.proof(row))?;
        Ok(PyBytes::new(py, p.as_flattened()))
    }
    /// The row with this leaf hash (of equal leaves the highest row, as the npm library's
    /// `leafLookup`), or None.
    fn lookup(&self, py: Python<'_>, leaf_hash: &Bound<'_, PyAny>) -> Result<Option<u64>> {
        let h = hash32(leaf_hash, "leaf hash")?;
        detached(py, "lookup", || self.inner.lookup(&h))
    }
    /// Recheck every node, the leaves' order and the row/position maps (reads the whole file).
    fn validate(&self, py: Python<'_>) -> Result<()> {
        detached(py, "validate", || self.inner.validate())
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyTreeFile>()?;
    m.add_function(wrap_pyfunction!(build_claims, m)?)?;
    Ok(())
}
