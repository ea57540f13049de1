//! Verify a whole `POST /v1/verify/proofs` body in one call: the JSON text goes in, one
//! boolean per item comes out. The body is split into items in one pass (each item kept as a
//! borrowed slice of the text), then items are parsed, ABI-encoded, hashed and folded in
//! parallel. Nothing here touches Python, so the caller can release the GIL for all of it.
//!
//! Body shape: `{"root": "0x…32 bytes", "leaf_encoding": ["address", …] (optional),
//! "items": [{"value": [...], "proof": ["0x…", …]}, …]}`. Values follow the JSON forms the
//! npm library and our Python API accept: addresses, 0x-hex bytes and strings as JSON strings,
//! integers as JSON numbers or decimal/0x-hex strings, booleans as JSON booleans. A malformed
//! item is `false` for that item only; only a malformed body, root or encoding is an error.

use std::borrow::Cow;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use rayon::prelude::*;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

use crate::abi::{self, AbiType, AbiValue};
use crate::error::{MerkleError, Result};
use crate::hash::{Hash, Lanes};
#[cfg(test)]
use crate::hash::{keccak256, keccak256_32};
#[cfg(test)]
use crate::tree::process_proof;
use crate::tree::process_proofs_with;

#[derive(Deserialize)]
struct Body<'a> {
    #[serde(borrow, default)]
    root: Option<&'a RawValue>,
    #[serde(borrow, default)]
    leaf_encoding: Option<&'a RawValue>,
    #[serde(borrow)]
    items: Vec<&'a RawValue>,
}

#[derive(Deserialize)]
struct Item<'a> {
    #[serde(borrow)]
    value: Vec<&'a RawValue>,
    #[serde(borrow)]
    proof: Vec<Cow<'a, str>>,
}

fn invalid(msg: impl Into<String>) -> MerkleError {
    MerkleError::InvalidInput(msg.into())
}

/// Parse the 32-byte root (`0x` + 64 hex digits).
fn root_of(raw: Option<&RawValue>) -> Result<Hash> {
    let s: String = raw
        .and_then(|r| serde_json::from_str(r.get()).ok())
        .ok_or_else(|| invalid("root: required, a 0x-hex string"))?;
    let h = s.strip_prefix("0x").ok_or_else(|| invalid("root: expected 0x-prefixed hex"))?;
    if h.len() != 64 {
        return Err(invalid(format!("root: expected 32 bytes (64 hex digits), got {} digits", h.len())));
    }
    let mut out = [0u8; 32];
    if !abi::decode_hex_exact(h.as_bytes(), &mut out).0 {
        return Err(invalid("root: not valid hex"));
    }
    Ok(out)
}

fn scalar(t: &AbiType, v: &Value) -> Result<[u8; 32]> {
    let bad = |what: &str| MerkleError::BadValue { path: String::new(), msg: format!("expected {what} for {}", t.name()) };
    match (t, v) {
        (AbiType::Address, Value::String(s)) => Ok(abi::parse_address(s, "")?),
        (AbiType::Bool, Value::Bool(b)) => {
            let mut w = [0u8; 32];
            w[31] = *b as u8;
            Ok(w)
        }
        (AbiType::Uint(bits), Value::Number(n)) => Ok(abi::parse_int_str(n.as_str(), false, *bits, "")?),
        (AbiType::Int(bits), Value::Number(n)) => Ok(abi::parse_int_str(n.as_str(), true, *bits, "")?),
        (AbiType::Uint(bits), Value::String(s)) => Ok(abi::parse_int_str(s, false, *bits, "")?),
        (AbiType::Int(bits), Value::String(s)) => Ok(abi::parse_int_str(s, true, *bits, "")?),
        (AbiType::FixedBytes(n), Value::String(s)) => Ok(abi::fixed_bytes_word(&abi::parse_hex_bytes(s, "")?, *n, "")?),
        (AbiType::Address, _) => Err(bad("an address string")),
        (AbiType::Bool, _) => Err(bad("a boolean")),
        (AbiType::Uint(_) | AbiType::Int(_), _) => Err(bad("an integer or a decimal/0x-hex string")),
        _ => Err(bad("a 0x-hex string")),
    }
}

fn to_value(t: &AbiType, v: &Value) -> Result<AbiValue> {
    Ok(match (t, v) {
        (AbiType::String, Value::String(s)) => AbiValue::Dynamic(s.as_bytes().to_vec()),
        (AbiType::Bytes, Value::String(s)) => AbiValue::Dynamic(abi::parse_hex_bytes(s, "")?),
        (AbiType::String | AbiType::Bytes, _) => return Err(invalid(format!("expected a string for {}", t.name()))),
        (AbiType::Array(inner), Value::Array(items)) => {
            AbiValue::Array(items.iter().map(|x| to_value(inner, x)).collect::<Result<_>>()?)
        }
        (AbiType::FixedArray(inner, k), Value::Array(items)) if items.len() == *k => {
            AbiValue::Array(items.iter().map(|x| to_value(inner, x)).collect::<Result<_>>()?)
        }
        (AbiType::Array(_) | AbiType::FixedArray(..), _) => return Err(invalid(format!("expected a list for {}", t.name()))),
        _ => AbiValue::Word(scalar(t, v)?),
    })
}

/// A JSON string field, borrowed from the body when it has no escapes.
fn json_str(raw: &RawValue) -> Option<Cow<'_, str>> {
    let text = raw.get();
    if !text.starts_with('"') {
        return None;
    }
    if let Ok(s) = serde_json::from_str::<&str>(text) {
        return Some(Cow::Borrowed(s));
    }
    serde_json::from_str::<String>(text).ok().map(Cow::Owned)
}

/// The ABI word of a static scalar field, straight from its JSON text.
fn scalar_raw(t: &AbiType, raw: &RawValue) -> Result<[u8; 32]> {
    match json_str(raw) {
        Some(s) => scalar_str(t, &s),
        None => scalar(t, &serde_json::from_str::<Value>(raw.get()).map_err(|_| invalid("not JSON"))?),
    }
}

/// [`scalar`] for a JSON string, without building a `Value`.
fn scalar_str(t: &AbiType, s: &str) -> Result<[u8; 32]> {
    match t {
        AbiType::Address => Ok(abi::parse_address(s, "")?),
        AbiType::Uint(bits) => Ok(abi::parse_int_str(s, false, *bits, "")?),
        AbiType::Int(bits) => Ok(abi::parse_int_str(s, true, *bits, "")?),
        AbiType::FixedBytes(n) => Ok(abi::fixed_bytes_word(&abi::parse_hex_bytes(s, "")?, *n, "")?),
        _ => Err(invalid(format!("a string does not fit type {}", t.name()))),
    }
}

