//! Pure-Rust core for nftreg's Merkle work: Solidity ABI encoding of leaf
//! values, and trees byte-compatible with `@openzeppelin/merkle-tree` 1.0.x.
//! No Python here: the pyo3 crate (`rust_core/py`) only converts types.

pub mod abi;
pub mod error;
pub mod json;
pub mod tree;

pub use error::{MerkleError, Result};
/// Keccak-256 lives in the shared `nftreg-eth` crate; re-exported under its old path.
pub use nftreg_eth::keccak as hash;
pub use nftreg_eth::{keccak256, Hash};
