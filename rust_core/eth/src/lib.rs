//! Ethereum primitives shared by the tree crate (`nftreg-merkle`) and the signature crate
//! (`nftreg-sig`), so that each rule exists once: keccak-256 today.
//! Pure Rust, no Python: the pyo3 crate (`rust_core/py`) only converts types.

pub mod keccak;

pub use keccak::{keccak256, Hash};
