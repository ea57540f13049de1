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

use std::collections::{BTreeSet, HashMap};
use std::fmt;

use nftreg_eth::abi::AbiType;
use nftreg_eth::keccak::{keccak256, Lanes};
use nftreg_eth::value::{self, Input, ShortBytes};
use nftreg_eth::EthError;
use rayon::prelude::*;
use serde_json::value::RawValue;
use serde_json::Value;
use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
#[error("{0}")]
pub struct TypedDataError(pub String);

type R<T> = Result<T, TypedDataError>;

fn err<T>(msg: impl Into<String>) -> R<T> {
    Err(TypedDataError(msg.into()))
}

const DOMAIN_FIELDS: [(&str, &str); 5] = [
    ("name", "string"),
    ("version", "string"),
    ("chainId", "uint256"),
    ("verifyingContract", "address"),
    ("salt", "bytes32"),
];

/// Where a value sits in the message, built only when an error needs to name it (formatting a
/// path for every field would cost more than hashing it).
#[derive(Clone, Copy)]
enum Path<'a> {
    Root(&'a str),
    Field(&'a Path<'a>, &'a str),
    Index(&'a Path<'a>, usize),
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Path::Root(s) => f.write_str(s),
            Path::Field(p, name) => write!(f, "{p}.{name}"),
            Path::Index(p, i) => write!(f, "{p}[{i}]"),
        }
    }
}

/// A field's type, resolved once per [`Context`].
enum Kind {
    String,
    Bytes,
    Atomic(AbiType),
    Struct(String),
    /// Element kind and, for `T[k]`, the required length.
    Array(Box<Kind>, Option<usize>),
    Unknown(String),
}

struct Struct {
    type_hash: [u8; 32],
    fields: Vec<(String, Kind)>,
}

/// Everything that depends on `types` and `domain` only.
pub struct Context {
    structs: HashMap<String, Struct>,
    /// The root of the type graph, or why there is not exactly one.
    primary: Result<String, String>,
    domain_separator: [u8; 32],
}

fn base_type(t: &str) -> &str {
    t.split('[').next().unwrap_or(t)
}

fn kind_of(ty: &str, names: &HashMap<String, Vec<(String, String)>>) -> Kind {
    if let Some(inner) = ty.strip_suffix(']') {
        let Some(open) = inner.rfind('[') else {
            return Kind::Unknown(ty.to_string());
        };
        let dim = &inner[open + 1..];
        let len = if dim.is_empty() {
            None
        } else if dim.bytes().all(|b| b.is_ascii_digit()) {
            match dim.parse() {
                Ok(k) => Some(k),
                Err(_) => return Kind::Unknown(ty.to_string()),
            }
        } else {
            return Kind::Unknown(ty.to_string());
        };
        return Kind::Array(Box::new(kind_of(&inner[..open], names)), len);
    }
    if names.contains_key(ty) {
        return Kind::Struct(ty.to_string());
    }
    match ty {
        "string" => Kind::String,
        "bytes" => Kind::Bytes,
        _ => match AbiType::parse(ty) {
            Ok(t @ (AbiType::Address | AbiType::Bool | AbiType::Uint(_) | AbiType::Int(_) | AbiType::FixedBytes(_))) => {
                Kind::Atomic(t)
            }
            _ => Kind::Unknown(ty.to_string()),
        },
    }
}

fn deps<'a>(raw: &'a HashMap<String, Vec<(String, String)>>, primary: &str, found: &mut BTreeSet<&'a str>) {
    if let Some(fields) = raw.get(primary) {
        for (_, ty) in fields {
            if let Some((name, _)) = raw.get_key_value(base_type(ty)) {
                if found.insert(name.as_str()) {
                    deps(raw, name, found);
                }
            }
        }
    }
}

fn encode_type(raw: &HashMap<String, Vec<(String, String)>>, primary: &str) -> String {
    let mut found = BTreeSet::new();
    deps(raw, primary, &mut found);
    found.remove(primary);
    let mut s = String::new();
    for t in std::iter::once(primary).chain(found) {
        s.push_str(t);
        s.push('(');
        for (i, (name, ty)) in raw[t].iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            s.push_str(ty);
            s.push(' ');
            s.push_str(name);
        }
        s.push(')');
    }
    s
}

