//! Solidity ABI encoding (`abi.encode(types, values)`) for the leaf types that
//! `@openzeppelin/merkle-tree` accepts: `address`, `bool`, `uint8..uint256`, `int8..int256`,
//! `bytes1..bytes32`, `bytes`, `string`, and arrays `T[]` / `T[k]` of any of these.
//!
//! Values reach this module already typed ([`AbiValue`]); the parsers here turn the textual
//! forms the npm library accepts (decimal or 0x-hex numbers, 0x-hex bytes, addresses) into
//! 32-byte words and report precisely what is wrong.

use crate::error::{EthError, Result};

/// A parsed ABI type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AbiType {
    Address,
    Bool,
    Uint(u16),
    Int(u16),
    FixedBytes(u8),
    Bytes,
    String,
    Array(Box<AbiType>),
    FixedArray(Box<AbiType>, usize),
}

/// A value already checked against its type. Static scalars are their 32-byte word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AbiValue {
    Word([u8; 32]),
    /// `bytes` or `string` contents.
    Dynamic(Vec<u8>),
    Array(Vec<AbiValue>),
}

impl AbiType {
    /// Parse a Solidity type name such as `uint256`, `bytes32[]` or `address[3][]`.
    pub fn parse(s: &str) -> Result<AbiType> {
        let unknown = || EthError::UnknownType(s.to_string());
        let t = s.trim();
        if let Some(stripped) = t.strip_suffix(']') {
            let open = stripped.rfind('[').ok_or_else(unknown)?;
            let inner = AbiType::parse(&stripped[..open]).map_err(|_| unknown())?;
            let dim = &stripped[open + 1..];
            if dim.is_empty() {
                return Ok(AbiType::Array(Box::new(inner)));
            }
            if !dim.bytes().all(|b| b.is_ascii_digit()) || dim.starts_with('0') {
                return Err(unknown());
            }
            let k: usize = dim.parse().map_err(|_| unknown())?;
            return Ok(AbiType::FixedArray(Box::new(inner), k));
        }
        let bits = |rest: &str, default: u16| -> Option<u16> {
            if rest.is_empty() {
                return Some(default);
            }
            if rest.starts_with('0') || !rest.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let n: u16 = rest.parse().ok()?;
            ((8..=256).contains(&n) && n.is_multiple_of(8)).then_some(n)
        };
        Ok(match t {
            "address" => AbiType::Address,
            "bool" => AbiType::Bool,
            "bytes" => AbiType::Bytes,
            "string" => AbiType::String,
            _ if t.starts_with("uint") => AbiType::Uint(bits(&t[4..], 256).ok_or_else(unknown)?),
            _ if t.starts_with("int") => AbiType::Int(bits(&t[3..], 256).ok_or_else(unknown)?),
            _ if t.starts_with("bytes") => {
                let rest = &t[5..];
                if rest.starts_with('0') || !rest.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(unknown());
                }
                let n: u8 = rest.parse().map_err(|_| unknown())?;
                if !(1..=32).contains(&n) {
                    return Err(unknown());
                }
                AbiType::FixedBytes(n)
            }
            _ => return Err(unknown()),
        })
    }

    /// True for types encoded out of line (with an offset in the head).
    pub fn is_dynamic(&self) -> bool {
        match self {
            AbiType::Bytes | AbiType::String | AbiType::Array(_) => true,
            AbiType::FixedArray(inner, _) => inner.is_dynamic(),
            _ => false,
        }
    }

    /// Bytes this type occupies in the head of an enclosing tuple.
    fn head_len(&self) -> usize {
        match self {
            AbiType::FixedArray(inner, k) if !self.is_dynamic() => inner.head_len() * k,
            _ => 32,
        }
    }

    /// The canonical type name (as Solidity writes it).
    pub fn name(&self) -> String {
        match self {
            AbiType::Address => "address".into(),
            AbiType::Bool => "bool".into(),
            AbiType::Uint(b) => format!("uint{b}"),
            AbiType::Int(b) => format!("int{b}"),
            AbiType::FixedBytes(n) => format!("bytes{n}"),
            AbiType::Bytes => "bytes".into(),
            AbiType::String => "string".into(),
            AbiType::Array(i) => format!("{}[]", i.name()),
            AbiType::FixedArray(i, k) => format!("{}[{k}]", i.name()),
        }
    }
}

