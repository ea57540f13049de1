//! Varints, multihashes, CIDs and their string forms (base58btc for v0, base32 for v1).

use sha2::{Digest, Sha256};

pub const DAG_PB: u64 = 0x70;
pub const RAW: u64 = 0x55;
const SHA2_256: u8 = 0x12;

/// A CID: version, codec and the SHA-256 digest of the block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cid {
    pub version: u8,
    pub codec: u64,
    pub digest: [u8; 32],
}

pub fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

pub fn get_varint(buf: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *buf.get(*pos)?;
        *pos += 1;
        v |= ((b & 0x7f) as u64) << shift;
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

impl Cid {
    pub fn of_block(version: u8, codec: u64, block: &[u8]) -> Cid {
        Cid { version, codec, digest: sha256(block) }
    }

    /// Binary form: the multihash for v0; version ‖ codec ‖ multihash for v1.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(36);
        if self.version == 1 {
            put_varint(&mut out, 1);
            put_varint(&mut out, self.codec);
        }
        out.push(SHA2_256);
        out.push(32);
        out.extend_from_slice(&self.digest);
        out
    }

    pub fn from_bytes(b: &[u8]) -> Option<Cid> {
        if b.len() == 34 && b[0] == SHA2_256 && b[1] == 32 {
            return Some(Cid { version: 0, codec: DAG_PB, digest: b[2..].try_into().ok()? });
        }
        let mut pos = 0;
        if get_varint(b, &mut pos)? != 1 {
            return None;
        }
        let codec = get_varint(b, &mut pos)?;
        if b.get(pos..pos + 2)? != [SHA2_256, 32] || b.len() != pos + 34 {
            return None;
        }
        Some(Cid { version: 1, codec, digest: b[pos + 2..].try_into().ok()? })
    }

    /// Does `block` hash to this CID?
    pub fn matches(&self, block: &[u8]) -> bool {
        sha256(block) == self.digest
    }
}

const B58: &[u8; 58] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
const B32: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

fn base58_encode(data: &[u8]) -> String {
    let zeros = data.iter().take_while(|&&b| b == 0).count();
    let mut digits: Vec<u8> = Vec::with_capacity(data.len() * 138 / 100 + 1);
    for &byte in data {
        let mut carry = byte as u32;
        for d in digits.iter_mut() {
            carry += (*d as u32) << 8;
            *d = (carry % 58) as u8;
            carry /= 58;
        }
        while carry > 0 {
            digits.push((carry % 58) as u8);
            carry /= 58;
        }
    }
    let mut s = String::with_capacity(zeros + digits.len());
    s.extend(std::iter::repeat_n('1', zeros));
    s.extend(digits.iter().rev().map(|&d| B58[d as usize] as char));
    s
}

fn base58_decode(s: &str) -> Option<Vec<u8>> {
    let zeros = s.bytes().take_while(|&b| b == b'1').count();
    let mut bytes: Vec<u8> = Vec::new();
    for c in s.bytes() {
        let mut carry = B58.iter().position(|&x| x == c)? as u32;
        for b in bytes.iter_mut() {
            carry += (*b as u32) * 58;
            *b = (carry & 0xff) as u8;
            carry >>= 8;
        }
        while carry > 0 {
            bytes.push((carry & 0xff) as u8);
            carry >>= 8;
        }
    }
    let mut out = vec![0u8; zeros];
    out.extend(bytes.iter().rev());
    Some(out)
}

fn base32_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len() * 8 / 5 + 1);
    let (mut buf, mut bits) = (0u32, 0u32);
    for &b in data {
        buf = (buf << 8) | b as u32;
        bits += 8;
        while bits >= 5 {
            out.push(B32[((buf >> (bits - 5)) & 31) as usize] as char);
            bits -= 5;
        }
    }
    if bits > 0 {
        out.push(B32[((buf << (5 - bits)) & 31) as usize] as char);
    }
    out
}

fn base32_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 5 / 8);
    let (mut buf, mut bits) = (0u32, 0u32);
    for c in s.bytes() {
        let v = B32.iter().position(|&x| x == c.to_ascii_lowercase())? as u32;
        buf = (buf << 5) | v;
        bits += 5;
        if bits >= 8 {
            out.push((buf >> (bits - 8)) as u8);
            bits -= 8;
        }
    }
    Some(out)
}

/// The canonical string form Kubo prints.
pub fn cid_to_string(c: &Cid) -> String {
    if c.version == 0 {
        base58_encode(&c.to_bytes())
    } else {
        format!("b{}", base32_encode(&c.to_bytes()))
    }
}

/// Parse `Qm…` (v0) or `b…` (base32 v1) CIDs with a SHA-256 multihash.
pub fn parse_cid(s: &str) -> Option<Cid> {
    if s.len() == 46 && s.starts_with("Qm") {
        return Cid::from_bytes(&base58_decode(s)?);
    }
    let rest = s.strip_prefix('b')?;
    Cid::from_bytes(&base32_decode(rest)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_cids() {
        // Empty file, Kubo's defaults (dag-pb File node 0a04 0802 1800) and as a raw block.
        let v0 = Cid::of_block(0, DAG_PB, &hex::decode("0a0408021800").unwrap());
        assert_eq!(cid_to_string(&v0), "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH");
        let raw = Cid::of_block(1, RAW, b"");
        assert_eq!(cid_to_string(&raw), "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku");
        for c in [v0, raw] {
            assert_eq!(parse_cid(&cid_to_string(&c)), Some(c));
        }
        assert_eq!(parse_cid("bafkrei"), None);
        assert_eq!(parse_cid(""), None);
        assert_eq!(parse_cid("zdj7W"), None);
        assert_eq!(parse_cid("Qm0000000000000000000000000000000000000000000000"), None);
    }

    proptest::proptest! {
        #[test]
        fn strings_round_trip(digest in proptest::prelude::any::<[u8; 32]>(), raw in proptest::prelude::any::<bool>(), v0 in proptest::prelude::any::<bool>()) {
            let c = if v0 { Cid { version: 0, codec: DAG_PB, digest } } else { Cid { version: 1, codec: if raw { RAW } else { DAG_PB }, digest } };
            let s = cid_to_string(&c);
            proptest::prop_assert_eq!(parse_cid(&s), Some(c));
            proptest::prop_assert_eq!(Cid::from_bytes(&c.to_bytes()), Some(c));
        }

        #[test]
        fn parsing_garbage_never_panics(s in "\\PC{0,80}") {
            let _ = parse_cid(&s);
        }

        #[test]
        fn varints_round_trip(v in proptest::prelude::any::<u64>()) {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            let mut pos = 0;
            proptest::prop_assert_eq!(get_varint(&out, &mut pos), Some(v));
            proptest::prop_assert_eq!(pos, out.len());
        }
    }
}
