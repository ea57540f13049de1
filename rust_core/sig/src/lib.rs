//! Batch signature verification: secp256k1 public-key recovery (EIP-191 `personal_sign`,
//! EIP-712 typed data) with Ethereum's rules, and Ed25519 (RFC 8032) with batch verification.
//! Pure Rust over bytes; the pyo3 crate converts and releases the GIL.

pub mod ecdsa;
pub mod ed25519;
pub mod eip712;

/// Re-exported so the binding builds `serde_json` values with the same features enabled.
pub use serde_json;