/// The type that no other type refers to (eth-account's `get_primary_type`).
fn derive_primary(raw: &HashMap<String, Vec<(String, String)>>) -> Result<String, String> {
    let mut referenced = BTreeSet::new();
    for (name, fields) in raw {
        for (_, ty) in fields {
            let b = base_type(ty);
            if b != name && raw.contains_key(b) {
                referenced.insert(b);
            }
        }
    }
    let roots: Vec<&String> = raw.keys().filter(|k| !referenced.contains(k.as_str())).collect();
    match roots.as_slice() {
        [one] => Ok((*one).clone()),
        _ => Err(format!("unable to determine the primary type: {} types are not referenced by any other", roots.len())),
    }
}

impl Context {
    /// Resolve `types` and hash `domain` (see the module notes for the rules).
    pub fn new(types: &Value, domain: &Value) -> R<Context> {
        let obj = types.as_object().ok_or_else(|| TypedDataError("'types' must be an object".into()))?;
        let d = domain.as_object().ok_or_else(|| TypedDataError("'domain' must be an object".into()))?;
        if let Some(k) = d.keys().find(|k| !DOMAIN_FIELDS.iter().any(|(n, _)| n == k)) {
            return err(format!(
                "domain: invalid key '{k}' (allowed: name, version, chainId, verifyingContract, salt)"
            ));
        }
        let mut raw: HashMap<String, Vec<(String, String)>> = HashMap::with_capacity(obj.len());
        for (name, fields) in obj {
            let arr = fields.as_array().ok_or_else(|| TypedDataError(format!("types.{name} must be a list")))?;
            let mut out = Vec::with_capacity(arr.len());
            for (i, f) in arr.iter().enumerate() {
                match (f.get("name").and_then(Value::as_str), f.get("type").and_then(Value::as_str)) {
                    (Some(n), Some(t)) => out.push((n.to_string(), t.to_string())),
                    _ => return err(format!("types.{name}[{i}] needs string 'name' and 'type'")),
                }
            }
            raw.insert(name.clone(), out);
        }
        if let Some(declared) = raw.remove("EIP712Domain") {
            let declared: BTreeSet<&str> = declared.iter().map(|(n, _)| n.as_str()).collect();
            let given: BTreeSet<&str> = d.keys().map(String::as_str).collect();
            if declared != given {
                return err(format!(
                    "types.EIP712Domain declares {declared:?} but the domain has {given:?}"
                ));
            }
        }
        let primary = derive_primary(&raw);
        let structs = raw
            .iter()
            .map(|(name, fields)| {
                let type_hash = keccak256(encode_type(&raw, name).as_bytes());
                let fields = fields.iter().map(|(n, t)| (n.clone(), kind_of(t, &raw))).collect();
                (name.clone(), Struct { type_hash, fields })
            })
            .collect();
        let domain_raw = HashMap::from([(
            "EIP712Domain".to_string(),
            DOMAIN_FIELDS
                .iter()
                .filter(|(n, _)| d.contains_key(*n))
                .map(|(n, t)| (n.to_string(), t.to_string()))
                .collect::<Vec<_>>(),
        )]);
        let domain_struct = Struct {
            type_hash: keccak256(encode_type(&domain_raw, "EIP712Domain").as_bytes()),
            fields: domain_raw["EIP712Domain"].iter().map(|(n, t)| (n.clone(), kind_of(t, &domain_raw))).collect(),
        };
        let mut ctx = Context { structs, primary, domain_separator: [0; 32] };
        ctx.domain_separator = ctx.hash_fields("EIP712Domain", &domain_struct, domain, Path::Root("domain"))?;
        Ok(ctx)
    }

    pub fn domain_separator(&self) -> [u8; 32] {
        self.domain_separator
    }

    /// keccak256(0x1901 ‖ domainSeparator ‖ hashStruct(message)). `primary`, when given, must
    /// be the root of the type graph, as eth-account requires.
    pub fn digest(&self, primary: Option<&str>, message: Option<&Value>) -> R<[u8; 32]> {
        self.pending(primary, message).map(|p| p.finish())
    }

    /// [`Context::digest`] up to its last two hashes (the message struct's hash and the
    /// digest), which [`finish_many`] then computes for many messages together in lanes.
    pub fn pending(&self, primary: Option<&str>, message: Option<&Value>) -> R<Pending> {
        let root = self.primary.as_ref().map_err(|e| TypedDataError(e.clone()))?;
        if let Some(p) = primary {
            if p != root {
                return err(format!("primaryType '{p}' is not the root of the types ('{root}')"));
            }
        }
        let message = message.ok_or_else(|| TypedDataError("missing 'message'".into()))?;
        let st = self.structs.get(root.as_str()).ok_or_else(|| TypedDataError(format!("unknown struct type '{root}'")))?;
        let encoded = self.encode_fields(root, st, message, Path::Root("message"))?;
        Ok(Pending { domain_separator: self.domain_separator, encoded })
    }

