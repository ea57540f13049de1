//! The request verifier for `POST /v1/verify/proofs`: a JSON body goes in, one boolean per item
//! comes out (does the item's proof fold its value's leaf onto the root?).
//!
//! Body shape: `{"root": "0x…32 bytes", "leaf_encoding": ["address", …] (optional),
//! "items": [{"value": [...], "proof": ["0x…", …]}, …]}`.
//!
//! One JSON parser decides what a body means: jiter, at the version pydantic-core (the parser
//! of every other JSON route of the Python API) is built with. So this crate accepts exactly the
//! JSON the rest of the API accepts (NaN, 1e400, duplicate keys: the last one wins) and refuses
//! the rest with the same words ([`parse`]); the rules for the body's fields, in the order the
//! API has always checked them, are in [`request`]; one item is checked by [`item`].
//!
//! Two entry points with one answer: [`verify_proofs_json`] on a whole body, and
//! [`ProofStream`], which verifies batches of items while the body is still arriving and defers
//! to [`verify_proofs_json`] whenever the body is anything but plainly well formed. A malformed
//! item is `false` for that item only; a malformed body, root or encoding is a [`VerifyError`].
//! Nothing here touches Python, so the binding releases the GIL for all of it.

mod item;
pub mod parse;
pub mod request;
pub(crate) mod stream;
#[cfg(test)]
mod tests;

pub use request::{verify_proofs_json, verify_proofs_json_reference, verify_proofs_json_with};
pub use stream::ProofStream;

/// A body the verifier refuses; the message names what is wrong, in the API's words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct VerifyError(pub String);

pub type Result<T> = std::result::Result<T, VerifyError>;
