//! StandardMerkleTrees larger than memory, byte-compatible with `@openzeppelin/merkle-tree`.
//!
//! * [`claims`]: a claims file (CSV or JSON lines, as `nftreg.claims.read_claims` reads it) is
//!   streamed; one thread splits records while the others validate, ABI-encode and hash leaves
//!   in keccak lanes (`keccak256(keccak256(abi.encode(values)))`), naming bad lines by number.
//! * [`build`]: leaf hashes with their row index are sorted in runs of a configurable memory
//!   budget, spilled to a temp dir, merged, and the tree array (node `i`'s children at `2i+1`,
//!   `2i+2`; `2n - 1` nodes; leaf `k` of the sorted leaves at `2n - 2 - k`, ties in row order as
//!   JavaScript's stable sort leaves them) written level by level to a temp file, fsynced, then
//!   renamed into place.
//! * [`file`]: the format (a checksummed header with magic, version, `n`, root and the leaf
//!   encoding; the node array; the row of every leaf position; the position of every row) and
//!   [`TreeFile`], which serves proofs by row or by leaf hash from a read-only memory map.

pub mod build;
pub mod claims;
pub mod file;

pub use build::{Builder, Options};
pub use claims::{build_claims_file, ClaimsReport, Format};
pub use file::TreeFile;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum OocError {
    /// The caller's input is wrong (an option, a claims file that cannot be read as claims).
    #[error("{0}")]
    Invalid(String),
    /// A tree file that is not one, is truncated, or whose contents do not hash up to its root.
    #[error("{path}: {msg}")]
    Corrupt { path: String, msg: String },
    /// The environment failed (a read, a write, a full disk).
    #[error("{0}")]
    Io(String),
    /// Something that cannot happen unless we have a bug.
    #[error("invariant violated: {0}")]
    Invariant(String),
}

pub type Result<T> = std::result::Result<T, OocError>;

pub(crate) fn io_err(what: impl std::fmt::Display, e: std::io::Error) -> OocError {
    OocError::Io(format!("{what}: {e}"))
}
