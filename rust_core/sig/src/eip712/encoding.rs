//! `hashStruct` / `encodeData`: a [`Context`] built once per `types` and `domain`, and the
//! encoding of message values through the shared value → ABI conversion.

use std::collections::{BTreeSet, HashMap};
use std::fmt;

use nftreg_eth::abi::AbiType;
use nftreg_eth::keccak::keccak256;
use nftreg_eth::value::{self, Input, ShortBytes};
use nftreg_eth::EthError;
use serde_json::Value;

use super::hashing::Pending;
use super::types::{derive_primary, encode_type, kind_of, Kind, Struct, DOMAIN_FIELDS};
use super::{err, TypedDataError, R};

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

/// Everything that depends on `types` and `domain` only.
pub struct Context {
    structs: HashMap<String, Struct>,
    /// The root of the type graph, or why there is not exactly one.
    primary: Result<String, String>,
    domain_separator: [u8; 32],
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
        Ok(Pending::new(self.domain_separator, encoded))
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
