//! EIP-712 typed-data hashing, digest-identical to eth-account's `encode_typed_data`
//! (full message form: `{types, primaryType, domain, message}`).
//!
//! When `types` has no `EIP712Domain`, it is derived from the domain's keys in the canonical
//! order (name, version, chainId, verifyingContract, salt), as eth-account does.

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};

use nftreg_merkle::abi::{self, AbiType};
use nftreg_merkle::hash::keccak256;
use serde_json::Value;
use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
#[error("{0}")]
pub struct TypedDataError(pub String);

type R<T> = Result<T, TypedDataError>;

fn err<T>(msg: impl Into<String>) -> R<T> {
    Err(TypedDataError(msg.into()))
}

struct Field {
    name: String,
    ty: String,
}

struct Types(HashMap<String, Vec<Field>>, RefCell<HashMap<String, [u8; 32]>>);

const DOMAIN_FIELDS: [(&str, &str); 5] = [
    ("name", "string"),
    ("version", "string"),
    ("chainId", "uint256"),
    ("verifyingContract", "address"),
    ("salt", "bytes32"),
];

fn base_type(t: &str) -> &str {
    t.split('[').next().unwrap_or(t)
}

impl Types {
    fn parse(v: &Value, domain: &Value) -> R<Types> {
        let obj = v.as_object().ok_or_else(|| TypedDataError("'types' must be an object".into()))?;
        let mut map = HashMap::new();
        for (name, fields) in obj {
            let arr = fields.as_array().ok_or_else(|| TypedDataError(format!("types.{name} must be a list")))?;
            let mut out = Vec::with_capacity(arr.len());
            for (i, f) in arr.iter().enumerate() {
                let n = f.get("name").and_then(Value::as_str);
                let t = f.get("type").and_then(Value::as_str);
                match (n, t) {
                    (Some(n), Some(t)) => out.push(Field { name: n.to_string(), ty: t.to_string() }),
                    _ => return err(format!("types.{name}[{i}] needs string 'name' and 'type'")),
                }
            }
            map.insert(name.clone(), out);
        }
        if !map.contains_key("EIP712Domain") {
            let d = domain.as_object().ok_or_else(|| TypedDataError("'domain' must be an object".into()))?;
            let fields = DOMAIN_FIELDS
                .iter()
                .filter(|(n, _)| d.contains_key(*n))
                .map(|(n, t)| Field { name: n.to_string(), ty: t.to_string() })
                .collect();
            map.insert("EIP712Domain".into(), fields);
        }
        Ok(Types(map, RefCell::new(HashMap::new())))
    }

    fn deps(&self, primary: &str, found: &mut BTreeSet<String>) {
        if let Some(fields) = self.0.get(primary) {
            for f in fields {
                let b = base_type(&f.ty);
                if self.0.contains_key(b) && !found.contains(b) {
                    found.insert(b.to_string());
                    self.deps(b, found);
                }
            }
        }
    }

    fn encode_type(&self, primary: &str) -> R<String> {
        if !self.0.contains_key(primary) {
            return err(format!("unknown struct type '{primary}'"));
        }
        let mut deps = BTreeSet::new();
        self.deps(primary, &mut deps);
        deps.remove(primary);
        let mut s = String::new();
        for t in std::iter::once(primary.to_string()).chain(deps) {
            let fields = &self.0[&t];
            s.push_str(&t);
            s.push('(');
            s.push_str(&fields.iter().map(|f| format!("{} {}", f.ty, f.name)).collect::<Vec<_>>().join(","));
            s.push(')');
        }
        Ok(s)
    }

    /// keccak256(encodeType(ty)), computed once per type (arrays of structs reuse it).
    fn type_hash(&self, ty: &str) -> R<[u8; 32]> {
        if let Some(h) = self.1.borrow().get(ty) {
            return Ok(*h);
        }
        let h = keccak256(self.encode_type(ty)?.as_bytes());
        self.1.borrow_mut().insert(ty.to_string(), h);
        Ok(h)
    }

    fn hash_struct(&self, ty: &str, value: &Value, path: &str) -> R<[u8; 32]> {
        let obj = value.as_object().ok_or_else(|| TypedDataError(format!("{path}: expected an object for struct {ty}")))?;
        let fields = self.0.get(ty).ok_or_else(|| TypedDataError(format!("unknown struct type '{ty}'")))?;
        let mut enc = Vec::with_capacity(32 * (fields.len() + 1));
        enc.extend_from_slice(&self.type_hash(ty)?);
        for f in fields {
            let p = format!("{path}.{}", f.name);
            let v = obj.get(&f.name).ok_or_else(|| TypedDataError(format!("{p}: missing value")))?;
            enc.extend_from_slice(&self.encode_value(&f.ty, v, &p)?);
        }
        Ok(keccak256(&enc))
    }

