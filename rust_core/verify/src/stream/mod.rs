//! Streaming: [`crate::verify_proofs_json`] while the body is still arriving.
//!
//! `ProofStream::feed` appends each chunk to the body, kept in 1 MiB segments, and runs a
//! resumable byte-level scanner over it ([`scan`]). The offsets of every complete element of
//! `items` are recorded (an item straddling two segments is copied); when a segment is full its
//! items go to rayon as soon as the root is known, so hashing overlaps with receiving. The
//! scanner only finds where values begin and end; each value (every key, top-level value and
//! item) is parsed by the same parser as the whole body (jiter), so acceptance is decided by
//! one parser. Whenever anything is off (bad syntax, missing or bad root/encoding, duplicate
//! keys, too many items, a `leaf_encoding` after items were already dispatched with a different
//! default, nesting near the parser's limit, truncation, trailing garbage) the stream stops
//! scanning and `finish` answers with `verify_proofs_json` on the whole buffered body, so
//! results and error texts are identical by construction for every input.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;

use jiter::JsonValue;
use nftreg_eth::abi::AbiType;
use nftreg_eth::Hash;

use nftreg_eth::keccak::Lanes;

use crate::item::{self, Group};
use crate::request::{leaf_names, root_of, types_of};
use crate::request::verify_proofs_json_with;
use crate::Result;

mod scan;
use scan::{skip_ws, Key, Skip, St, Step, STREAM_BATCH};

/// Bytes of the body are kept in segments of this size (never reallocated; items inside one
/// are verified straight from it once it is full).
pub(crate) const STREAM_SEGMENT: usize = 1 << 20;

/// One rayon task: items of one segment (`(start, end, false)`), or copied into `spill`
/// because they straddle segments (`(start, end, true)`), in body order.
struct Batch {
    seg: Arc<Vec<u8>>,
    spill: Arc<Vec<u8>>,
    items: Vec<(u32, u32, bool)>,
}

/// A parsed piece of the body, or None when it is not valid JSON (the stream then defers to the
/// whole-body verifier, which words the error).
fn parsed(text: &[u8]) -> Option<JsonValue<'_>> {
    crate::parse::parse_json(text).ok()
}

/// One batch's answers, items hashed in groups of [`item::GROUP`] in the backend's lanes; None
/// when an item is not valid JSON (the whole body is then an error).
fn run_batch(lanes: Lanes, ctx: &item::Ctx, batch: &Batch) -> Option<Vec<bool>> {
    let mut group = Group::default();
    let mut out = Vec::with_capacity(batch.items.len());
    for &(start, end, spilled) in &batch.items {
        let src = if spilled { &batch.spill } else { &batch.seg };
        group.push(ctx, Some(&parsed(&src[start as usize..end as usize])?));
        if group.len() == item::GROUP {
            group.finish(lanes, ctx, &mut out);
        }
    }
    group.finish(lanes, ctx, &mut out);
    Some(out)
}

type BatchResult = (usize, Option<Vec<bool>>);

/// Incremental verifier of a proofs request body: `feed` it the body in chunks of any size,
/// then `finish` it. Same results and errors as [`crate::verify_proofs_json`] on the whole body.
pub struct ProofStream {
    default_encoding: Vec<String>,
    max_items: usize,
    /// Full segments of the body, then the one being filled (starting at offset `open_start`).
    sealed: Vec<Arc<Vec<u8>>>,
    open: Vec<u8>,
    open_start: usize,
    pub(crate) seg_size: usize,
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
    ctx: Option<Arc<item::Ctx>>,
    count: usize,
    held: Vec<Batch>,
    dispatched: usize,
    tx: Sender<BatchResult>,
    rx: Receiver<BatchResult>,
    /// Set when the streamed answer is no longer wanted: queued batches then skip their work.
    cancel: Arc<AtomicBool>,
    /// The keccak backend every batch of this body hashes with (the active one at creation).
    pub(crate) lanes: Lanes,
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
            lanes: Lanes::active(),
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
        let Some(JsonValue::Str(decoded)) = parsed(tok) else { return self.bad() };
        let name = decoded.as_bytes();
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
        let Some(v) = parsed(tok) else { return self.bad() };
        match self.key {
            Key::Root => {
                let Ok(root) = root_of(&v) else { return self.bad() };
                self.root = Some(root);
                self.start_dispatch();
            }
            Key::LeafEncoding => {
                let types = match leaf_names(Some(&v)) {
                    Ok(None) => None,
                    Ok(Some(names)) => match types_of(&names) {
                        Ok(types) => Some(types),
                        Err(_) => return self.bad(),
                    },
                    Err(_) => return self.bad(),
                };
                let differs = match (&types, &self.ctx) {
                    (Some(t), Some(ctx)) => t != ctx.types(),
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
            Key::Items | Key::Other => {}
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
            _ => match types_of(&self.default_encoding) {
                Ok(t) => t,
                Err(_) => return self.bad(),
            },
        };
        self.ctx = Some(Arc::new(item::Ctx::new(types, root)));
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
        let lanes = self.lanes;
        rayon::spawn(move || {
            let r = if cancel.load(Ordering::Relaxed) { None } else { run_batch(lanes, &ctx, &batch) };
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
                verify_proofs_json_with(self.lanes, &self.whole(), &self.default_encoding, self.max_items)
            }
        }
    }

    /// The streamed answer, or None when the body needs the whole-body verifier.
    pub(crate) fn collect(&mut self) -> Option<Vec<bool>> {
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