#[cfg(test)]
/// The standard leaf hash of one JSON value (`keccak256(keccak256(abi.encode(...)))`), one lane:
/// the tests' reference for [`Group`]. A
/// tuple of scalars, `string` and `bytes` (the claims' encoding among them) is encoded straight
/// from the borrowed JSON text; arrays go through `AbiValue`.
fn leaf_of(types: &[AbiType], all_static: bool, value: &[&RawValue], buf: &mut Vec<u8>) -> Result<Hash> {
    encode_leaf(types, all_static, value, buf)?;
    Ok(keccak256_32(&keccak256(buf)))
}

/// `abi.encode` of one JSON value into `buf` (cleared first): what [`leaf_of`] hashes.
fn encode_leaf(types: &[AbiType], all_static: bool, value: &[&RawValue], buf: &mut Vec<u8>) -> Result<()> {
    if value.len() != types.len() {
        return Err(invalid("wrong arity"));
    }
    buf.clear();
    if all_static {
        for (t, v) in types.iter().zip(value) {
            buf.extend_from_slice(&scalar_raw(t, v)?);
        }
    } else if types.iter().all(|t| !matches!(t, AbiType::Array(_) | AbiType::FixedArray(..))) {
        buf.resize(32 * types.len(), 0);
        for (i, (t, v)) in types.iter().zip(value).enumerate() {
            match t {
                AbiType::String | AbiType::Bytes => {
                    let s = json_str(v).ok_or_else(|| invalid(format!("expected a string for {}", t.name())))?;
                    let offset = buf.len() as u64;
                    buf[32 * i + 24..32 * i + 32].copy_from_slice(&offset.to_be_bytes());
                    let hexed;
                    let data: &[u8] = if matches!(t, AbiType::String) {
                        s.as_bytes()
                    } else {
                        hexed = abi::parse_hex_bytes(&s, "")?;
                        &hexed
                    };
                    let mut len = [0u8; 32];
                    len[24..].copy_from_slice(&(data.len() as u64).to_be_bytes());
                    buf.extend_from_slice(&len);
                    buf.extend_from_slice(data);
                    buf.resize(buf.len() + (32 - data.len() % 32) % 32, 0);
                }
                _ => {
                    let w = scalar_raw(t, v)?;
                    buf[32 * i..32 * i + 32].copy_from_slice(&w);
                }
            }
        }
    } else {
        let mut vals = Vec::with_capacity(types.len());
        for (t, v) in types.iter().zip(value) {
            let parsed: Value = serde_json::from_str(v.get()).map_err(|_| invalid("not JSON"))?;
            vals.push(to_value(t, &parsed)?);
        }
        abi::encode_into(types, &vals, buf)?;
    }
    Ok(())
}

/// Items gathered to be hashed together: their encoded leaves and proofs, flat, then both leaf
/// hashes and the proof folds in keccak lanes ([`Lanes::double`], [`process_proofs_with`]).
/// Gives exactly [`check_parsed`]'s answer for each item.
struct Group {
    enc: Vec<u8>,
    enc_offs: Vec<usize>,
    proofs: Vec<Hash>,
    proof_offs: Vec<usize>,
    ok: Vec<bool>,
    scratch: Vec<u8>,
}

/// Items per [`Group`].
const GROUP: usize = 256;

impl Group {
    fn new() -> Group {
        Group {
            enc: Vec::with_capacity(GROUP * 64),
            enc_offs: vec![0],
            proofs: Vec::with_capacity(GROUP * 20),
            proof_offs: vec![0],
            ok: Vec::with_capacity(GROUP),
            scratch: Vec::with_capacity(256),
        }
    }

    /// Add one item (`None`: an item that did not parse, which is just `false`).
    fn push(&mut self, item: Option<&Item<'_>>, types: &[AbiType], all_static: bool) {
        let (enc_mark, proof_mark) = (self.enc.len(), self.proofs.len());
        let good = item.is_some_and(|item| {
            for p in &item.proof {
                let Some(h) = p.strip_prefix("0x") else { return false };
                let mut out = [0u8; 32];
                if !abi::decode_hex_exact(h.as_bytes(), &mut out).0 {
                    return false;
                }
                self.proofs.push(out);
            }
            encode_leaf(types, all_static, &item.value, &mut self.scratch).is_ok()
        });
        if good {
            self.enc.extend_from_slice(&self.scratch);
        } else {
            self.enc.truncate(enc_mark);
            self.proofs.truncate(proof_mark);
        }
        self.enc_offs.push(self.enc.len());
        self.proof_offs.push(self.proofs.len());
        self.ok.push(good);
    }

    /// One answer per pushed item, in order; the group is then empty again.
    fn finish(&mut self, lanes: Lanes, root: &Hash, out: &mut Vec<bool>) {
        let n = self.ok.len();
        let encoded: Vec<&[u8]> = self.enc_offs.windows(2).map(|w| &self.enc[w[0]..w[1]]).collect();
        let mut leaves = vec![[0u8; 32]; n];
        lanes.double(&encoded, &mut leaves);
        let mut roots = vec![[0u8; 32]; n];
        let (proofs, offs) = (&self.proofs, &self.proof_offs);
        process_proofs_with(lanes, &leaves, |i| &proofs[offs[i]..offs[i + 1]], &mut roots);
        out.extend(self.ok.iter().zip(&roots).map(|(ok, r)| *ok && r == root));
        self.enc.clear();
        self.enc_offs.truncate(1);
        self.proofs.clear();
        self.proof_offs.truncate(1);
        self.ok.clear();
    }
}

#[cfg(test)]
/// One item: true when its proof folds its value's leaf onto `root`; false when it does not or
/// when the item is malformed in any way.
fn check_item(raw: &RawValue, types: &[AbiType], all_static: bool, root: &Hash, buf: &mut Vec<u8>, proof: &mut Vec<Hash>) -> bool {
    let Ok(item) = serde_json::from_str::<Item<'_>>(raw.get()) else { return false };
    check_parsed(&item, types, all_static, root, buf, proof)
}

#[cfg(test)]
/// The part of [`check_item`] after the item's JSON is parsed.
fn check_parsed(item: &Item<'_>, types: &[AbiType], all_static: bool, root: &Hash, buf: &mut Vec<u8>, proof: &mut Vec<Hash>) -> bool {
    proof.clear();
    for p in &item.proof {
        let Some(h) = p.strip_prefix("0x") else { return false };
        let mut out = [0u8; 32];
        if !abi::decode_hex_exact(h.as_bytes(), &mut out).0 {
            return false;
        }
        proof.push(out);
    }
    match leaf_of(types, all_static, &item.value, buf) {
        Ok(leaf) => process_proof(&leaf, proof) == *root,
        Err(_) => false,
    }
}

/// Verify every item of a proofs request body. `default_encoding` applies when the body has no
/// `leaf_encoding`; more than `max_items` items is an error (before any hashing).
pub fn verify_proofs_json(body: &[u8], default_encoding: &[String], max_items: usize) -> Result<Vec<bool>> {
    verify_proofs_json_with(Lanes::active(), body, default_encoding, max_items)
}