    fn encode_value(&self, ty: &str, v: &Value, path: &str) -> R<[u8; 32]> {
        if let Some(inner) = ty.strip_suffix(']') {
            let open = inner.rfind('[').ok_or_else(|| TypedDataError(format!("{path}: bad type '{ty}'")))?;
            let (elem, dim) = (&inner[..open], &inner[open + 1..]);
            let items = v.as_array().ok_or_else(|| TypedDataError(format!("{path}: expected a list for {ty}")))?;
            if !dim.is_empty() && dim.parse::<usize>().ok() != Some(items.len()) {
                return err(format!("{path}: {ty} needs exactly {dim} items, got {}", items.len()));
            }
            let mut enc = Vec::with_capacity(32 * items.len());
            for (i, item) in items.iter().enumerate() {
                enc.extend_from_slice(&self.encode_value(elem, item, &format!("{path}[{i}]"))?);
            }
            return Ok(keccak256(&enc));
        }
        if self.0.contains_key(ty) {
            return self.hash_struct(ty, v, path);
        }
        match ty {
            "string" => match v {
                Value::String(s) => Ok(keccak256(s.as_bytes())),
                _ => err(format!("{path}: expected a string")),
            },
            "bytes" => match v {
                Value::String(s) => Ok(keccak256(&abi::parse_hex_bytes(s, path).map_err(|e| TypedDataError(e.to_string()))?)),
                _ => err(format!("{path}: expected 0x-hex bytes")),
            },
            _ => atomic(ty, v, path),
        }
    }
}

fn atomic(ty: &str, v: &Value, path: &str) -> R<[u8; 32]> {
    let t = AbiType::parse(ty).map_err(|_| TypedDataError(format!("{path}: unknown type '{ty}'")))?;
    let e = |e: nftreg_merkle::MerkleError| TypedDataError(e.to_string());
    match (&t, v) {
        (AbiType::Address, Value::String(s)) => abi::parse_address(s, path).map_err(e),
        (AbiType::Bool, Value::Bool(b)) => {
            let mut w = [0u8; 32];
            w[31] = *b as u8;
            Ok(w)
        }
        (AbiType::Uint(bits), Value::Number(n)) => abi::parse_int_str(&n.to_string(), false, *bits, path).map_err(e),
        (AbiType::Int(bits), Value::Number(n)) => abi::parse_int_str(&n.to_string(), true, *bits, path).map_err(e),
        (AbiType::Uint(bits), Value::String(s)) => abi::parse_int_str(s, false, *bits, path).map_err(e),
        (AbiType::Int(bits), Value::String(s)) => abi::parse_int_str(s, true, *bits, path).map_err(e),
        (AbiType::FixedBytes(n), Value::String(s)) => {
            let raw = abi::parse_hex_bytes(s, path).map_err(e)?;
            abi::fixed_bytes_word(&raw, *n, path).map_err(e)
        }
        _ => err(format!("{path}: value does not fit type {ty}")),
    }
}

/// The EIP-712 digest of a full typed-data message (a JSON object).
pub fn digest(typed: &Value) -> R<[u8; 32]> {
    let domain = typed.get("domain").ok_or_else(|| TypedDataError("missing 'domain'".into()))?;
    let types = Types::parse(typed.get("types").ok_or_else(|| TypedDataError("missing 'types'".into()))?, domain)?;
    let primary = typed
        .get("primaryType")
        .and_then(Value::as_str)
        .ok_or_else(|| TypedDataError("missing 'primaryType'".into()))?;
    let mut pre = Vec::with_capacity(66);
    pre.extend_from_slice(b"\x19\x01");
    pre.extend_from_slice(&types.hash_struct("EIP712Domain", domain, "domain")?);
    if primary != "EIP712Domain" {
        let message = typed.get("message").ok_or_else(|| TypedDataError("missing 'message'".into()))?;
        pre.extend_from_slice(&types.hash_struct(primary, message, "message")?);
    }
    Ok(keccak256(&pre))
}

/// Parse JSON text and compute its digest.
pub fn digest_json(text: &str) -> R<[u8; 32]> {
    let v: Value = serde_json::from_str(text).map_err(|e| TypedDataError(format!("typed data is not valid JSON: {e}")))?;
    digest(&v)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The "Mail" example from the EIP-712 specification.
    #[test]
    fn eip712_spec_example() {
        let text = r#"{"types":{"EIP712Domain":[{"name":"name","type":"string"},{"name":"version","type":"string"},{"name":"chainId","type":"uint256"},{"name":"verifyingContract","type":"address"}],
        "Person":[{"name":"name","type":"string"},{"name":"wallet","type":"address"}],
        "Mail":[{"name":"from","type":"Person"},{"name":"to","type":"Person"},{"name":"contents","type":"string"}]},
        "primaryType":"Mail",
        "domain":{"name":"Ether Mail","version":"1","chainId":1,"verifyingContract":"0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC"},
        "message":{"from":{"name":"Cow","wallet":"0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826"},"to":{"name":"Bob","wallet":"0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB"},"contents":"Hello, Bob!"}}"#;
        assert_eq!(
            hex::encode(digest_json(text).unwrap()),
            "be609aee343fb3c4b28e1df9e632fca64fcfaede20f02e86244efddf30957bd2"
        );
    }
}
