//! The registration log's core: an RFC 6962 / RFC 9162 Merkle tree (SHA-256) laid out as
//! C2SP `tlog-tiles`, with C2SP `tlog-checkpoint` heads in C2SP `signed-note`s (Ed25519).
//!
//! Pure functions over bytes plus one in-memory hash store ([`Tree`]); the caller owns files,
//! fsync and HTTP. Everything here is checked against Go's `golang.org/x/mod/sumdb/tlog` and
//! `sumdb/note` by the Python test-suite.

pub mod hash;
pub mod note;
pub mod tile;
pub mod tree;

pub use hash::{leaf_hash, node_hash, Hash, EMPTY_ROOT};
pub use tree::{verify_consistency, verify_inclusion, Tree};

/// What went wrong, split as the rest of the core does: the caller's bad input versus a broken
/// internal invariant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlogError {
    #[error("{0}")]
    Invalid(String),
    #[error("internal invariant broken: {0}")]
    Invariant(String),
}

pub type Result<T> = std::result::Result<T, TlogError>;

pub(crate) fn invalid<T>(msg: impl Into<String>) -> Result<T> {
    Err(TlogError::Invalid(msg.into()))
}
