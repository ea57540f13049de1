//! Contexts reused across items that share `types` and `domain` (a batch of vouchers of one
//! contract), keyed by their exact JSON text, one cache per worker thread.

use std::collections::HashMap;

use serde_json::value::RawValue;
use serde_json::Value;

use super::encoding::Context;
use super::hashing::Pending;
use super::{TypedDataError, R};

/// Recently used contexts keyed by the exact JSON text of `types` and `domain`. Text that
/// differs only in whitespace or key order misses the cache and is simply recomputed.
pub struct ContextCache {
    pub(super) entries: Vec<Entry>,
}

pub(super) struct Entry {
    types: Box<str>,
    domain: Box<str>,
    primary: Option<String>,
    /// When `message` was the last key: the text before its value. A later text that starts
    /// with exactly these bytes and holds nothing but a value and `}` after them has the same
    /// types, domain and primaryType, so only its message needs parsing (the usual batch,
    /// serialised by one `json.dumps` call site, looks like this).
    pub(super) prefix: Option<Box<str>>,
    ctx: Context,
}

const CACHE_ENTRIES: usize = 8;

impl Default for ContextCache {
    fn default() -> Self {
        ContextCache { entries: Vec::with_capacity(CACHE_ENTRIES) }
    }
}

fn json_ws(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

/// `rest` is one JSON value followed only by whitespace and the closing `}` of the object.
fn last_value(rest: &str) -> Option<Value> {
    let mut values = serde_json::Deserializer::from_str(rest).into_iter::<Value>();
    let v = values.next()?.ok()?;
    (rest[values.byte_offset()..].trim_matches(json_ws) == "}").then_some(v)
}

impl ContextCache {
    /// `digest_json`, reusing the context of an earlier item with the same types and domain.
    pub fn digest_json(&mut self, text: &str) -> R<[u8; 32]> {
        self.pending_json(text).map(|p| p.finish())
    }

    /// [`ContextCache::digest_json`] short of its last two hashes (see [`finish_many`]).
    pub fn pending_json(&mut self, text: &str) -> R<Pending> {
        for e in &self.entries {
            if let Some(p) = &e.prefix {
                if let Some(message) = text.strip_prefix(&**p).and_then(last_value) {
                    return e.ctx.pending(e.primary.as_deref(), Some(&message));
                }
            }
        }
        let top: HashMap<String, &RawValue> =
            serde_json::from_str(text).map_err(|e| TypedDataError(format!("typed data is not valid JSON: {e}")))?;
        let domain = top.get("domain").ok_or_else(|| TypedDataError("missing 'domain'".into()))?.get();
        let types = top.get("types").ok_or_else(|| TypedDataError("missing 'types'".into()))?.get();
        let primary: Option<String> = match top.get("primaryType") {
            None => None,
            Some(r) => Some(
                serde_json::from_str(r.get()).map_err(|_| TypedDataError("'primaryType' must be a string".into()))?,
            ),
        };
        let (message, prefix) = match top.get("message") {
            Some(r) => {
                let raw = r.get();
                let start = raw.as_ptr() as usize - text.as_ptr() as usize;
                let last = text[start + raw.len()..].trim_matches(json_ws) == "}";
                let m: Value = serde_json::from_str(raw).map_err(|e| TypedDataError(format!("message: {e}")))?;
                (Some(m), last.then(|| Box::<str>::from(&text[..start])))
            }
            None => (None, None),
        };
        let hit = self.entries.iter().position(|e| *e.types == *types && *e.domain == *domain && e.primary == primary);
        let i = match hit {
            Some(i) => {
                if self.entries[i].prefix.is_none() {
                    self.entries[i].prefix = prefix;
                }
                i
            }
            None => {
                let tv: Value = serde_json::from_str(types).map_err(|e| TypedDataError(format!("types: {e}")))?;
                let dv: Value = serde_json::from_str(domain).map_err(|e| TypedDataError(format!("domain: {e}")))?;
                let ctx = Context::new(&tv, &dv)?;
                if self.entries.len() == CACHE_ENTRIES {
                    self.entries.remove(0);
                }
                self.entries.push(Entry { types: types.into(), domain: domain.into(), primary, prefix, ctx });
                self.entries.len() - 1
            }
        };
        let e = &self.entries[i];
        e.ctx.pending(e.primary.as_deref(), message.as_ref())
    }
}

thread_local! {
    /// One cache per worker thread, kept across batches: a service verifying vouchers of
    /// one contract meets the same types and domain call after call.
    static CACHE: std::cell::RefCell<ContextCache> = std::cell::RefCell::new(ContextCache::default());
}

/// `digest_json` through this thread's [`ContextCache`].
pub fn digest_json_cached(text: &str) -> R<[u8; 32]> {
    CACHE.with(|c| c.borrow_mut().digest_json(text))
}

/// `pending_json` through this thread's [`ContextCache`].
pub fn pending_json_cached(text: &str) -> R<Pending> {
    CACHE.with(|c| c.borrow_mut().pending_json(text))
}
