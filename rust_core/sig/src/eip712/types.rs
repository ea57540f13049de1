//! The type side of EIP-712: field kinds resolved from `types`, `encodeType` strings and the
//! primary type (the one root of the type graph).

use std::collections::{BTreeSet, HashMap};

use nftreg_eth::abi::AbiType;

pub(super) const DOMAIN_FIELDS: [(&str, &str); 5] = [
    ("name", "string"),
    ("version", "string"),
    ("chainId", "uint256"),
    ("verifyingContract", "address"),
    ("salt", "bytes32"),
];

/// A field's type, resolved once per [`Context`].
pub(super) enum Kind {
    String,
    Bytes,
    Atomic(AbiType),
    Struct(String),
    /// Element kind and, for `T[k]`, the required length.
    Array(Box<Kind>, Option<usize>),
    Unknown(String),
}

pub(super) struct Struct {
    pub(super) type_hash: [u8; 32],
    pub(super) fields: Vec<(String, Kind)>,
}

fn base_type(t: &str) -> &str {
    t.split('[').next().unwrap_or(t)
}

pub(super) fn kind_of(ty: &str, names: &HashMap<String, Vec<(String, String)>>) -> Kind {
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

pub(super) fn encode_type(raw: &HashMap<String, Vec<(String, String)>>, primary: &str) -> String {
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
pub(super) fn derive_primary(raw: &HashMap<String, Vec<(String, String)>>) -> Result<String, String> {
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
