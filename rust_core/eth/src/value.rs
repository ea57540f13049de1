//! The one conversion of loosely typed values into ABI values, shared by every front end: the
//! Python binding (leaf values given as Python objects), the request verifier (JSON parsed by
//! jiter) and EIP-712 hashing (serde_json values). Each front end only says what a value *is*
//! ([`Input`], and its items when it is a list, through [`Source`]); the rules for what fits
//! which type, and the wording of every refusal, live here once.
//!
//! Errors are [`EthError::BadValue`] with an empty path, or a relative one (`[2]`) for array
//! items; the caller prefixes where the value sits (`values[3][1] (uint256)`, `message.to`).

use crate::abi::{self, AbiType, AbiValue};
use crate::error::{EthError, Result};

/// What a front end sees in one value.
#[derive(Debug, Clone, Copy)]
pub enum Input<'a> {
    /// Text (a JSON or Python string).
    Str(&'a str),
    /// A JSON number as written (`"12"`, `"1.5e3"`); integers only are accepted.
    Number(&'a str),
    /// An integer the front end already read, as a 256-bit two's-complement word (`None` when it
    /// does not fit 256 bits) and its sign.
    Int { word: Option<[u8; 32]>, negative: bool },
    Bool(bool),
    /// Raw bytes (Python `bytes`).
    Bytes(&'a [u8]),
    /// Anything else; the front end's name of its type, for the error message.
    Other(&'a str),
}

impl Input<'_> {
    /// The value's type as the front end names it (`str`, `int`, `bool`, ...).
    fn kind(&self) -> &str {
        match self {
            Input::Str(_) => "str",
            Input::Number(_) | Input::Int { .. } => "int",
            Input::Bool(_) => "bool",
            Input::Bytes(_) => "bytes",
            Input::Other(k) => k,
        }
    }
}

/// How `bytesN` values shorter than N bytes are treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShortBytes {
    /// Refused: exactly N bytes (Solidity ABI, `@openzeppelin/merkle-tree`).
    Refuse,
    /// Right-padded with zeros (eth-abi's rule, and so eth-account's EIP-712 hashing).
    Pad,
}

fn bad(msg: impl Into<String>) -> EthError {
    EthError::BadValue { path: String::new(), msg: msg.into() }
}

/// An integer word for `uintN` / `intN` from a two's-complement word read by the front end.
pub fn int_word(word: Option<[u8; 32]>, negative: bool, signed: bool, bits: u16) -> Result<[u8; 32]> {
    let ty = if signed { format!("int{bits}") } else { format!("uint{bits}") };
    if negative && !signed {
        return Err(bad(format!("negative value for {ty}")));
    }
    let w = word.ok_or_else(|| bad(format!("value out of range for {ty}")))?;
    abi::check_int_range(&w, signed, bits, negative, "").map_err(|_| bad(format!("value out of range for {ty}")))?;
    Ok(w)
}

/// The 32-byte word of a static scalar type (address, bool, (u)intN, bytesN).
pub fn scalar_word(t: &AbiType, v: Input<'_>, short: ShortBytes) -> Result<[u8; 32]> {
    match (t, v) {
        (AbiType::Address, Input::Str(s)) => abi::parse_address(s, ""),
        (AbiType::Address, Input::Bytes(b)) => abi::address_word(b, ""),
        (AbiType::Address, other) => Err(bad(format!("expected an address string, got {}", other.kind()))),
        (AbiType::Bool, Input::Bool(b)) => {
            let mut w = [0u8; 32];
            w[31] = b as u8;
            Ok(w)
        }
        (AbiType::Bool, other) => Err(bad(format!("expected a bool, got {}", other.kind()))),
        (AbiType::Uint(bits) | AbiType::Int(bits), v) => {
            let signed = matches!(t, AbiType::Int(_));
            match v {
                Input::Str(s) | Input::Number(s) => abi::parse_int_str(s, signed, *bits, ""),
                Input::Int { word, negative } => int_word(word, negative, signed, *bits),
                Input::Bool(_) => Err(bad(format!("expected an integer for {}, got bool", t.name()))),
                other => Err(bad(format!("expected an integer or a decimal/0x-hex string, got {}", other.kind()))),
            }
        }
        (AbiType::FixedBytes(n), v) => {
            let raw = raw_bytes(v)?;
            match short {
                ShortBytes::Refuse => abi::fixed_bytes_word(&raw, *n, ""),
                ShortBytes::Pad if raw.len() > *n as usize => {
                    Err(bad(format!("bytes{n} takes at most {n} bytes, got {}", raw.len())))
                }
                ShortBytes::Pad => {
                    let mut w = [0u8; 32];
                    w[..raw.len()].copy_from_slice(&raw);
                    Ok(w)
                }
            }
        }
        _ => Err(EthError::Invariant(format!("{} is not a scalar type", t.name()))),
    }
}

/// Bytes from raw bytes or a 0x-hex string (`bytes`, `bytesN`).
pub fn raw_bytes(v: Input<'_>) -> Result<Vec<u8>> {
    match v {
        Input::Str(s) => abi::parse_hex_bytes(s, ""),
        Input::Bytes(b) => Ok(b.to_vec()),
        other => Err(bad(format!("expected bytes or a 0x-hex string, got {}", other.kind()))),
    }
}

/// The UTF-8 bytes of a `string` value.
pub fn text_bytes<'a>(v: Input<'a>) -> Result<&'a [u8]> {
    match v {
        Input::Str(s) => Ok(s.as_bytes()),
        other => Err(bad(format!("expected a str, got {}", other.kind()))),
    }
}

