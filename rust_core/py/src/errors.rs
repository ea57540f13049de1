//! The one place Rust errors become Python exceptions. The exception classes are defined
//! in Python (`nftreg.errors`) so users import them from one module.

use pyo3::import_exception;
use pyo3::PyErr;

import_exception!(nftreg.errors, InvalidInputError);
import_exception!(nftreg.errors, InvariantError);

/// Bad input from the caller: raised as `nftreg.errors.InvalidInputError` (a `ValueError`).
pub fn invalid(msg: impl Into<String>) -> PyErr {
    InvalidInputError::new_err(msg.into())
}

/// An internal invariant broke: raised as `nftreg.errors.InvariantError` (a `RuntimeError`).
pub fn invariant(msg: impl Into<String>) -> PyErr {
    InvariantError::new_err(msg.into())
}

impl From<WrapMerkle> for PyErr {
    fn from(e: WrapMerkle) -> PyErr {
        match e.0 {
            nftreg_merkle::MerkleError::Invariant(m) => invariant(m),
            other => invalid(other.to_string()),
        }
    }
}

/// Newtype so `?` can turn a `MerkleError` into a `PyErr` (orphan rule).
pub struct WrapMerkle(pub nftreg_merkle::MerkleError);

impl From<nftreg_merkle::MerkleError> for WrapMerkle {
    fn from(e: nftreg_merkle::MerkleError) -> Self {
        WrapMerkle(e)
    }
}