/// [`verify_proofs_json`] with a given keccak backend.
pub fn verify_proofs_json_with(lanes: Lanes, body: &[u8], default_encoding: &[String], max_items: usize) -> Result<Vec<bool>> {
    let text = std::str::from_utf8(body).map_err(|e| invalid(format!("request body is not JSON: not UTF-8 ({e})")))?;
    let parsed: Body<'_> = serde_json::from_str(text).map_err(|e| {
        if e.is_data() {
            invalid(format!("request body must be an object with an 'items' array ({e})"))
        } else {
            invalid(format!("request body is not JSON ({e})"))
        }
    })?;
    let root = root_of(parsed.root)?;
    let types = match parsed.leaf_encoding {
        None => abi::parse_types(default_encoding)?,
        Some(raw) => {
            let names: Vec<String> = serde_json::from_str(raw.get())
                .map_err(|_| invalid("leaf_encoding: expected a list of ABI type names"))?;
            abi::parse_types(&names)?
        }
    };
    if parsed.items.len() > max_items {
        return Err(invalid(format!("at most {max_items} items per request, got {}", parsed.items.len())));
    }
    let all_static = types.iter().all(|t| !t.is_dynamic() && !matches!(t, AbiType::FixedArray(..)));
    Ok(parsed
        .items
        .par_chunks(GROUP)
        .flat_map_iter(|chunk| {
            let mut group = Group::new();
            for raw in chunk {
                let item = serde_json::from_str::<Item<'_>>(raw.get()).ok();
                group.push(item.as_ref(), &types, all_static);
            }
            let mut out = Vec::with_capacity(chunk.len());
            group.finish(lanes, &root, &mut out);
            out
        })
        .collect())
}

// ---------------------------------------------------------------------------------------------
// Streaming: the same verification while the body is still arriving.
//
// `ProofStream::feed` appends each chunk to the body, kept in 1 MiB segments, and runs a
// resumable byte-level scanner over it (no recursion: nesting is a counter). The offsets of
// every complete element of `items` are recorded (an item straddling two segments is copied);
// when a segment is full its items go to rayon as soon as the root is known, so hashing
// overlaps with receiving. The scanner only finds where values begin and end; the JSON syntax
// of each value is checked by serde_json itself (items in the workers, top-level values when
// they complete), so acceptance is decided by the same parser as
// `verify_proofs_json`. Whenever anything is off (bad syntax, missing or bad root/encoding,
// duplicate keys, too many items, a `leaf_encoding` after items were already dispatched with
// a different default, nesting deeper than `STREAM_MAX_DEPTH`, truncation, trailing garbage) the
// stream stops scanning and `finish` answers with `verify_proofs_json` on the whole buffered
// body, so results and error texts are identical by construction for every input.
// ---------------------------------------------------------------------------------------------

/// Items per batch handed to one rayon task.
const STREAM_BATCH: usize = 1024;
/// Deepest nesting the scanner follows (the top-level object counts as 1).
const STREAM_MAX_DEPTH: u32 = 200;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum St {
    Start,
    FirstKey,
    NextKey,
    InKey,
    Colon,
    ValueStart,
    InValue,
    AfterValue,
    ItemsFirst,
    ItemsNext,
    InItem,
    ItemsAfter,
    Done,
    Bad,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Key {
    Root,
    LeafEncoding,
    Items,
    Other,
}

/// Byte classes outside strings: 1 = quote, 2 = open bracket, 3 = close bracket.
const CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    t[b'"' as usize] = 1;
    t[b'[' as usize] = 2;
    t[b'{' as usize] = 2;
    t[b']' as usize] = 3;
    t[b'}' as usize] = 3;
    t
};

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

fn skip_ws(buf: &[u8], mut i: usize) -> usize {
    while i < buf.len() && is_ws(buf[i]) {
        i += 1;
    }
    i
}

