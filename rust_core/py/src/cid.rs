//! Binding placeholder: the functions are registered here when the pure crate lands.
use pyo3::prelude::*;

pub fn register(_m: &Bound<'_, PyModule>) -> PyResult<()> {
    Ok(())
}
