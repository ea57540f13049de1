//! Ethereum primitives shared by the tree crate (`nftreg-merkle`), the signature crate
//! (`nftreg-sig`) and the request verifier (`nftreg-verify`), so that each rule exists once:
//! keccak-256, Solidity ABI encoding, and the one conversion of loosely typed values (JSON or
//! Python) into ABI words. Pure Rust, no Python.

pub mod abi;
pub mod error;
pub mod keccak;
pub mod value;

pub use error::{EthError, Result};
pub use keccak::{keccak256, Hash};