/// Parse a leaf encoding (`["address", "uint256"]`).
pub fn parse_types<S: AsRef<str>>(types: &[S]) -> Result<Vec<AbiType>> {
    if types.is_empty() {
        return Err(EthError::InvalidInput("leaf encoding must name at least one type".into()));
    }
    types.iter().map(|t| AbiType::parse(t.as_ref())).collect()
}

fn bad(path: &str, msg: impl Into<String>) -> EthError {
    EthError::BadValue { path: path.to_string(), msg: msg.into() }
}

fn strip_0x(s: &str) -> Option<&str> {
    s.strip_prefix("0x").or_else(|| s.strip_prefix("0X"))
}

/// Decode 0x-prefixed hex (the prefix is required, as in the npm library).
pub fn parse_hex_bytes(s: &str, path: &str) -> Result<Vec<u8>> {
    let h = strip_0x(s).ok_or_else(|| bad(path, format!("expected 0x-prefixed hex, got {s:?}")))?;
    if h.len() % 2 != 0 {
        return Err(bad(path, format!("hex string has an odd number of digits: {s:?}")));
    }
    let mut out = vec![0u8; h.len() / 2];
    if !decode_hex_exact(h.as_bytes(), &mut out).0 {
        return Err(bad(path, format!("not valid hex: {s:?}")));
    }
    Ok(out)
}

/// An address from 20 raw bytes.
pub fn address_word(raw: &[u8], path: &str) -> Result<[u8; 32]> {
    if raw.len() != 20 {
        return Err(bad(path, format!("address must be 20 bytes, got {}", raw.len())));
    }
    let mut w = [0u8; 32];
    w[12..].copy_from_slice(raw);
    Ok(w)
}

