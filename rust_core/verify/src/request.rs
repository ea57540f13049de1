//! The fields of a proofs body (`root`, `leaf_encoding`, `items`) and the whole-body verifier.
//!
//! The rules, and their order, are those the API has always applied, so a body is refused with
//! the same message as before whichever field is wrong first: the body must be an object with
//! an `items` array; `root` must be a string; `leaf_encoding`, when present and not null, a
//! list of type names; `root` must be `0x` (either case) and 64 hex digits; at most `max_items`
//! items; the root's `0x` must then be lower case and its digits plain hex; the type names
//! must be ABI types.

use jiter::JsonValue;
use nftreg_eth::abi::{self, AbiType};
use nftreg_eth::keccak::Lanes;
use nftreg_eth::Hash;
use rayon::prelude::*;

use crate::parse::{field, parse_json};
use crate::{item, Result, VerifyError};

fn refuse<T>(msg: impl Into<String>) -> Result<T> {
    Err(VerifyError(msg.into()))
}

/// `root` must be a string.
pub fn root_text<'a>(v: Option<&'a JsonValue<'_>>) -> Result<&'a str> {
    match v {
        Some(JsonValue::Str(s)) => Ok(s),
        _ => refuse("root: required, 0x-hex"),
    }
}

/// `leaf_encoding`: absent or null → `None` (the default applies); else a list of strings.
pub fn leaf_names(v: Option<&JsonValue<'_>>) -> Result<Option<Vec<String>>> {
    match v {
        None | Some(JsonValue::Null) => Ok(None),
        Some(JsonValue::Array(a)) => a
            .iter()
            .map(|t| match t {
                JsonValue::Str(s) => Ok(s.to_string()),
                _ => refuse("leaf_encoding: expected a list of ABI type names"),
            })
            .collect::<Result<Vec<_>>>()
            .map(Some),
        Some(_) => refuse("leaf_encoding: expected a list of ABI type names"),
    }
}

/// The first root check: lower-cased, `0x` and 66 characters, then hex (whitespace between
/// byte pairs is tolerated here, as Python's `bytes.fromhex` does; [`root_hash`] refuses it).
pub fn root_shape(s: &str) -> Result<()> {
    let lower = s.to_lowercase();
    if !lower.starts_with("0x") || lower.chars().count() != 66 {
        return refuse("root: expected 0x followed by 64 hex digits");
    }
    let mut digits = lower[2..].bytes().peekable();
    loop {
        while digits.next_if(|b| b.is_ascii_whitespace() || *b == 0x0b).is_some() {}
        let Some(a) = digits.next() else { return Ok(()) };
        let b = digits.next();
        if !a.is_ascii_hexdigit() || !b.is_some_and(|b| b.is_ascii_hexdigit()) {
            return refuse("root: not hex");
        }
    }
}

/// The root's 32 bytes: `0x` (lower case) and exactly 64 hex digits.
pub fn root_hash(s: &str) -> Result<Hash> {
    let Some(h) = s.strip_prefix("0x") else { return refuse("root: expected 0x-prefixed hex") };
    if h.len() != 64 {
        return refuse(format!("root: expected 32 bytes (64 hex digits), got {} digits", h.len()));
    }
    let mut out = [0u8; 32];
    if !abi::decode_hex_exact(h.as_bytes(), &mut out).0 {
        return refuse("root: not valid hex");
    }
    Ok(out)
}

/// Every root rule, for callers that do not need them interleaved with the other fields.
pub fn root_of(v: &JsonValue<'_>) -> Result<Hash> {
    let s = root_text(Some(v))?;
    root_shape(s)?;
    root_hash(s)
}

/// Parse type names into ABI types (the API's message on failure).
pub fn types_of(names: &[String]) -> Result<Vec<AbiType>> {
    abi::parse_types(names).map_err(|e| VerifyError(e.to_string()))
}

/// A checked body: what its items are verified against.
pub struct Request<'a, 'j> {
    pub root: Hash,
    pub types: Vec<AbiType>,
    pub items: &'a [JsonValue<'j>],
}

impl<'a, 'j> Request<'a, 'j> {
    /// Check a parsed body's fields in the API's order.
    pub fn of(doc: &'a JsonValue<'j>, default_encoding: &[String], max_items: usize) -> Result<Request<'a, 'j>> {
        let Some(JsonValue::Array(items)) = field(doc, "items") else {
            return refuse("request body must be an object with an 'items' array");
        };
        let root = root_text(field(doc, "root"))?;
        let names = leaf_names(field(doc, "leaf_encoding"))?;
        root_shape(root)?;
        if items.len() > max_items {
            return refuse(format!("at most {max_items} items per request"));
        }
        let root = root_hash(root)?;
        let types = types_of(names.as_deref().unwrap_or(default_encoding))?;
        Ok(Request { root, types, items })
    }
}

/// Verify every item of a proofs request body. `default_encoding` applies when the body has no
/// `leaf_encoding`; more than `max_items` items is an error (before any hashing). Items are
/// hashed in groups of [`item::GROUP`] in the active keccak backend's lanes.
pub fn verify_proofs_json(body: &[u8], default_encoding: &[String], max_items: usize) -> Result<Vec<bool>> {
    verify_proofs_json_with(Lanes::active(), body, default_encoding, max_items)
}

/// [`verify_proofs_json`] on a given keccak backend.
pub fn verify_proofs_json_with(lanes: Lanes, body: &[u8], default_encoding: &[String], max_items: usize) -> Result<Vec<bool>> {
    let doc = parse_json(body)?;
    let req = Request::of(&doc, default_encoding, max_items)?;
    let ctx = item::Ctx::new(req.types, req.root);
    Ok(req
        .items
        .par_chunks(item::GROUP)
        .flat_map_iter(|chunk| {
            let mut group = item::Group::default();
            for it in chunk {
                group.push(&ctx, Some(it));
            }
            let mut out = Vec::with_capacity(chunk.len());
            group.finish(lanes, &ctx, &mut out);
            out
        })
        .collect())
}

/// [`verify_proofs_json`] item by item, each in one lane ([`item::Ctx::check`], in parallel
/// over items as before the lanes): the reference the grouped, multi-lane path is tested
/// against, and the benchmark's "before".
pub fn verify_proofs_json_reference(body: &[u8], default_encoding: &[String], max_items: usize) -> Result<Vec<bool>> {
    let doc = parse_json(body)?;
    let req = Request::of(&doc, default_encoding, max_items)?;
    let ctx = item::Ctx::new(req.types, req.root);
    Ok(req
        .items
        .par_iter()
        .with_min_len(256)
        .map_init(item::Scratch::default, |scratch, it| ctx.check(it, scratch))
        .collect())
}
