//! EIP-712 typed-data hashing, digest-identical to eth-account's `encode_typed_data`
//! (full message form: `{types, primaryType, domain, message}`).
//!
//! The rules eth-account applies are applied here too, so that the same input gives the same
//! digest or is refused:
//! - the domain may only use the five standard keys and is always hashed with them in the
//!   canonical order (name, version, chainId, verifyingContract, salt); a declared
//!   `types.EIP712Domain` must name exactly the domain's keys (so a signed domain can never
//!   silently leave out a chainId or verifyingContract that the domain object carries);
//! - `primaryType`, when given, must be the one root of the type graph; when absent it is
//!   derived;
//! - `bytesN` values shorter than N bytes are right-padded (eth-abi's rule).
//!
//! Where eth-account is lax, this module is strict and refuses the item instead: a missing or
//! null field (eth-account hashes a zero word), a bool given as anything but true/false, text
//! where hex bytes are expected, a `T[k]` array of another length.
//!
//! A batch of vouchers or attestations almost always shares one `types` and one `domain`, so
//! the work that depends only on them (type strings, type hashes, field types, the domain
//! separator) lives in a [`Context`] built once and reused; only `message` is hashed per item.
//! That keeps EIP-712 verification close to the cost of the signature recovery itself.
//!
//! Layout: `types` (field kinds, `encodeType`, the primary type), `encoding` (the [`Context`] and
//! `encodeData`), `hashing` (the last two hashes, in lanes for many messages) and `cache`
//! (contexts reused across items).

use serde_json::Value;
use thiserror::Error;

mod cache;
mod encoding;
mod hashing;
mod types;

pub use cache::{digest_json_cached, pending_json_cached, ContextCache};
pub use encoding::Context;
pub use hashing::{digest_many_json, finish_many, Pending};

#[derive(Debug, Error, PartialEq, Eq)]
#[error("{0}")]
pub struct TypedDataError(pub String);

pub(crate) type R<T> = Result<T, TypedDataError>;

pub(crate) fn err<T>(msg: impl Into<String>) -> R<T> {
    Err(TypedDataError(msg.into()))
}

/// The EIP-712 digest of a full typed-data message (a JSON object).
pub fn digest(typed: &Value) -> R<[u8; 32]> {
    let domain = typed.get("domain").ok_or_else(|| TypedDataError("missing 'domain'".into()))?;
    let types = typed.get("types").ok_or_else(|| TypedDataError("missing 'types'".into()))?;
    let primary = match typed.get("primaryType") {
        None => None,
        Some(p) => Some(p.as_str().ok_or_else(|| TypedDataError("'primaryType' must be a string".into()))?),
    };
    Context::new(types, domain)?.digest(primary, typed.get("message"))
}

/// Parse JSON text and compute its digest.
pub fn digest_json(text: &str) -> R<[u8; 32]> {
    let v: Value = serde_json::from_str(text).map_err(|e| TypedDataError(format!("typed data is not valid JSON: {e}")))?;
    digest(&v)
}

#[cfg(test)]
mod tests;
