//! Errors of the Ethereum primitives. `UnknownType`, `BadValue` and `InvalidInput` are the
//! caller's fault; `Invariant` is ours. The tree crate maps these one-to-one into its own
//! error type (`From<EthError> for MerkleError`), so messages read the same everywhere.

use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum EthError {
    /// A type string we do not understand.
    #[error("unknown or unsupported ABI type '{0}'")]
    UnknownType(String),
    /// A value that does not fit its declared type; `path` names where it sits (may be empty).
    #[error("{path}: {msg}")]
    BadValue { path: String, msg: String },
    /// Any other bad argument (no types, wrong number of values, ...).
    #[error("{0}")]
    InvalidInput(String),
    /// Something that cannot happen unless we have a bug.
    #[error("invariant violated: {0}")]
    Invariant(String),
}

pub type Result<T> = std::result::Result<T, EthError>;