    fn hash_struct(&self, ty: &str, value: &Value, path: Path<'_>) -> R<[u8; 32]> {
        let st = self.structs.get(ty).ok_or_else(|| TypedDataError(format!("unknown struct type '{ty}'")))?;
        self.hash_fields(ty, st, value, path)
    }

    fn hash_fields(&self, ty: &str, st: &Struct, value: &Value, path: Path<'_>) -> R<[u8; 32]> {
        Ok(keccak256(&self.encode_fields(ty, st, value, path)?))
    }

    /// typeHash ‖ encodeData: what hashStruct hashes.
    fn encode_fields(&self, ty: &str, st: &Struct, value: &Value, path: Path<'_>) -> R<Vec<u8>> {
        let obj = value.as_object().ok_or_else(|| TypedDataError(format!("{path}: expected an object for struct {ty}")))?;
        let mut enc = Vec::with_capacity(32 * (st.fields.len() + 1));
        enc.extend_from_slice(&st.type_hash);
        for (name, kind) in &st.fields {
            let p = Path::Field(&path, name);
            let v = obj.get(name).ok_or_else(|| TypedDataError(format!("{p}: missing value")))?;
            enc.extend_from_slice(&self.encode_value(kind, v, p)?);
        }
        Ok(enc)
    }

    fn encode_value(&self, kind: &Kind, v: &Value, path: Path<'_>) -> R<[u8; 32]> {
        match kind {
            Kind::String => Ok(keccak256(with_path(path, |p| value::text_bytes(input(v)).map_err(|e| at(p, e)))?)),
            Kind::Bytes => Ok(keccak256(&with_path(path, |p| value::raw_bytes(input(v)).map_err(|e| at(p, e)))?)),
            Kind::Atomic(t) => atomic(t, v, path),
            Kind::Struct(name) => self.hash_struct(name, v, path),
            Kind::Array(elem, len) => {
                let items = v.as_array().ok_or_else(|| TypedDataError(format!("{path}: expected a list")))?;
                if let Some(k) = len {
                    if *k != items.len() {
                        return err(format!("{path}: needs exactly {k} items, got {}", items.len()));
                    }
                }
                let mut enc = Vec::with_capacity(32 * items.len());
                for (i, item) in items.iter().enumerate() {
                    enc.extend_from_slice(&self.encode_value(elem, item, Path::Index(&path, i))?);
                }
                Ok(keccak256(&enc))
            }
            Kind::Unknown(ty) => err(format!("{path}: unknown type '{ty}'")),
        }
    }
}

/// A JSON value seen by the shared value → ABI conversion.
fn input(v: &Value) -> Input<'_> {
    match v {
        Value::String(s) => Input::Str(s),
        Value::Number(n) => Input::Number(n.as_str()),
        Value::Bool(b) => Input::Bool(*b),
        Value::Null => Input::Other("null"),
        Value::Array(_) => Input::Other("list"),
        Value::Object(_) => Input::Other("object"),
    }
}

/// The word of an atomic field: the shared conversion, with eth-abi's padding of short `bytesN`.
fn atomic(t: &AbiType, v: &Value, path: Path<'_>) -> R<[u8; 32]> {
    with_path(path, |p| value::scalar_word(t, input(v), ShortBytes::Pad).map_err(|e| at(p, e)))
}

/// Put `path` on a conversion error (which carries none, or a relative one).
fn at(path: &str, e: EthError) -> EthError {
    match e {
        EthError::BadValue { path: rel, msg } => EthError::BadValue { path: format!("{path}{rel}"), msg },
        other => other,
    }
}

/// Run a parser without a path (the common, successful case) and again with the path
/// spelled out only if it fails, so that the error names the value.
fn with_path<T>(path: Path<'_>, f: impl Fn(&str) -> nftreg_eth::Result<T>) -> R<T> {
    f("").or_else(|_| f(&path.to_string()).map_err(|e| TypedDataError(e.to_string())))
}