/// Index of the first `"` or `\\` at or after `i` (`buf.len()` if none), eight bytes at a time.
fn find_quote_or_backslash(buf: &[u8], mut i: usize) -> usize {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    const Q: u64 = LO * b'"' as u64;
    const B: u64 = LO * b'\\' as u64;
    while i + 8 <= buf.len() {
        let w = u64::from_le_bytes(buf[i..i + 8].try_into().unwrap_or([0; 8]));
        let (x, y) = (w ^ Q, w ^ B);
        // a zero byte of x or y is a match; the lowest flagged byte is always a real one
        let m = ((x.wrapping_sub(LO) & !x) | (y.wrapping_sub(LO) & !y)) & HI;
        if m != 0 {
            return i + (m.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while i < buf.len() && buf[i] != b'"' && buf[i] != b'\\' {
        i += 1;
    }
    i
}

enum Step {
    /// The value ended; exclusive end offset.
    Done(usize),
    /// Ran out of bytes inside the value.
    More,
    /// Nested too deep.
    Bad,
}

/// Where the scanner is inside one JSON value (its syntax is checked later by serde).
#[derive(Clone, Copy, Default, Debug)]
struct Skip {
    depth: u32,
    in_str: bool,
    esc: bool,
    scalar: bool,
}

impl Skip {
    /// Begin a value at `buf[i]` (not whitespace). None when no value can start there.
    fn begin(b: u8) -> Option<(Skip, usize)> {
        match b {
            b'"' => Some((Skip { in_str: true, ..Skip::default() }, 1)),
            b'[' | b'{' => Some((Skip { depth: 1, ..Skip::default() }, 1)),
            b',' | b']' | b'}' | b':' => None,
            _ => Some((Skip { scalar: true, ..Skip::default() }, 0)),
        }
    }

    fn step(&mut self, buf: &[u8], mut i: usize, base: u32) -> Step {
        let n = buf.len();
        if self.scalar {
            while i < n {
                let b = buf[i];
                if is_ws(b) || b == b',' || b == b']' || b == b'}' {
                    self.scalar = false;
                    return Step::Done(i);
                }
                i += 1;
            }
            return Step::More;
        }
        loop {
            if self.in_str {
                if self.esc {
                    if i >= n {
                        return Step::More;
                    }
                    self.esc = false;
                    i += 1;
                }
                loop {
                    i = find_quote_or_backslash(buf, i);
                    if i >= n {
                        return Step::More;
                    }
                    let b = buf[i];
                    i += 1;
                    if b == b'"' {
                        self.in_str = false;
                        if self.depth == 0 {
                            return Step::Done(i);
                        }
                        break;
                    }
                    if b == b'\\' {
                        if i >= n {
                            self.esc = true;
                            return Step::More;
                        }
                        i += 1;
                    }
                }
            } else {
                loop {
                    if i >= n {
                        return Step::More;
                    }
                    let c = CLASS[buf[i] as usize];
                    i += 1;
                    match c {
                        1 => {
                            self.in_str = true;
                            break;
                        }
                        2 => {
                            self.depth += 1;
                            if base + self.depth > STREAM_MAX_DEPTH {
                                return Step::Bad;
                            }
                        }
                        3 => {
                            self.depth -= 1;
                            if self.depth == 0 {
                                return Step::Done(i);
                            }
                        }
                        _ => {}
                    }
                }
            }
        }
    }
}

/// Bytes of the body are kept in segments of this size (never reallocated; items inside one
/// are verified straight from it once it is full).
const STREAM_SEGMENT: usize = 1 << 20;

/// One rayon task: items of one segment (`(start, end, false)`), or copied into `spill`
/// because they straddle segments (`(start, end, true)`), in body order.
struct Batch {
    seg: Arc<Vec<u8>>,
    spill: Arc<Vec<u8>>,
    items: Vec<(u32, u32, bool)>,
}

struct Ctx {
    types: Vec<AbiType>,
    all_static: bool,
    root: Hash,
}

fn run_batch(ctx: &Ctx, batch: &Batch) -> Option<Vec<bool>> {
    let lanes = Lanes::active();
    let mut group = Group::new();
    let mut out = Vec::with_capacity(batch.items.len());
    for &(start, end, spilled) in &batch.items {
        let src = if spilled { &batch.spill } else { &batch.seg };
        let text = std::str::from_utf8(&src[start as usize..end as usize]).ok()?;
        // as `stream_item`: not JSON -> the whole body is an error; JSON but not an item -> false
        match serde_json::from_str::<Item<'_>>(text) {
            Ok(item) => group.push(Some(&item), &ctx.types, ctx.all_static),
            Err(_) => {
                serde_json::from_str::<&RawValue>(text).ok()?;
                group.push(None, &ctx.types, ctx.all_static);
            }
        }
        if group.ok.len() == GROUP {
            group.finish(lanes, &ctx.root, &mut out);
        }
    }
    group.finish(lanes, &ctx.root, &mut out);
    Some(out)
}

type BatchResult = (usize, Option<Vec<bool>>);

/// Incremental verifier of a proofs request body: `feed` it the body in chunks of any size,
/// then `finish` it. Same results and errors as [`verify_proofs_json`] on the whole body.
pub struct ProofStream {
    default_encoding: Vec<String>,
    max_items: usize,
    /// Full segments of the body, then the one being filled (starting at offset `open_start`).
    sealed: Vec<Arc<Vec<u8>>>,
    open: Vec<u8>,
    open_start: usize,
    seg_size: usize,
    /// Items completed inside `open` (offsets in `open`), and straddling ones copied to `spill`.
    open_items: Vec<(u32, u32, bool)>,
    spill: Vec<u8>,
    /// Scanner position in `open`, and state; `tok_start` is an offset in the whole body.
    pos: usize,
    st: St,
    skip: Skip,
    tok_start: usize,
    key: Key,
    seen_root: bool,
    seen_leaf: bool,
    seen_items: bool,
    root: Option<Hash>,
    /// `Some(None)`: the body's `leaf_encoding` was `null` (the default applies).
    leaf: Option<Option<Vec<AbiType>>>,
    ctx: Option<Arc<Ctx>>,
    count: usize,
    held: Vec<Batch>,
    dispatched: usize,
    tx: Sender<BatchResult>,
    rx: Receiver<BatchResult>,
    /// Set when the streamed answer is no longer wanted: queued batches then skip their work.
    cancel: Arc<AtomicBool>,
}

impl ProofStream {
    pub fn new(default_encoding: &[String], max_items: usize) -> ProofStream {
        let (tx, rx) = channel();
        ProofStream {
            default_encoding: default_encoding.to_vec(),
            max_items,
            sealed: Vec::new(),
            open: Vec::new(),
            open_start: 0,
            seg_size: STREAM_SEGMENT,
            open_items: Vec::new(),
            spill: Vec::new(),
            pos: 0,
            st: St::Start,
            skip: Skip::default(),
            tok_start: 0,
            key: Key::Other,
            seen_root: false,
            seen_leaf: false,
            seen_items: false,
            root: None,
            leaf: None,
            ctx: None,
            count: 0,
            held: Vec::new(),
            dispatched: 0,
            tx,
            rx,
            cancel: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Append the next bytes of the body; complete batches start verifying in the background.
    /// Problems with the body are reported by [`ProofStream::finish`].
    pub fn feed(&mut self, mut chunk: &[u8]) -> Result<()> {
        while !chunk.is_empty() {
            if self.open.capacity() == 0 {
                self.open = Vec::with_capacity(self.seg_size);
            }
            let take = chunk.len().min(self.seg_size - self.open.len());
            self.open.extend_from_slice(&chunk[..take]);
            chunk = &chunk[take..];
            if self.st != St::Bad {
                self.scan();
            }
            if self.open.len() >= self.seg_size {
                self.seal();
            }
        }
        Ok(())
    }

    /// The open segment is full (or the body ended): keep it, and send its items out.
    fn seal(&mut self) {
        let seg = Arc::new(std::mem::take(&mut self.open));
        self.open_start += seg.len();
        self.pos = 0;
        self.sealed.push(seg.clone());
        let items = std::mem::take(&mut self.open_items);
        let spill = Arc::new(std::mem::take(&mut self.spill));
        if self.st == St::Bad || items.is_empty() {
            return;
        }
        // several tasks per segment so that the last one does not run alone for long
        let per = items.len().div_ceil(2).clamp(1, STREAM_BATCH);
        for part in items.chunks(per) {
            let batch = Batch { seg: seg.clone(), spill: spill.clone(), items: part.to_vec() };
            if self.ctx.is_some() {
                self.spawn(batch);
            } else {
                self.held.push(batch);
            }
        }
    }

    /// Bytes `start..end` of the body (`end` inside the open segment).
    fn gather(&self, start: usize, end: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(end - start);
        let mut off = self.open_start;
        for seg in self.sealed.iter().rev() {
            off -= seg.len();
            if off + seg.len() <= start {
                break;
            }
            let from = start.saturating_sub(off);
            out.splice(0..0, seg[from..].iter().copied());
        }
        out.extend_from_slice(&self.open[..end - self.open_start]);
        out
    }

    /// The whole body so far (for the whole-body verifier).
    fn whole(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.open_start + self.open.len());
        for seg in &self.sealed {
            out.extend_from_slice(seg);
        }
        out.extend_from_slice(&self.open);
        out
    }

    /// Stop streaming: `finish` will defer to `verify_proofs_json` on the whole body.
    fn bad(&mut self) {
        self.st = St::Bad;
        self.cancel.store(true, Ordering::Relaxed);
        self.held = Vec::new();
        self.open_items = Vec::new();
        self.spill = Vec::new();
    }

    fn scan(&mut self) {
        let mut buf = std::mem::take(&mut self.open);
        let n = buf.len();
        let base_off = self.open_start;
        let mut i = self.pos;
        while i < n {
            match self.st {
                St::Bad => break,
                St::Start | St::FirstKey | St::NextKey | St::Colon | St::ValueStart | St::AfterValue
                | St::ItemsFirst | St::ItemsNext | St::ItemsAfter | St::Done => {
                    i = skip_ws(&buf, i);
                    if i == n {
                        break;
                    }
                    let b = buf[i];
                    match (self.st, b) {
                        (St::Start, b'{') => self.st = St::FirstKey,
                        (St::FirstKey | St::NextKey, b'"') => {
                            self.tok_start = base_off + i;
                            self.skip = Skip { in_str: true, ..Skip::default() };
                            self.st = St::InKey;
                        }
                        (St::FirstKey | St::AfterValue, b'}') => self.st = St::Done,
                        (St::Colon, b':') => self.st = St::ValueStart,
                        (St::ValueStart, b'[') if self.key == Key::Items => self.st = St::ItemsFirst,
                        (St::ValueStart, _) if self.key != Key::Items => match Skip::begin(b) {
                            Some((skip, adv)) => {
                                self.tok_start = base_off + i;
                                self.skip = skip;
                                self.st = St::InValue;
                                i += adv;
                                continue;
                            }
                            None => self.bad(),
                        },
                        (St::AfterValue, b',') => self.st = St::NextKey,
                        (St::ItemsFirst | St::ItemsAfter, b']') => self.st = St::AfterValue,
                        (St::ItemsAfter, b',') => self.st = St::ItemsNext,
                        (St::ItemsFirst | St::ItemsNext, _) => match Skip::begin(b) {
                            Some((skip, adv)) => {
                                self.tok_start = base_off + i;
                                self.skip = skip;
                                self.st = St::InItem;
                                i += adv;
                                continue;
                            }
                            None => self.bad(),
                        },
                        _ => self.bad(),
                    }
                    i += 1;
                }
                St::InKey | St::InValue | St::InItem => {
                    let base = if self.st == St::InItem { 2 } else { 1 };
                    match self.skip.step(&buf, i, base) {
                        Step::More => i = n,
                        Step::Bad => self.bad(),
                        Step::Done(end) => {
                            let gathered;
                            let straddles = self.tok_start < base_off;
                            let tok: &[u8] = if straddles {
                                self.open = buf;
                                gathered = self.gather(self.tok_start, base_off + end);
                                buf = std::mem::take(&mut self.open);
                                &gathered
                            } else {
                                &buf[self.tok_start - base_off..end]
                            };
                            i = end;
                            match self.st {
                                St::InKey => {
                                    self.key_done(tok);
                                    if self.st != St::Bad {
                                        self.st = St::Colon;
                                    }
                                }
                                St::InValue => {
                                    self.value_done(tok);
                                    if self.st != St::Bad {
                                        self.st = St::AfterValue;
                                    }
                                }
                                _ => {
                                    let local = (self.tok_start.wrapping_sub(base_off), end);
                                    self.item_done(tok, straddles, local);
                                    if self.st != St::Bad {
                                        self.st = St::ItemsAfter;
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        self.pos = i;
        self.open = buf;
    }

    fn key_done(&mut self, tok: &[u8]) {
        if std::str::from_utf8(tok).is_err() {
            return self.bad();
        }
        let inner = &tok[1..tok.len() - 1];
        let decoded;
        let name: &[u8] = if inner.iter().any(|&b| b == b'\\' || b < 0x20) {
            let Some(s) = std::str::from_utf8(tok).ok().and_then(|t| serde_json::from_str::<String>(t).ok()) else {
                return self.bad();
            };
            decoded = s;
            decoded.as_bytes()
        } else {
            inner
        };
        let (key, seen) = match name {
            b"root" => (Key::Root, &mut self.seen_root),
            b"leaf_encoding" => (Key::LeafEncoding, &mut self.seen_leaf),
            b"items" => (Key::Items, &mut self.seen_items),
            _ => {
                self.key = Key::Other;
                return;
            }
        };
        if std::mem::replace(seen, true) {
            return self.bad(); // a duplicate field is an error of the whole body
        }
        self.key = key;
    }

    fn value_done(&mut self, tok: &[u8]) {
        let Ok(text) = std::str::from_utf8(tok) else { return self.bad() };
        match self.key {
            Key::Root => {
                let Ok(raw) = serde_json::from_str::<Option<&RawValue>>(text) else { return self.bad() };
                let Ok(root) = root_of(raw) else { return self.bad() };
                self.root = Some(root);
                self.start_dispatch();
            }
            Key::LeafEncoding => {
                let Ok(raw) = serde_json::from_str::<Option<&RawValue>>(text) else { return self.bad() };
                let types = match raw {
                    None => None,
                    Some(raw) => {
                        let Ok(names) = serde_json::from_str::<Vec<String>>(raw.get()) else { return self.bad() };
                        let Ok(types) = abi::parse_types(&names) else { return self.bad() };
                        Some(types)
                    }
                };
                let differs = match (&types, &self.ctx) {
                    (Some(t), Some(ctx)) => *t != ctx.types,
                    _ => false,
                };
                self.leaf = Some(types);
                if differs {
                    if self.dispatched > 0 {
                        // batches already run with the default encoding
                        return self.bad();
                    }
                    self.ctx = None;
                    self.start_dispatch();
                }
            }
            Key::Items | Key::Other => {
                if serde_json::from_str::<serde::de::IgnoredAny>(text).is_err() {
                    self.bad();
                }
            }
        }
    }

    fn item_done(&mut self, tok: &[u8], straddles: bool, local: (usize, usize)) {
        self.count += 1;
        if self.count > self.max_items {
            return self.bad();
        }
        if straddles {
            let start = self.spill.len() as u32;
            self.spill.extend_from_slice(tok);
            self.open_items.push((start, self.spill.len() as u32, true));
        } else {
            self.open_items.push((local.0 as u32, local.1 as u32, false));
        }
    }

    /// With the root known, fix the leaf types (the body's, or the default until the body
    /// names its own) and send out the batches held so far.
    fn start_dispatch(&mut self) {
        let Some(root) = self.root else { return };
        if self.ctx.is_some() {
            return;
        }
        let types = match &self.leaf {
            Some(Some(t)) => t.clone(),
            _ => match abi::parse_types(&self.default_encoding) {
                Ok(t) => t,
                Err(_) => return self.bad(),
            },
        };
        let all_static = types.iter().all(|t| !t.is_dynamic() && !matches!(t, AbiType::FixedArray(..)));
        self.ctx = Some(Arc::new(Ctx { types, all_static, root }));
        for batch in std::mem::take(&mut self.held) {
            self.spawn(batch);
        }
    }

    fn spawn(&mut self, batch: Batch) {
        let Some(ctx) = self.ctx.clone() else { return };
        let idx = self.dispatched;
        self.dispatched += 1;
        let tx = self.tx.clone();
        let cancel = self.cancel.clone();
        rayon::spawn(move || {
            let r = if cancel.load(Ordering::Relaxed) { None } else { run_batch(&ctx, &batch) };
            let _ = tx.send((idx, r));
        });
    }

    /// End of body: wait for the batches and return one bool per item, in order; or the error
    /// `verify_proofs_json` gives for this body.
    pub fn finish(mut self) -> Result<Vec<bool>> {
        match self.collect() {
            Some(out) => Ok(out),
            None => {
                self.cancel.store(true, Ordering::Relaxed);
                verify_proofs_json(&self.whole(), &self.default_encoding, self.max_items)
            }
        }
    }

    /// The streamed answer, or None when the body needs the whole-body verifier.
    fn collect(&mut self) -> Option<Vec<bool>> {
        let complete = self.st == St::Done && self.seen_items && self.root.is_some() && self.ctx.is_some();
        if !complete {
            return None;
        }
        self.seal();
        let mut parts: Vec<Vec<bool>> = vec![Vec::new(); self.dispatched];
        for _ in 0..self.dispatched {
            let (idx, part) = self.rx.recv().ok()?;
            parts[idx] = part?;
        }
        Some(parts.concat())
    }
}

impl Drop for ProofStream {
    /// A stream dropped unfinished (the client went away) stops its queued batches.
    fn drop(&mut self) {
        self.cancel.store(true, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::{get_proof, make_tree};

    fn enc() -> Vec<String> {
        vec!["address".into(), "uint256".into()]
    }

    fn leaf(addr: &str, amount: u64) -> Hash {
        let mut b = abi::parse_address(addr, "").unwrap().to_vec();
        let mut w = [0u8; 32];
        w[24..].copy_from_slice(&amount.to_be_bytes());
        b.extend_from_slice(&w);
        keccak256_32(&keccak256(&b))
    }

    fn hx(h: &Hash) -> String {
        format!("0x{}", hex::encode(h))
    }

    /// Root (0x-hex) and the five good items of a 5-value (address, uint256) tree; amounts
    /// alternate between a JSON number and a decimal string, both of which are accepted.
    fn good_items() -> (String, Vec<String>) {
        let addrs: Vec<String> = (0..5u8).map(|i| format!("0x{}", hex::encode([i + 1; 20]))).collect();
        let mut leaves: Vec<Hash> = addrs.iter().enumerate().map(|(i, a)| leaf(a, i as u64 * 10)).collect();
        leaves.sort();
        let tree = make_tree(&leaves).unwrap();
        let pos = |h: &Hash| tree.len() - 1 - leaves.iter().position(|x| x == h).unwrap();
        let mut items = Vec::new();
        for (i, a) in addrs.iter().enumerate() {
            let p: Vec<String> = get_proof(&tree, pos(&leaf(a, i as u64 * 10))).unwrap().iter().map(hx).collect();
            let amount = if i % 2 == 0 { format!("{}", i * 10) } else { format!("\"{}\"", i * 10) };
            items.push(format!("{{\"value\":[\"{a}\",{amount}],\"proof\":{}}}", serde_json::to_string(&p).unwrap()));
        }
        (hx(&tree[0]), items)
    }

    #[test]
    fn verifies_items_and_flags_bad_ones() {
        let (root, mut items) = good_items();
        let good = items[0].clone();
        items.push(good.replace("\"0x01", "\"0x02")); // wrong value
        items.push("{\"value\":[1,2],\"proof\":[]}".into()); // wrong types
        items.push("[]".into()); // not an object
        items.push(good.replace("\"proof\":[\"0x", "\"proof\":[\"zz")); // not hex
        items.push(good.replace("\"value\":[", "\"value\":[1.5,")); // wrong arity
        let body = format!("{{\"root\":\"{root}\",\"items\":[{}]}}", items.join(","));
        let out = verify_proofs_json(body.as_bytes(), &enc(), 100).unwrap();
        assert_eq!(out, vec![true, true, true, true, true, false, false, false, false, false]);
    }

    #[test]
    fn body_errors_name_what_is_wrong() {
        let root = format!("\"0x{}\"", "ab".repeat(32));
        let cases: Vec<(String, &str)> = vec![
            ("{".into(), "not JSON"),
            ("[1]".into(), "'items' array"),
            (format!("{{\"root\":{root}}}"), "'items' array"),
            ("{\"items\":[]}".into(), "root: required"),
            ("{\"root\":\"0x12\",\"items\":[]}".into(), "64 hex digits"),
            (format!("{{\"root\":{root},\"leaf_encoding\":\"uint\",\"items\":[]}}"), "leaf_encoding"),
            (format!("{{\"root\":{root},\"leaf_encoding\":[\"uint7\"],\"items\":[]}}"), "uint7"),
            (format!("{{\"root\":{root},\"items\":[{{}},{{}},{{}}]}}"), "at most 2 items"),
            (format!("{{\"root\":{root},\"items\":{}}}", "[".repeat(100_000)), "not JSON"),
        ];
        for (body, want) in cases {
            let e = verify_proofs_json(body.as_bytes(), &enc(), 2).unwrap_err().to_string();
            assert!(e.contains(want), "{body:.60}: {e}");
        }
        assert!(verify_proofs_json(b"\xff", &enc(), 2).unwrap_err().to_string().contains("UTF-8"));
    }

    // ---- ProofStream ----

    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    /// Feed `body` in chunks: `mode` 0 = one chunk, 1 = single bytes, else random sizes.
    fn streamed(body: &[u8], enc: &[String], max_items: usize, mode: u8, rng: &mut Rng) -> Result<Vec<bool>> {
        let mut s = ProofStream::new(enc, max_items);
        s.seg_size = [1, 2, 7, 64, 333, 5000, STREAM_SEGMENT][rng.below(7)];
        let mut i = 0;
        while i < body.len() {
            let k = match mode {
                0 => body.len(),
                1 => 1,
                _ => {
                    let cap = if rng.below(4) == 0 { 4096 } else { 64 };
                    1 + rng.below(cap)
                }
            };
            let j = (i + k).min(body.len());
            s.feed(&body[i..j]).unwrap();
            i = j;
        }
        s.finish()
    }

    /// The streamed answer without the whole-body fallback (None: it would fall back).
    fn streamed_only(body: &[u8], enc: &[String], max_items: usize, rng: &mut Rng) -> Option<Vec<bool>> {
        let mut s = ProofStream::new(enc, max_items);
        s.seg_size = [1, 3, 100, 4096, STREAM_SEGMENT][rng.below(5)];
        let mut i = 0;
        while i < body.len() {
            let j = (i + 1 + rng.below(300)).min(body.len());
            s.feed(&body[i..j]).unwrap();
            i = j;
        }
        s.collect()
    }

    fn same(body: &[u8], enc: &[String], max_items: usize, rng: &mut Rng) {
        let want = verify_proofs_json(body, enc, max_items);
        let modes: &[u8] = if body.len() <= 4096 { &[0, 1, 2, 2] } else { &[0, 2] };
        for &mode in modes {
            let got = streamed(body, enc, max_items, mode, rng);
            assert_eq!(got, want, "mode {mode}, body {:.200}", String::from_utf8_lossy(body));
        }
    }

    /// Items of the 5-value test tree (address, uint256): good ones, then assorted bad ones.
    fn sample_items() -> (String, Vec<String>) {
        let (root, mut items) = good_items();
        let good = items[0].clone();
        items.push(good.replace("\"0x01", "\"0x02"));
        items.push("{\"value\":[1,2],\"proof\":[]}".into());
        items.push("[]".into());
        items.push("7".into());
        items.push("\"x\\\"}]\"".into());
        items.push(good.replace("\"proof\":[\"0x", "\"proof\":[\"zz"));
        items.push(good.replace("\"value\":[", "\"value\":[1.5,"));
        items.push(good.replace("{\"value\"", "{\"note\":\"a\\\\\\\"b}]{[\\u00e9é\",\"value\""));
        items.push(good.replace("{\"value\"", "{\"deep\":[[[[{\"x\":[1e999999]}]]]],\"value\""));
        items.push(good.replace("{\"value\"", "{\"value\":[],\"value\""));
        (root, items)
    }

    fn body_of(root: &str, items: &[String], n: usize) -> String {
        let list: Vec<&str> = (0..n).map(|i| items[i % items.len()].as_str()).collect();
        format!("{{\"root\":\"{root}\",\"items\":[{}]}}", list.join(","))
    }

    #[test]
    fn stream_matches_whole_body_on_valid_bodies() {
        let mut rng = Rng(0x9e3779b97f4a7c15);
        let (root, items) = sample_items();
        for n in [0, 1, 2, 15, 1023, 1024, 1025, 5000] {
            let body = body_of(&root, &items, n);
            let want = verify_proofs_json(body.as_bytes(), &enc(), 10_000).unwrap();
            assert_eq!(want.len(), n);
            same(body.as_bytes(), &enc(), 10_000, &mut rng);
            assert_eq!(streamed_only(body.as_bytes(), &enc(), 10_000, &mut rng), Some(want));
        }
        // the 1-byte chunking on a multi-batch body
        let body = body_of(&root, &items, 2100);
        assert_eq!(streamed(body.as_bytes(), &enc(), 10_000, 1, &mut rng), verify_proofs_json(body.as_bytes(), &enc(), 10_000));
    }

    #[test]
    fn stream_key_orders_whitespace_escapes() {
        let mut rng = Rng(12345);
        let (root, items) = sample_items();
        let list = items.join(" ,\n\t");
        let members = [
            format!("\"root\" :\r\n \"{root}\""),
            "\"leaf_encoding\"\t:\t[ \"address\" , \"uint256\" ]".to_string(),
            format!("\"items\" : [ {list} ]"),
            "\"x\\\"y\\\\\": {\"a\": [\"}\\\"]\", {\"b\": null}], \"c\": -1.5e3}".to_string(),
        ];
        let perms = [
            [0, 1, 2, 3], [0, 1, 3, 2], [0, 2, 1, 3], [0, 2, 3, 1], [0, 3, 1, 2], [0, 3, 2, 1],
            [1, 0, 2, 3], [1, 0, 3, 2], [1, 2, 0, 3], [1, 2, 3, 0], [1, 3, 0, 2], [1, 3, 2, 0],
            [2, 0, 1, 3], [2, 0, 3, 1], [2, 1, 0, 3], [2, 1, 3, 0], [2, 3, 0, 1], [2, 3, 1, 0],
            [3, 0, 1, 2], [3, 0, 2, 1], [3, 1, 0, 2], [3, 1, 2, 0], [3, 2, 0, 1], [3, 2, 1, 0],
        ];
        for p in perms {
            for with_enc in [true, false] {
                let parts: Vec<&str> = p.iter().filter(|&&k| with_enc || k != 1).map(|&k| members[k].as_str()).collect();
                let body = format!(" \n{{ {} }}\n ", parts.join(" , "));
                let want = verify_proofs_json(body.as_bytes(), &enc(), 100).unwrap();
                same(body.as_bytes(), &enc(), 100, &mut rng);
                assert_eq!(streamed_only(body.as_bytes(), &enc(), 100, &mut rng), Some(want.clone()), "{body}");
                // a different default: streamed only when the body names its encoding first
                let other = ["address".to_string(), "string".to_string()];
                assert_eq!(verify_proofs_json(body.as_bytes(), &other, 100).unwrap() == want, with_enc);
                same(body.as_bytes(), &other, 100, &mut rng);
                let enc_first = with_enc && p.iter().position(|&k| k == 1) < p.iter().position(|&k| k == 2);
                if enc_first {
                    assert_eq!(streamed_only(body.as_bytes(), &other, 100, &mut rng), Some(want), "{body}");
                }
            }
        }
        // escaped key names are the same keys
        let body = format!("{{\"r\\u006fot\":\"{root}\",\"\\u0069tems\":[{}]}}", items[0]);
        assert_eq!(verify_proofs_json(body.as_bytes(), &enc(), 100).unwrap(), vec![true]);
        same(body.as_bytes(), &enc(), 100, &mut rng);
        // items long before the root, across several batches
        let list: Vec<&str> = (0..3000).map(|i| items[i % items.len()].as_str()).collect();
        let body = format!("{{\"items\":[{}],\"junk\":[1,2,3],\"root\":\"{root}\"}}", list.join(","));
        same(body.as_bytes(), &enc(), 10_000, &mut rng);
        let want = verify_proofs_json(body.as_bytes(), &enc(), 10_000).unwrap();
        assert_eq!(streamed_only(body.as_bytes(), &enc(), 10_000, &mut rng), Some(want));
        // a leaf_encoding after items were dispatched with the default (same result either way)
        let body = format!("{{\"root\":\"{root}\",\"items\":[{}],\"leaf_encoding\":[\"address\",\"uint256\"]}}", list.join(","));
        same(body.as_bytes(), &enc(), 10_000, &mut rng);
        let body = format!("{{\"root\":\"{root}\",\"items\":[{}],\"leaf_encoding\":[\"address\",\"int256\"]}}", list.join(","));
        same(body.as_bytes(), &enc(), 10_000, &mut rng);
        let body = format!("{{\"root\":\"{root}\",\"items\":[{}],\"leaf_encoding\":null}}", list.join(","));
        same(body.as_bytes(), &enc(), 10_000, &mut rng);
    }

    #[test]
    fn stream_matches_whole_body_on_bad_bodies() {
        let mut rng = Rng(777);
        let (root, items) = sample_items();
        let good = body_of(&root, &items, 20);
        let r = format!("\"0x{}\"", "ab".repeat(32));
        let mut cases: Vec<Vec<u8>> = vec![
            b"".to_vec(),
            b"   ".to_vec(),
            b"{".to_vec(),
            b"[1]".to_vec(),
            b"[null, null, []]".to_vec(),
            b"{}".to_vec(),
            b"{\"items\":[]}".to_vec(),
            b"\xff".to_vec(),
            format!("{{\"root\":{r}}}").into_bytes(),
            format!("{{\"root\":{r},\"items\":null}}").into_bytes(),
            format!("{{\"root\":{r},\"items\":{{}}}}").into_bytes(),
            format!("{{\"root\":{r},\"items\":[],\"items\":[]}}").into_bytes(),
            format!("{{\"root\":{r},\"root\":{r},\"items\":[]}}").into_bytes(),
            b"{\"root\":null,\"items\":[]}".to_vec(),
            b"{\"root\":\"0x12\",\"items\":[]}".to_vec(),
            b"{\"root\":\"12\",\"items\":[]}".to_vec(),
            format!("{{\"root\":\"0x{}\",\"items\":[]}}", "zz".repeat(32)).into_bytes(),
            format!("{{\"root\":{r},\"leaf_encoding\":\"uint\",\"items\":[]}}").into_bytes(),
            format!("{{\"root\":{r},\"leaf_encoding\":[\"uint7\"],\"items\":[]}}").into_bytes(),
            format!("{{\"root\":{r},\"leaf_encoding\":[],\"items\":[]}}").into_bytes(),
            format!("{{\"root\":{r},\"items\":[{{}},{{}},{{}}]}}").into_bytes(),
            format!("{{\"root\":{r},\"items\":{}}}", "[".repeat(100_000)).into_bytes(),
            format!("{{\"root\":{r},\"items\":[{}1{}]}}", "[".repeat(198), "]".repeat(198)).into_bytes(),
            format!("{{\"root\":{r},\"items\":[{}1{}]}}", "[".repeat(199), "]".repeat(199)).into_bytes(),
            format!("{{\"root\":{r},\"x\":{}1{}, \"items\":[]}}", "{\"a\":".repeat(300), "}".repeat(300)).into_bytes(),
            format!("{{\"root\":{r},\"items\":[],}}").into_bytes(),
            format!("{{\"root\":{r},\"items\":[1,]}}").into_bytes(),
            format!("{{\"root\":{r},\"items\":[,1]}}").into_bytes(),
            format!("{{\"root\":{r},\"items\":[1 2]}}").into_bytes(),
            format!("{{\"root\":{r},\"items\":[{{\"a\":1]]}}").into_bytes(),
            format!("{{\"root\":{r},\"items\":[tru]}}").into_bytes(),
            format!("{{\"root\":{r},\"items\":[\"a\tb\"]}}").into_bytes(),
            format!("{{\"root\":{r},\"items\":[\"\\x\"]}}").into_bytes(),
            format!("{{\"root\":{r},\"items\":[{{\"value\":5,\"proof\":[tru]}}]}}").into_bytes(),
            format!("{{\"root\":{r},\"x\":tru,\"items\":[]}}").into_bytes(),
            format!("{{\"root\":{r},\"x\":\"\\q\",\"items\":[]}}").into_bytes(),
            format!("{{\"root\":{r},\"k\\q\":1,\"items\":[]}}").into_bytes(),
            format!("{{\"root\":{r},\"items\":[]}} x").into_bytes(),
            format!("{{\"root\":{r},\"items\":[]}}{{}}").into_bytes(),
            format!("{{\"root\":{r} \"items\":[]}}").into_bytes(),
            format!("{{\"root\" {r},\"items\":[]}}").into_bytes(),
            format!("{{\"root\":{r},\"items\":[\"é\"]}}").into_bytes(),
            good.replace("\"value\"", "\"val\u{e9}ue\"").into_bytes(),
        ];
        let mut split_utf8 = good.clone().into_bytes();
        split_utf8.insert(40, 0xc3); // a lone lead byte
        cases.push(split_utf8);
        let mut bad_cont = good.clone().into_bytes();
        let at = bad_cont.len() - 2;
        bad_cont.truncate(at); // cut inside the last item
        cases.push(bad_cont);
        for body in &cases {
            same(body, &enc(), 2, &mut rng);
            same(body, &enc(), 100, &mut rng);
            same(body, &["uint7".to_string()], 100, &mut rng);
        }
        // every truncation of a small good body
        let small = body_of(&root, &items, 4);
        for k in 0..small.len() {
            same(&small.as_bytes()[..k], &enc(), 100, &mut rng);
        }
        // garbage after the closing brace, and too many items
        let mut b = good.clone();
        b.push_str(" \n]");
        same(b.as_bytes(), &enc(), 100, &mut rng);
        same(good.as_bytes(), &enc(), 19, &mut rng);
    }

    #[test]
    fn grouped_lanes_match_item_by_item_on_every_backend() {
        let (root, items) = sample_items();
        let root_h: Hash = {
            let mut r = [0u8; 32];
            hex::decode_to_slice(&root[2..], &mut r).unwrap();
            r
        };
        // more than one group, good and bad items interleaved, proofs of every depth in the tree
        let many: Vec<&String> = (0..3 * GROUP + 17).map(|i| &items[(i * 7) % items.len()]).collect();
        let body = format!("{{\"root\":\"{root}\",\"items\":[{}]}}", many.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(","));
        let parsed: Body<'_> = serde_json::from_str(&body).unwrap();
        let types = abi::parse_types(&enc()).unwrap();
        let (mut buf, mut proof) = (Vec::new(), Vec::new());
        let want: Vec<bool> = parsed.items.iter().map(|raw| check_item(raw, &types, true, &root_h, &mut buf, &mut proof)).collect();
        assert!(want.iter().any(|x| *x) && want.iter().any(|x| !*x));
        for lanes in Lanes::available() {
            assert_eq!(verify_proofs_json_with(lanes, body.as_bytes(), &enc(), usize::MAX).unwrap(), want, "{}", lanes.backend());
        }
    }

    #[test]
    fn stream_matches_whole_body_under_random_mutation() {
        let mut rng = Rng(0xdead_beef_1234_5678);
        let (root, items) = sample_items();
        let base = format!(
            "{{\"x\":[{{\"s\":\"a\\\"\\\\\"}}],\"root\":\"{root}\",\"items\":[{}, {}, {}, {}],\"leaf_encoding\":[\"address\",\"uint256\"]}}",
            items[0], items[1], items[6], items[13]
        );
        let alphabet = b"{}[]\",:\\ 0x1ae-.ntu\n\xc3\xa9";
        for _ in 0..3000 {
            let mut b = base.clone().into_bytes();
            for _ in 0..1 + rng.below(3) {
                let at = rng.below(b.len() + 1);
                match rng.below(3) {
                    0 if at < b.len() => {
                        b.remove(at);
                    }
                    1 if at < b.len() => b[at] = alphabet[rng.below(alphabet.len())],
                    _ => b.insert(at, alphabet[rng.below(alphabet.len())]),
                }
            }
            let want = verify_proofs_json(&b, &enc(), 100);
            for mode in [0u8, 2] {
                assert_eq!(streamed(&b, &enc(), 100, mode, &mut rng), want, "{}", String::from_utf8_lossy(&b));
            }
        }
    }
}

