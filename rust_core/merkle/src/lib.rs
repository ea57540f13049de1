//! Pure-Rust core for nftreg's Merkle work: keccak-256, Solidity ABI encoding of leaf
//! values, and trees byte-compatible with `@openzeppelin/merkle-tree` 1.0.x.
//! No Python here: the pyo3 crate (`rust_core/py`) only converts types.

pub mod abi;
pub mod error;
pub mod hash;
pub mod json;
pub mod tree;

pub use error::{MerkleError, Result};
pub use hash::{keccak256, Hash};
