//! Pure-Rust core for nftreg's Merkle work: trees byte-compatible with
//! `@openzeppelin/merkle-tree` 1.0.x (build, proofs, multiproofs, verification).
//! Keccak and the Solidity ABI encoding of leaf values live in the shared `nftreg-eth` crate.

pub mod error;
pub mod tree;

pub use error::{MerkleError, Result};
/// Keccak-256 and ABI encoding live in the shared `nftreg-eth` crate; re-exported here.
pub use nftreg_eth::abi;
pub use nftreg_eth::keccak as hash;
pub use nftreg_eth::{keccak256, Hash};
