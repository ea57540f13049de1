//! The one place Rust errors become Python exceptions. Every binding function returns
//! [`Result`]; the pure crates' errors (and `PyErr`s from pyo3 calls) convert into [`Error`] with
//! `?`, and [`Error`] into `PyErr` in one `From` impl. The exception classes are defined in
//! Python (`nftreg.errors`) so users import them from one module.

use pyo3::exceptions::{PyIndexError, PyOSError};
use pyo3::import_exception;
use pyo3::PyErr;

use nftreg_cid::CidError;
use nftreg_eth::EthError;
use nftreg_merkle::MerkleError;
use nftreg_sig::eip712::TypedDataError;
use nftreg_verify::VerifyError;

import_exception!(nftreg.errors, InvalidInputError);
import_exception!(nftreg.errors, InvariantError);

/// Everything a binding function can fail with.
#[derive(Debug)]
pub enum Error {
    /// Bad input from the caller: `nftreg.errors.InvalidInputError` (a `ValueError`).
    Invalid(String),
    /// An internal invariant broke: `nftreg.errors.InvariantError` (a `RuntimeError`).
    Invariant(String),
    /// An index past the end of a sequence: `IndexError` (what `seq[i]` raises).
    IndexOutOfRange(String),
    /// The environment failed us (a blockstore write): `OSError`.
    Os(String),
    /// An exception already raised by Python code we called; passed through.
    Py(PyErr),
}

pub type Result<T> = std::result::Result<T, Error>;

/// Bad input from the caller.
pub fn invalid(msg: impl Into<String>) -> Error {
    Error::Invalid(msg.into())
}

/// An internal invariant broke.
pub fn invariant(msg: impl Into<String>) -> Error {
    Error::Invariant(msg.into())
}

impl From<Error> for PyErr {
    fn from(e: Error) -> PyErr {
        match e {
            Error::Invalid(m) => InvalidInputError::new_err(m),
            Error::Invariant(m) => InvariantError::new_err(m),
            Error::IndexOutOfRange(m) => PyIndexError::new_err(m),
            Error::Os(m) => PyOSError::new_err(m),
            Error::Py(e) => e,
        }
    }
}

impl From<PyErr> for Error {
    fn from(e: PyErr) -> Self {
        Error::Py(e)
    }
}

impl From<pyo3::DowncastError<'_, '_>> for Error {
    fn from(e: pyo3::DowncastError<'_, '_>) -> Self {
        Error::Py(e.into())
    }
}

impl From<pyo3::DowncastIntoError<'_>> for Error {
    fn from(e: pyo3::DowncastIntoError<'_>) -> Self {
        Error::Py(e.into())
    }
}

impl From<EthError> for Error {
    fn from(e: EthError) -> Self {
        match e {
            EthError::Invariant(m) => Error::Invariant(m),
            other => Error::Invalid(other.to_string()),
        }
    }
}

impl From<MerkleError> for Error {
    fn from(e: MerkleError) -> Self {
        match e {
            MerkleError::Invariant(m) => Error::Invariant(m),
            other => Error::Invalid(other.to_string()),
        }
    }
}

impl From<VerifyError> for Error {
    fn from(e: VerifyError) -> Self {
        Error::Invalid(e.0)
    }
}

impl From<TypedDataError> for Error {
    fn from(e: TypedDataError) -> Self {
        Error::Invalid(format!("typed data: {}", e.0))
    }
}

impl From<nftreg_tlog::TlogError> for Error {
    fn from(e: nftreg_tlog::TlogError) -> Self {
        match e {
            nftreg_tlog::TlogError::Invalid(m) => Error::Invalid(m),
            nftreg_tlog::TlogError::Invariant(m) => Error::Invariant(m),
        }
    }
}

impl From<CidError> for Error {
    fn from(e: CidError) -> Self {
        match e {
            CidError::Write(_) => Error::Os(e.to_string()),
            other => Error::Invalid(other.to_string()),
        }
    }
}

impl From<nftreg_ooc::OocError> for Error {
    fn from(e: nftreg_ooc::OocError) -> Self {
        use nftreg_ooc::OocError as E;
        match e {
            E::Invariant(m) => Error::Invariant(m),
            E::Io(m) => Error::Os(m),
            // A damaged tree file is bad input: the message names the file and what is wrong.
            other => Error::Invalid(other.to_string()),
        }
    }
}