const fn hex_table() -> [u8; 256] {
    let mut t = [0xffu8; 256];
    let mut i = 0;
    while i < 10 {
        t[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        t[b'a' as usize + i] = 10 + i as u8;
        t[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    t
}
static HEX: [u8; 256] = hex_table();

/// Decode exactly `out.len()` bytes of hex in one pass (hot path of address parsing).
/// Returns (valid, has_lowercase_letter, has_uppercase_letter).
pub fn decode_hex_exact(h: &[u8], out: &mut [u8]) -> (bool, bool, bool) {
    if h.len() != 2 * out.len() {
        return (false, false, false);
    }
    let (mut bad, mut lower, mut upper) = (0u8, false, false);
    for (o, pair) in out.iter_mut().zip(h.chunks_exact(2)) {
        let (a, b) = (HEX[pair[0] as usize], HEX[pair[1] as usize]);
        bad |= (a | b) & 0xf0;
        *o = (a << 4) | (b & 0x0f);
        for &c in pair {
            lower |= c.is_ascii_lowercase();
            upper |= c.is_ascii_uppercase();
        }
    }
    (bad == 0, lower, upper)
}

/// An address from `0x` + 40 hex digits. Mixed case must be a valid EIP-55 checksum.
pub fn parse_address(s: &str, path: &str) -> Result<[u8; 32]> {
    let malformed = || bad(path, format!("malformed address {s:?}: expected 0x + 40 hex digits"));
    let h = strip_0x(s).ok_or_else(malformed)?;
    let mut w = [0u8; 32];
    let (valid, lower, upper) = decode_hex_exact(h.as_bytes(), &mut w[12..]);
    if !valid {
        return Err(malformed());
    }
    if lower && upper && to_checksum(&w[12..])[2..] != *h {
        return Err(bad(path, format!("address {s:?} has an invalid EIP-55 checksum")));
    }
    Ok(w)
}

/// EIP-55 checksummed form of a 20-byte address.
pub fn to_checksum(raw: &[u8]) -> String {
    let lower = hex::encode(raw);
    let h = crate::keccak::keccak256(lower.as_bytes());
    let mut out = String::with_capacity(42);
    out.push_str("0x");
    for (i, c) in lower.chars().enumerate() {
        let nibble = (h[i / 2] >> (if i % 2 == 0 { 4 } else { 0 })) & 0x0f;
        out.push(if c.is_ascii_alphabetic() && nibble >= 8 { c.to_ascii_uppercase() } else { c });
    }
    out
}

/// A `bytesN` value from raw bytes: exactly N bytes, right-padded to a word.
pub fn fixed_bytes_word(raw: &[u8], n: u8, path: &str) -> Result<[u8; 32]> {
    if raw.len() != n as usize {
        return Err(bad(path, format!("bytes{n} needs exactly {n} bytes, got {}", raw.len())));
    }
    let mut w = [0u8; 32];
    w[..raw.len()].copy_from_slice(raw);
    Ok(w)
}

/// Check that a big-endian two's-complement word fits `uintN` / `intN`.
pub fn check_int_range(word: &[u8; 32], signed: bool, bits: u16, negative: bool, path: &str) -> Result<()> {
    let ty = if signed { format!("int{bits}") } else { format!("uint{bits}") };
    if !signed {
        if negative {
            return Err(bad(path, format!("negative value for {ty}")));
        }
        let free = (256 - bits as usize) / 8;
        if word[..free].iter().any(|&b| b != 0) {
            return Err(bad(path, format!("value out of range for {ty}")));
        }
        return Ok(());
    }
    // signed: the top (256 - bits + 1) bits must all equal the sign bit.
    let fill = if negative { 0xffu8 } else { 0x00 };
    let free = (256 - bits as usize) / 8;
    let sign_byte = word[free];
    let ok = word[..free].iter().all(|&b| b == fill) && ((sign_byte & 0x80 != 0) == negative);
    if !ok {
        return Err(bad(path, format!("value out of range for {ty}")));
    }
    Ok(())
}

/// Parse an integer written as decimal (optionally negative) or 0x-hex into a word
/// (two's complement for negatives) and check its range.
pub fn parse_int_str(s: &str, signed: bool, bits: u16, path: &str) -> Result<[u8; 32]> {
    let t = s.trim();
    let (negative, body) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t),
    };
    let mut mag = [0u8; 32];
    if let Some(h) = strip_0x(body) {
        if h.is_empty() || h.len() > 64 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad(path, format!("not a valid integer: {s:?}")));
        }
        let padded = format!("{h:0>64}");
        hex::decode_to_slice(padded, &mut mag).expect("checked hex");
    } else {
        if body.is_empty() || !body.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad(path, format!("not a valid integer: {s:?}")));
        }
        if body.len() <= 38 {
            // fits in u128: the common case, no byte-wise arithmetic
            let v: u128 = body.parse().map_err(|_| bad(path, format!("not a valid integer: {s:?}")))?;
            mag[16..].copy_from_slice(&v.to_be_bytes());
            return word_from_magnitude(mag, negative, signed, bits, path);
        }
        for d in body.bytes() {
            // mag = mag * 10 + d, with overflow detection
            let mut carry = (d - b'0') as u32;
            for byte in mag.iter_mut().rev() {
                let v = (*byte as u32) * 10 + carry;
                *byte = (v & 0xff) as u8;
                carry = v >> 8;
            }
            if carry != 0 {
                return Err(bad(path, format!("value out of range for {}int{bits}", if signed { "" } else { "u" })));
            }
        }
    }
    word_from_magnitude(mag, negative, signed, bits, path)
}