/// A digest short of its last two hashes: `keccak256(0x1901 ‖ domainSeparator ‖
/// keccak256(encoded))`.
#[derive(Debug, Clone)]
pub struct Pending {
    domain_separator: [u8; 32],
    /// typeHash ‖ encodeData of the message struct.
    encoded: Vec<u8>,
}

impl Pending {
    fn preimage(&self, struct_hash: &[u8; 32]) -> [u8; 66] {
        let mut pre = [0u8; 66];
        pre[..2].copy_from_slice(b"\x19\x01");
        pre[2..34].copy_from_slice(&self.domain_separator);
        pre[34..].copy_from_slice(struct_hash);
        pre
    }

    /// The digest, one lane.
    pub fn finish(&self) -> [u8; 32] {
        keccak256(&self.preimage(&keccak256(&self.encoded)))
    }
}

/// The digests of many pending messages, both last hashes in keccak lanes (same bytes as
/// [`Pending::finish`] on each). `None` stays `None`.
pub fn finish_many(lanes: Lanes, pending: &[Option<&Pending>]) -> Vec<Option<[u8; 32]>> {
    let ready: Vec<&Pending> = pending.iter().flatten().copied().collect();
    let encoded: Vec<&[u8]> = ready.iter().map(|p| p.encoded.as_slice()).collect();
    let mut hashes = vec![[0u8; 32]; ready.len()];
    lanes.many(&encoded, &mut hashes);
    let pre: Vec<[u8; 66]> = ready.iter().zip(&hashes).map(|(p, h)| p.preimage(h)).collect();
    let pre_refs: Vec<&[u8]> = pre.iter().map(|p| p.as_slice()).collect();
    lanes.many(&pre_refs, &mut hashes);
    let mut done = hashes.into_iter();
    pending.iter().map(|p| p.as_ref().and_then(|_| done.next())).collect()
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

/// Recently used contexts keyed by the exact JSON text of `types` and `domain`. Text that
/// differs only in whitespace or key order misses the cache and is simply recomputed.
pub struct ContextCache {
    entries: Vec<Entry>,
}

struct Entry {
    types: Box<str>,
    domain: Box<str>,
    primary: Option<String>,
    /// When `message` was the last key: the text before its value. A later text that starts
    /// with exactly these bytes and holds nothing but a value and `}` after them has the same
    /// types, domain and primaryType, so only its message needs parsing (the usual batch,
    /// serialised by one `json.dumps` call site, looks like this).
    prefix: Option<Box<str>>,
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

/// Digests of many JSON texts on all cores.
pub fn digest_many_json(texts: &[&str]) -> Vec<R<[u8; 32]>> {
    let lanes = Lanes::active();
    texts
        .par_chunks(16)
        .flat_map_iter(|chunk| {
            let pending: Vec<R<Pending>> = chunk.iter().map(|t| pending_json_cached(t)).collect();
            let refs: Vec<Option<&Pending>> = pending.iter().map(|p| p.as_ref().ok()).collect();
            let done = finish_many(lanes, &refs);
            pending.into_iter().zip(done).map(|(p, d)| p.and_then(|_| d.ok_or_else(|| TypedDataError("internal: a finished digest went missing".into()))))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The "Mail" example from the EIP-712 specification.
    const MAIL: &str = r#"{"types":{"EIP712Domain":[{"name":"name","type":"string"},{"name":"version","type":"string"},{"name":"chainId","type":"uint256"},{"name":"verifyingContract","type":"address"}],
        "Person":[{"name":"name","type":"string"},{"name":"wallet","type":"address"}],
        "Mail":[{"name":"from","type":"Person"},{"name":"to","type":"Person"},{"name":"contents","type":"string"}]},
        "primaryType":"Mail",
        "domain":{"name":"Ether Mail","version":"1","chainId":1,"verifyingContract":"0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC"},
        "message":{"from":{"name":"Cow","wallet":"0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826"},"to":{"name":"Bob","wallet":"0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB"},"contents":"Hello, Bob!"}}"#;
    const MAIL_DIGEST: &str = "be609aee343fb3c4b28e1df9e632fca64fcfaede20f02e86244efddf30957bd2";

    #[test]
    fn eip712_spec_example() {
        assert_eq!(hex::encode(digest_json(MAIL).unwrap()), MAIL_DIGEST);
    }

    #[test]
    fn cache_reuses_context_without_mixing_domains() {
        let other_chain = MAIL.replace("\"chainId\":1", "\"chainId\":5");
        let other_msg = MAIL.replace("Hello, Bob!", "Hello, Bobby!");
        let texts = [MAIL, other_chain.as_str(), MAIL, other_msg.as_str(), "{}", MAIL];
        let mut cache = ContextCache::default();
        for t in texts {
            assert_eq!(cache.digest_json(t), digest_json(t));
        }
        let many = digest_many_json(&texts);
        assert_eq!(hex::encode(many[0].as_ref().unwrap()), MAIL_DIGEST);
        assert_ne!(many[1], many[0]);
        assert_ne!(many[3], many[0]);
        assert!(many[4].is_err());
        assert_eq!(many[5], many[0]);
        // Both last hashes in lanes, on every backend, equal the one-lane digests.
        let pending: Vec<R<Pending>> = texts.iter().map(|t| cache.pending_json(t)).collect();
        let refs: Vec<Option<&Pending>> = pending.iter().map(|p| p.as_ref().ok()).collect();
        for lanes in Lanes::available() {
            let done = finish_many(lanes, &refs);
            for (k, t) in texts.iter().enumerate() {
                assert_eq!(done[k], digest_json(t).ok(), "{} item {k}", lanes.backend());
            }
        }
    }

    #[test]
    fn errors_name_the_path() {
        let bad = MAIL.replace("\"0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826\"", "\"0x12\"");
        let e = digest_json(&bad).unwrap_err().0;
        assert!(e.contains("message.from.wallet"), "{e}");
        let bad = MAIL.replace("\"chainId\":1", "\"chainId\":-1");
        let e = digest_json(&bad).unwrap_err().0;
        assert!(e.contains("domain.chainId"), "{e}");
    }

    #[test]
    fn domain_rules_follow_eth_account() {
        // Declared domain fields in another order: hashed in the canonical order anyway.
        let reordered = MAIL.replace(
            r#"{"name":"name","type":"string"},{"name":"version","type":"string"}"#,
            r#"{"name":"version","type":"string"},{"name":"name","type":"string"}"#,
        );
        assert_ne!(reordered, MAIL);
        assert_eq!(hex::encode(digest_json(&reordered).unwrap()), MAIL_DIGEST);
        // A domain value the declared type leaves out would not be signed: refused.
        let unsigned_chain = MAIL.replace(r#"{"name":"chainId","type":"uint256"},"#, "");
        assert!(digest_json(&unsigned_chain).unwrap_err().0.contains("EIP712Domain declares"));
        let odd_key = MAIL.replace(r#""chainId":1,"#, r#""chainId":1,"network":"x","#);
        assert!(digest_json(&odd_key).unwrap_err().0.contains("invalid key 'network'"));
        // primaryType: optional, but when given it must be the root.
        let no_primary = MAIL.replace(r#""primaryType":"Mail","#, "");
        assert_eq!(hex::encode(digest_json(&no_primary).unwrap()), MAIL_DIGEST);
        let wrong_primary = MAIL.replace(r#""primaryType":"Mail""#, r#""primaryType":"Person""#);
        assert!(digest_json(&wrong_primary).unwrap_err().0.contains("not the root"));
    }

    #[test]
    fn prefix_fast_path_never_changes_a_digest() {
        let mut cache = ContextCache::default();
        let other = MAIL.replace("Hello, Bob!", "Hi");
        let open = &MAIL.trim_end()[..MAIL.trim_end().len() - 1];
        // A later duplicate key wins in a full parse: the fast path must not skip it.
        let trailing_key = open.to_string() + r#","domain":{"name":"Ether Mail","version":"1","chainId":5,"verifyingContract":"0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC"}}"#;
        let trailing_junk = MAIL.trim_end().to_string() + "x";
        let nbsp = open.to_string() + "\u{a0}}";
        let spaced = open.to_string() + " \n}\n";
        for t in [MAIL, other.as_str(), trailing_key.as_str(), trailing_junk.as_str(), nbsp.as_str(), spaced.as_str(), MAIL] {
            assert_eq!(cache.digest_json(t), digest_json(t), "{t}");
        }
        assert!(digest_json(&trailing_key).is_ok() && digest_json(&trailing_key) != digest_json(MAIL));
        assert!(digest_json(&trailing_junk).is_err() && digest_json(&nbsp).is_err());
        assert_eq!(digest_json(&spaced), digest_json(MAIL));
        assert!(cache.entries.iter().any(|e| e.prefix.is_some()));
    }
}
