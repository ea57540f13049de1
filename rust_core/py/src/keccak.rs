//! Keccak backend control and batch hashing for Python: which multi-lane backend runs
//! (`nftreg_eth::keccak::dispatch`), switching it for tests and benchmarks, and batch
//! keccak-256 so Python tests can compare every backend with independent implementations.
//! Registered in `_core.merkle`, next to `keccak`.

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};

use nftreg_eth::keccak::{self, Backend};

use crate::errors::{invalid, Result};

fn parse(name: &str) -> Result<Backend> {
    Backend::parse(name).ok_or_else(|| invalid(format!("unknown keccak backend {name:?}: expected avx512, avx2 or scalar")))
}

/// Backends this CPU runs, fastest first (always ends with "scalar").
#[pyfunction]
fn keccak_backends() -> Vec<&'static str> {
    keccak::Lanes::available().iter().map(|l| l.backend().name()).collect()
}

/// The backend batch hashing uses now.
#[pyfunction]
fn keccak_backend() -> &'static str {
    keccak::active_backend().name()
}

/// Use `name` for every later batch hash in this process; raises ValueError naming the
/// missing CPU feature if this CPU cannot run it.
#[pyfunction]
fn set_keccak_backend(name: &str) -> Result<()> {
    keccak::set_backend(parse(name)?).map_err(|e| invalid(e.to_string()))
}

/// keccak-256 of each bytes-like item, hashed in lanes by `backend` (default: the active one).
#[pyfunction]
#[pyo3(signature = (items, backend=None))]
fn keccak256_many<'py>(py: Python<'py>, items: &Bound<'py, PyList>, backend: Option<&str>) -> Result<Vec<Bound<'py, PyBytes>>> {
    let lanes = match backend {
        Some(name) => parse(name)?.lanes_handle().map_err(|e| invalid(e.to_string()))?,
        None => keccak::Lanes::active(),
    };
    let mut data = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        data.push(crate::buffers::bytes_like(&item, &format!("items[{i}]"))?);
    }
    let refs: Vec<&[u8]> = data.iter().map(|d| d.as_slice()).collect();
    let mut out = vec![[0u8; 32]; refs.len()];
    py.allow_threads(|| lanes.many(&refs, &mut out));
    Ok(out.iter().map(|h| PyBytes::new(py, h)).collect())
}

/// Run `n` Keccak-f[1600] permutations on one core with `backend` (benchmark ceiling);
/// returns a state word so the work cannot be optimised away.
#[pyfunction]
fn keccak_permutations_with(py: Python<'_>, backend: &str, n: u64) -> Result<u64> {
    let lanes = parse(backend)?.lanes_handle().map_err(|e| invalid(e.to_string()))?;
    Ok(py.allow_threads(|| lanes.permute_n(n)))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(keccak_backends, m)?)?;
    m.add_function(wrap_pyfunction!(keccak_backend, m)?)?;
    m.add_function(wrap_pyfunction!(set_keccak_backend, m)?)?;
    m.add_function(wrap_pyfunction!(keccak256_many, m)?)?;
    m.add_function(wrap_pyfunction!(keccak_permutations_with, m)?)?;
    Ok(())
}