/// True for the types whose value is one 32-byte word.
pub fn is_scalar(t: &AbiType) -> bool {
    !matches!(t, AbiType::Bytes | AbiType::String | AbiType::Array(_) | AbiType::FixedArray(..))
}

/// A value a front end can hand to [`to_abi_value`].
pub trait Source: Sized {
    fn input(&self) -> Input<'_>;
    /// The items when the value is a list; `None` when it is not one.
    fn items(&self) -> Option<Result<Vec<Self>>>;
}

/// Convert one value to a typed ABI value (scalars as words, `bytes`/`string` as their bytes,
/// arrays item by item). Array items that fail carry their index in the error's path.
pub fn to_abi_value<S: Source>(t: &AbiType, v: &S) -> Result<AbiValue> {
    Ok(match t {
        AbiType::Bytes => AbiValue::Dynamic(raw_bytes(v.input())?),
        AbiType::String => AbiValue::Dynamic(text_bytes(v.input())?.to_vec()),
        AbiType::Array(inner) | AbiType::FixedArray(inner, _) => {
            let items = match v.items() {
                Some(items) => items?,
                None => return Err(bad(format!("expected a list, got {}", v.input().kind()))),
            };
            if let AbiType::FixedArray(_, k) = t {
                if items.len() != *k {
                    return Err(bad(format!("expected exactly {k} items, got {}", items.len())));
                }
            }
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                out.push(to_abi_value(inner, item).map_err(|e| match e {
                    EthError::BadValue { path, msg } => EthError::BadValue { path: format!("[{i}]{path}"), msg },
                    other => other,
                })?);
            }
            AbiValue::Array(out)
        }
        _ => AbiValue::Word(scalar_word(t, v.input(), ShortBytes::Refuse)?),
    })
}

/// ABI-encode one leaf (one value per type) into `out`: all-scalar leaves as the concatenation
/// of their words (no temporaries), others through [`abi::encode_into`]. `field` reads field
/// `f`; errors come back with the failing field's index.
pub fn encode_fields<S: Source>(
    types: &[AbiType],
    mut field: impl FnMut(usize) -> Result<S>,
    out: &mut Vec<u8>,
) -> std::result::Result<(), (usize, EthError)> {
    if types.iter().all(is_scalar) {
        for (f, t) in types.iter().enumerate() {
            let v = field(f).map_err(|e| (f, e))?;
            out.extend_from_slice(&scalar_word(t, v.input(), ShortBytes::Refuse).map_err(|e| (f, e))?);
        }
        return Ok(());
    }
    let mut vals = Vec::with_capacity(types.len());
    for (f, t) in types.iter().enumerate() {
        let v = field(f).map_err(|e| (f, e))?;
        vals.push(to_abi_value(t, &v).map_err(|e| (f, e))?);
    }
    abi::encode_into(types, &vals, out).map_err(|e| (types.len(), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    struct J(&'static str);
    impl Source for J {
        fn input(&self) -> Input<'_> {
            if self.0.starts_with('[') {
                Input::Other("list")
            } else if let Some(n) = self.0.strip_prefix('#') {
                Input::Number(n)
            } else {
                Input::Str(self.0)
            }
        }
        fn items(&self) -> Option<Result<Vec<J>>> {
            self.0.starts_with('[').then(|| Ok(vec![J("1"), J("#300")]))
        }
    }

    #[test]
    fn scalars_follow_one_set_of_rules() {
        let t = |s: &str| AbiType::parse(s).unwrap();
        assert_eq!(scalar_word(&t("uint8"), Input::Number("255"), ShortBytes::Refuse).unwrap()[31], 255);
        let e = scalar_word(&t("uint256"), Input::Bool(true), ShortBytes::Refuse).unwrap_err().to_string();
        assert!(e.contains("got bool"), "{e}");
        let e = scalar_word(&t("bool"), Input::Other("int"), ShortBytes::Refuse).unwrap_err().to_string();
        assert!(e.contains("expected a bool, got int"), "{e}");
        assert!(scalar_word(&t("bytes4"), Input::Str("0x1234"), ShortBytes::Refuse).is_err());
        assert_eq!(scalar_word(&t("bytes4"), Input::Str("0x1234"), ShortBytes::Pad).unwrap()[..4], [0x12, 0x34, 0, 0]);
        assert!(scalar_word(&t("bytes1"), Input::Str("0x1234"), ShortBytes::Pad).is_err());
        let neg = Input::Int { word: Some([0xff; 32]), negative: true };
        assert_eq!(scalar_word(&t("int8"), neg, ShortBytes::Refuse).unwrap(), [0xff; 32]);
        assert!(scalar_word(&t("uint8"), neg, ShortBytes::Refuse).unwrap_err().to_string().contains("negative"));
        let wide = Input::Int { word: None, negative: false };
        assert!(scalar_word(&t("uint256"), wide, ShortBytes::Refuse).unwrap_err().to_string().contains("out of range"));
    }

    #[test]
    fn arrays_name_the_failing_item() {
        let t = AbiType::parse("uint8[]").unwrap();
        let e = to_abi_value(&t, &J("[")).unwrap_err();
        assert_eq!(e, EthError::BadValue { path: "[1]".into(), msg: "value out of range for uint8".into() });
        let e = to_abi_value(&AbiType::parse("uint8[3]").unwrap(), &J("[")).unwrap_err().to_string();
        assert!(e.contains("exactly 3 items"), "{e}");
        assert!(to_abi_value(&t, &J("x")).unwrap_err().to_string().contains("expected a list, got str"));
    }
}
