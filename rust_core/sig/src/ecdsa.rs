//! secp256k1 public-key recovery with Ethereum's acceptance rules.
//!
//! A signature is `r ‖ s ‖ v` (65 bytes). Accepted: `v` ∈ {0, 1, 27, 28}; `0 < r < n`;
//! `0 < s ≤ n/2` (low-s, EIP-2); a recovered key whose address is not zero. EIP-2098 compact
//! signatures (`r ‖ yParity·2^255 + s`, 64 bytes) are accepted only when the caller asks for
//! them: OpenZeppelin's `ECDSA.recover(bytes32, bytes)` rejects 64-byte input, and so do we by
//! default, so that the same bytes never mean different things to nftreg and to the chain.

use std::sync::OnceLock;

use nftreg_eth::keccak::{keccak256, Lanes};
use rayon::prelude::*;
use secp256k1::ecdsa::{RecoverableSignature, RecoveryId};
use secp256k1::{Message, Secp256k1, VerifyOnly};

/// secp256k1 group order n.
const N: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe, 0xba, 0xae, 0xdc, 0xe6,
    0xaf, 0x48, 0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36, 0x41, 0x41,
];
/// n / 2 (floor): the largest low-s value.
const HALF_N: [u8; 32] = [
    0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x5d, 0x57, 0x6e, 0x73,
    0x57, 0xa4, 0x50, 0x1d, 0xdf, 0xe9, 0x2f, 0x46, 0x68, 0x1b, 0x20, 0xa0,
];

/// A 20-byte Ethereum address.
pub type Address = [u8; 20];

fn ctx() -> &'static Secp256k1<VerifyOnly> {
    static CTX: OnceLock<Secp256k1<VerifyOnly>> = OnceLock::new();
    CTX.get_or_init(Secp256k1::verification_only)
}

/// Why a signature was refused (for diagnostics; batch APIs only report None/false).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reject {
    Length,
    V,
    RRange,
    SRange,
    HighS,
    Unrecoverable,
    ZeroAddress,
}

/// Split a 65-byte (or, if `allow_compact`, 64-byte EIP-2098) signature into (r‖s, recid).
pub fn normalize(sig: &[u8], allow_compact: bool) -> Result<([u8; 64], i32), Reject> {
    let mut rs = [0u8; 64];
    let recid = match sig.len() {
        65 => {
            rs.copy_from_slice(&sig[..64]);
            match sig[64] {
                0 | 27 => 0,
                1 | 28 => 1,
                _ => return Err(Reject::V),
            }
        }
        64 if allow_compact => {
            rs.copy_from_slice(sig);
            let parity = (rs[32] >> 7) as i32;
            rs[32] &= 0x7f;
            parity
        }
        _ => return Err(Reject::Length),
    };
    let (r, s) = (&rs[..32], &rs[32..]);
    if r.iter().all(|&b| b == 0) || r >= &N[..] {
        return Err(Reject::RRange);
    }
    if s.iter().all(|&b| b == 0) || s >= &N[..] {
        return Err(Reject::SRange);
    }
    if s > &HALF_N[..] {
        return Err(Reject::HighS);
    }
    Ok((rs, recid))
}

/// Recover the signer's address of a 32-byte digest, with Ethereum's rules.
pub fn recover(digest: &[u8; 32], sig: &[u8], allow_compact: bool) -> Result<Address, Reject> {
    let (rs, recid) = normalize(sig, allow_compact)?;
    let id = RecoveryId::try_from(recid).map_err(|_| Reject::V)?;
    let rsig = RecoverableSignature::from_compact(&rs, id).map_err(|_| Reject::Unrecoverable)?;
    let pk = ctx()
        .recover_ecdsa(&Message::from_digest(*digest), &rsig)
        .map_err(|_| Reject::Unrecoverable)?;
    let h = keccak256(&pk.serialize_uncompressed()[1..]);
    let mut addr = [0u8; 20];
    addr.copy_from_slice(&h[12..]);
    if addr == [0u8; 20] {
        return Err(Reject::ZeroAddress);
    }
    Ok(addr)
}

/// EIP-191 version 0x45 digest: keccak256("\x19Ethereum Signed Message:\n" ‖ len ‖ message).
pub fn personal_digest(message: &[u8]) -> [u8; 32] {
    let mut buf = Vec::with_capacity(message.len() + 32);
    buf.extend_from_slice(b"\x19Ethereum Signed Message:\n");
    buf.extend_from_slice(message.len().to_string().as_bytes());
    buf.extend_from_slice(message);
    keccak256(&buf)
}

/// [`personal_digest`] of many messages, hashed together in keccak lanes (same bytes).
pub fn personal_digests(lanes: Lanes, messages: &[&[u8]]) -> Vec<[u8; 32]> {
    let pre: Vec<Vec<u8>> = messages
        .iter()
        .map(|m| {
            let mut buf = Vec::with_capacity(m.len() + 32);
            buf.extend_from_slice(b"\x19Ethereum Signed Message:\n");
            buf.extend_from_slice(m.len().to_string().as_bytes());
            buf.extend_from_slice(m);
            buf
        })
        .collect();
    let refs: Vec<&[u8]> = pre.iter().map(|b| b.as_slice()).collect();
    let mut out = vec![[0u8; 32]; refs.len()];
    lanes.many(&refs, &mut out);
    out
}

/// Recover many (digest, signature) pairs in parallel; `None` for any invalid item.
pub fn recover_many(digests: &[[u8; 32]], sigs: &[&[u8]], allow_compact: bool) -> Vec<Option<Address>> {
    digests
        .par_iter()
        .zip(sigs.par_iter())
        .with_min_len(64)
        .map(|(d, s)| recover(d, s, allow_compact).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn personal_digests_match_one_lane_on_every_backend() {
        let msgs: Vec<Vec<u8>> = (0..300usize).map(|n| (0..n).map(|i| (i * 31 + n) as u8).collect()).collect();
        let refs: Vec<&[u8]> = msgs.iter().map(|m| m.as_slice()).collect();
        for lanes in Lanes::available() {
            let got = personal_digests(lanes, &refs);
            for (k, m) in refs.iter().enumerate() {
                assert_eq!(got[k], personal_digest(m), "{} length {k}", lanes.backend());
            }
        }
    }

    #[test]
    fn constants() {
        // HALF_N * 2 + 1 == N
        let mut twice = [0u8; 32];
        let mut carry = 1u16;
        for i in (0..32).rev() {
            let v = (HALF_N[i] as u16) * 2 + carry;
            twice[i] = v as u8;
            carry = v >> 8;
        }
        assert_eq!(twice, N);
    }

    #[test]
    fn rejects_bad_shapes() {
        let d = [7u8; 32];
        assert_eq!(recover(&d, &[0u8; 65], false), Err(Reject::RRange));
        let mut s = [1u8; 65];
        s[64] = 29;
        assert_eq!(recover(&d, &s, false), Err(Reject::V));
        assert_eq!(recover(&d, &[1u8; 64], false), Err(Reject::Length));
        let mut hi = [1u8; 65];
        hi[32] = 0x80;
        hi[64] = 27;
        assert_eq!(recover(&d, &hi, false), Err(Reject::HighS));
    }
}