/// Apply sign (two's complement) to a magnitude and range-check it.
pub fn word_from_magnitude(mag: [u8; 32], negative: bool, signed: bool, bits: u16, path: &str) -> Result<[u8; 32]> {
    let is_zero = mag.iter().all(|&b| b == 0);
    let negative = negative && !is_zero;
    if negative && !signed {
        return Err(bad(path, format!("negative value for uint{bits}")));
    }
    let word = if negative { negate(mag) } else { mag };
    check_int_range(&word, signed, bits, negative, path)?;
    Ok(word)
}

fn negate(mut w: [u8; 32]) -> [u8; 32] {
    for b in w.iter_mut() {
        *b = !*b;
    }
    for b in w.iter_mut().rev() {
        let (v, overflow) = b.overflowing_add(1);
        *b = v;
        if !overflow {
            break;
        }
    }
    w
}

/// `abi.encode(types..., values...)` (a top-level tuple).
pub fn encode(types: &[AbiType], values: &[AbiValue]) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(32 * types.len());
    encode_into(types, values, &mut out)?;
    Ok(out)
}

/// Append `abi.encode(...)` to `out` (lets a batch share one buffer).
pub fn encode_into(types: &[AbiType], values: &[AbiValue], out: &mut Vec<u8>) -> Result<()> {
    if types.len() != values.len() {
        return Err(EthError::InvalidInput(format!(
            "expected {} values, got {}",
            types.len(),
            values.len()
        )));
    }
    encode_tuple(types.iter(), values, out)
}

fn encode_tuple<'a>(types: impl Iterator<Item = &'a AbiType> + Clone, values: &[AbiValue], out: &mut Vec<u8>) -> Result<()> {
    let base = out.len();
    let head_len: usize = types.clone().map(|t| t.head_len()).sum();
    out.resize(base + head_len, 0);
    let mut head_pos = base;
    for (t, v) in types.zip(values) {
        if t.is_dynamic() {
            let offset = out.len() - base;
            out[head_pos + 24..head_pos + 32].copy_from_slice(&(offset as u64).to_be_bytes());
            encode_value(t, v, out)?;
            head_pos += 32;
        } else {
            let mut tmp = Vec::with_capacity(t.head_len());
            encode_value(t, v, &mut tmp)?;
            out[head_pos..head_pos + tmp.len()].copy_from_slice(&tmp);
            head_pos += t.head_len();
        }
    }
    Ok(())
}

