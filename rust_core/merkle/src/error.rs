//! Errors of the Merkle core. `InvalidInput` is the caller's fault; `Invariant` is ours.

use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum MerkleError {
    /// A leaf type string we do not understand.
    #[error("unknown or unsupported ABI type '{0}'")]
    UnknownType(String),
    /// A value that does not fit its declared type; `path` names the value index and field.
    #[error("{path}: {msg}")]
    BadValue { path: String, msg: String },
    /// Any other bad argument (empty tree, index out of range, malformed proof, ...).
    #[error("{0}")]
    InvalidInput(String),
    /// Something that cannot happen unless the data was tampered with or we have a bug.
    #[error("invariant violated: {0}")]
    Invariant(String),
}

impl From<nftreg_eth::EthError> for MerkleError {
    fn from(e: nftreg_eth::EthError) -> Self {
        use nftreg_eth::EthError as E;
        match e {
            E::UnknownType(t) => MerkleError::UnknownType(t),
            E::BadValue { path, msg } => MerkleError::BadValue { path, msg },
            E::InvalidInput(m) => MerkleError::InvalidInput(m),
            E::Invariant(m) => MerkleError::Invariant(m),
        }
    }
}

pub type Result<T> = std::result::Result<T, MerkleError>;

#[allow(dead_code)]
pub(crate) fn invalid<T>(msg: impl Into<String>) -> Result<T> {
    Err(MerkleError::InvalidInput(msg.into()))
}
