//! `nftreg._core`: the private extension module. Each submodule converts Python values to
//! the pure-Rust crates' types, releases the GIL for the work, and maps errors in one place
//! (`errors.rs`). No hashing or verification logic lives here.

use pyo3::prelude::*;

mod buffers;
mod cid;
mod errors;
mod keccak;
mod merkle;
mod sig;
mod tlog;

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    merkle::register(m)?;
    sig::register(m)?;
    cid::register(m)?;
    keccak::register(m)?;
    tlog::register(m)?;
    Ok(())
}
