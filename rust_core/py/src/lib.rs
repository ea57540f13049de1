//! `nftreg._core`: the private extension module, one submodule per pure-Rust crate it binds.
//! Each submodule converts Python values to the crates' types, releases the GIL for the work,
//! and maps errors in one place (`errors.rs`). The binding holds no hashing or verification
//! rules, but it is not logic-free: it runs its own threads to hash leaves while Python values
//! are still being converted (`merkle/pipeline.rs`), and it writes the embedded store's
//! blockstore (`cid.rs`).

use pyo3::prelude::*;
use pyo3::types::PyDict;

mod buffers;
mod cid;
mod errors;
mod keccak;
mod merkle;
mod ooc;
mod sig;
mod tlog;
mod verify;

/// Add `name` as a real submodule: an attribute of `_core`, and importable as
/// `nftreg._core.<name>` (registered in `sys.modules`).
fn submodule(parent: &Bound<'_, PyModule>, name: &str, register: impl Fn(&Bound<'_, PyModule>) -> PyResult<()>) -> PyResult<()> {
    let py = parent.py();
    let m = PyModule::new(py, name)?;
    register(&m)?;
    parent.add_submodule(&m)?; // under `name`: the attribute is named after `__name__`
    let full = format!("nftreg._core.{name}");
    m.setattr("__name__", &full)?;
    py.import("sys")?.getattr("modules")?.downcast_into::<PyDict>()?.set_item(full, &m)?;
    Ok(())
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    submodule(m, "merkle", |m| merkle::register(m).and_then(|_| verify::register(m)).and_then(|_| keccak::register(m)))?;
    submodule(m, "sig", sig::register)?;
    submodule(m, "cid", cid::register)?;
    submodule(m, "ooc", ooc::register)?;
    submodule(m, "tlog", tlog::register)?;
    Ok(())
}