fn encode_value(t: &AbiType, v: &AbiValue, out: &mut Vec<u8>) -> Result<()> {
    match (t, v) {
        (AbiType::Bytes | AbiType::String, AbiValue::Dynamic(data)) => {
            let mut len = [0u8; 32];
            len[24..].copy_from_slice(&(data.len() as u64).to_be_bytes());
            out.extend_from_slice(&len);
            out.extend_from_slice(data);
            let pad = (32 - data.len() % 32) % 32;
            out.extend(std::iter::repeat_n(0u8, pad));
            Ok(())
        }
        (AbiType::Array(inner), AbiValue::Array(items)) => {
            let mut len = [0u8; 32];
            len[24..].copy_from_slice(&(items.len() as u64).to_be_bytes());
            out.extend_from_slice(&len);
            encode_tuple(std::iter::repeat_n(inner.as_ref(), items.len()), items, out)
        }
        (AbiType::FixedArray(inner, k), AbiValue::Array(items)) => {
            if items.len() != *k {
                return Err(EthError::InvalidInput(format!(
                    "{} needs exactly {k} items, got {}",
                    t.name(),
                    items.len()
                )));
            }
            encode_tuple(std::iter::repeat_n(inner.as_ref(), *k), items, out)
        }
        (_, AbiValue::Word(w)) if !t.is_dynamic() && !matches!(t, AbiType::FixedArray(..)) => {
            out.extend_from_slice(w);
            Ok(())
        }
        _ => Err(EthError::Invariant(format!("value shape does not match type {}", t.name()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(n: u64) -> AbiValue {
        let mut x = [0u8; 32];
        x[24..].copy_from_slice(&n.to_be_bytes());
        AbiValue::Word(x)
    }

    #[test]
    fn parses_types() {
        assert_eq!(AbiType::parse("uint").unwrap(), AbiType::Uint(256));
        assert_eq!(AbiType::parse("int8").unwrap(), AbiType::Int(8));
        assert_eq!(AbiType::parse("bytes32[]").unwrap(), AbiType::Array(Box::new(AbiType::FixedBytes(32))));
        assert_eq!(
            AbiType::parse("address[2][]").unwrap(),
            AbiType::Array(Box::new(AbiType::FixedArray(Box::new(AbiType::Address), 2)))
        );
        for bad in ["uint7", "uint264", "bytes0", "bytes33", "int08", "foo", "address[x]", "uint256[0", "tuple"] {
            assert!(AbiType::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn encodes_static_and_dynamic() {
        // abi.encode(uint256 1, string "abc")
        let types = parse_types(&["uint256", "string"]).unwrap();
        let enc = encode(&types, &[w(1), AbiValue::Dynamic(b"abc".to_vec())]).unwrap();
        let expected = concat!(
            "0000000000000000000000000000000000000000000000000000000000000001",
            "0000000000000000000000000000000000000000000000000000000000000040",
            "0000000000000000000000000000000000000000000000000000000000000003",
            "6162630000000000000000000000000000000000000000000000000000000000"
        );
        assert_eq!(hex::encode(enc), expected);
    }

    #[test]
    fn encodes_arrays() {
        // abi.encode(uint256[] [1,2], uint8[2] [3,4])
        let types = parse_types(&["uint256[]", "uint8[2]"]).unwrap();
        let enc = encode(&types, &[AbiValue::Array(vec![w(1), w(2)]), AbiValue::Array(vec![w(3), w(4)])]).unwrap();
        let words: Vec<String> = enc.chunks(32).map(hex::encode).collect();
        assert_eq!(words.len(), 6);
        assert!(words[0].ends_with("60")); // offset 0x60: head is 32 + 64 bytes
        assert!(words[1].ends_with("03") && words[2].ends_with("04"));
        assert!(words[3].ends_with("02") && words[4].ends_with("01") && words[5].ends_with("02"));
    }

    #[test]
    fn int_parsing_and_ranges() {
        assert!(parse_int_str("255", false, 8, "v").is_ok());
        assert!(parse_int_str("256", false, 8, "v").is_err());
        assert!(parse_int_str("-1", false, 8, "v").is_err());
        assert_eq!(parse_int_str("-1", true, 8, "v").unwrap(), [0xff; 32]);
        assert!(parse_int_str("-128", true, 8, "v").is_ok());
        assert!(parse_int_str("-129", true, 8, "v").is_err());
        assert!(parse_int_str("127", true, 8, "v").is_ok());
        assert!(parse_int_str("128", true, 8, "v").is_err());
        assert_eq!(parse_int_str("0xff", false, 256, "v").unwrap()[31], 0xff);
        let max = "115792089237316195423570985008687907853269984665640564039457584007913129639935";
        assert_eq!(parse_int_str(max, false, 256, "v").unwrap(), [0xff; 32]);
        assert!(parse_int_str("115792089237316195423570985008687907853269984665640564039457584007913129639936", false, 256, "v").is_err());
        assert!(parse_int_str("12a", false, 256, "v").is_err());
        assert!(parse_int_str("", false, 256, "v").is_err());
        assert_eq!(parse_int_str("-0", true, 256, "v").unwrap(), [0u8; 32]);
    }

    #[test]
    fn addresses() {
        let a = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed";
        assert!(parse_address(a, "v").is_ok());
        assert!(parse_address(&a.to_lowercase(), "v").is_ok());
        assert!(parse_address("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD", "v").is_err());
        assert!(parse_address("0x1234", "v").is_err());
        assert_eq!(to_checksum(&hex::decode(a[2..].to_lowercase()).unwrap()), a);
    }
}
