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

use rayon::prelude::*;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

use crate::abi::{self, AbiType, AbiValue};
use crate::error::{MerkleError, Result};
use crate::hash::{keccak256, keccak256_32, Hash};
use crate::tree::process_proof;

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
    value: Vec<Value>,
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
        (AbiType::Address, Value::String(s)) => abi::parse_address(s, ""),
        (AbiType::Bool, Value::Bool(b)) => {
            let mut w = [0u8; 32];
            w[31] = *b as u8;
            Ok(w)
        }
        (AbiType::Uint(bits), Value::Number(n)) => abi::parse_int_str(n.as_str(), false, *bits, ""),
        (AbiType::Int(bits), Value::Number(n)) => abi::parse_int_str(n.as_str(), true, *bits, ""),
        (AbiType::Uint(bits), Value::String(s)) => abi::parse_int_str(s, false, *bits, ""),
        (AbiType::Int(bits), Value::String(s)) => abi::parse_int_str(s, true, *bits, ""),
        (AbiType::FixedBytes(n), Value::String(s)) => abi::fixed_bytes_word(&abi::parse_hex_bytes(s, "")?, *n, ""),
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

/// The standard leaf hash of one JSON value (`keccak256(keccak256(abi.encode(...)))`).
fn leaf_of(types: &[AbiType], all_static: bool, value: &[Value], buf: &mut Vec<u8>) -> Result<Hash> {
    if value.len() != types.len() {
        return Err(invalid("wrong arity"));
    }
    buf.clear();
    if all_static {
        for (t, v) in types.iter().zip(value) {
            buf.extend_from_slice(&scalar(t, v)?);
        }
    } else {
        let vals = types.iter().zip(value).map(|(t, v)| to_value(t, v)).collect::<Result<Vec<_>>>()?;
        abi::encode_into(types, &vals, buf)?;
    }
    Ok(keccak256_32(&keccak256(buf)))
}

/// One item: true when its proof folds its value's leaf onto `root`; false when it does not or
/// when the item is malformed in any way.
fn check_item(raw: &RawValue, types: &[AbiType], all_static: bool, root: &Hash, buf: &mut Vec<u8>, proof: &mut Vec<Hash>) -> bool {
    let Ok(item) = serde_json::from_str::<Item<'_>>(raw.get()) else { return false };
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
        .par_iter()
        .with_min_len(256)
        .map_init(
            || (Vec::with_capacity(256), Vec::with_capacity(32)),
            |(buf, proof), raw| check_item(raw, &types, all_static, &root, buf, proof),
        )
        .collect())
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

    #[test]
    fn verifies_items_and_flags_bad_ones() {
        let addrs: Vec<String> = (0..5u8).map(|i| format!("0x{}", hex::encode([i + 1; 20]))).collect();
        let mut leaves: Vec<Hash> = addrs.iter().enumerate().map(|(i, a)| leaf(a, i as u64 * 10)).collect();
        leaves.sort();
        let tree = make_tree(&leaves).unwrap();
        let pos = |h: &Hash| tree.len() - 1 - leaves.iter().position(|x| x == h).unwrap();
        let mut items = Vec::new();
        for (i, a) in addrs.iter().enumerate() {
            let p: Vec<String> = get_proof(&tree, pos(&leaf(a, i as u64 * 10))).unwrap().iter().map(hx).collect();
            // amounts alternate between a JSON number and a decimal string; both are accepted
            let amount = if i % 2 == 0 { format!("{}", i * 10) } else { format!("\"{}\"", i * 10) };
            items.push(format!("{{\"value\":[\"{a}\",{amount}],\"proof\":{}}}", serde_json::to_string(&p).unwrap()));
        }
        let good = items[0].clone();
        items.push(good.replace("\"0x01", "\"0x02")); // wrong value
        items.push("{\"value\":[1,2],\"proof\":[]}".into()); // wrong types
        items.push("[]".into()); // not an object
        items.push(good.replace("\"proof\":[\"0x", "\"proof\":[\"zz")); // not hex
        items.push(good.replace("\"value\":[", "\"value\":[1.5,")); // wrong arity
        let body = format!("{{\"root\":\"{}\",\"items\":[{}]}}", hx(&tree[0]), items.join(","));
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
}
