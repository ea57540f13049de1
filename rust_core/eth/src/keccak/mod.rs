//! Keccak-256 (Ethereum's, i.e. the original Keccak padding 0x01, not SHA3-256's 0x06).
//!
//! This file is the one-lane path. Many independent hashes go through the multi-lane
//! backends instead (`lanes.rs`: `keccak256_many*`, `keccak256_x8`/`x4`, tree levels), which
//! run eight states per AVX-512 register set (`avx512.rs`), four per AVX2 set (`avx2.rs`) or
//! this file's functions, chosen at run time (`dispatch.rs`, `NFTREG_KECCAK`).

#[macro_use]
mod rounds;
#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
pub mod dispatch;
mod lanes;
#[cfg(test)]
mod tests_lanes;

pub use dispatch::{active_backend, default_backend, set_backend, Backend, Lanes, Unavailable};
pub use lanes::{keccak256_many, keccak256_many_32, keccak256_x4, keccak256_x8, node_hash_many};

/// A 32-byte hash value.
pub type Hash = [u8; 32];

pub(crate) const RATE: usize = 136;

#[inline]
fn absorb_block(state: &mut [u64; 25], block: &[u8]) {
    for (lane, chunk) in state.iter_mut().zip(block.chunks_exact(8)) {
        *lane ^= u64::from_le_bytes(chunk.try_into().unwrap());
    }
    keccak::f1600(state);
}

#[inline]
fn squeeze(state: &[u64; 25]) -> Hash {
    let mut out = [0u8; 32];
    for (i, lane) in state[..4].iter().enumerate() {
        out[i * 8..i * 8 + 8].copy_from_slice(&lane.to_le_bytes());
    }
    out
}

/// keccak256 of `data`.
pub fn keccak256(data: &[u8]) -> Hash {
    let mut state = [0u64; 25];
    let mut chunks = data.chunks_exact(RATE);
    for block in &mut chunks {
        absorb_block(&mut state, block);
    }
    let rest = chunks.remainder();
    let mut last = [0u8; RATE];
    last[..rest.len()].copy_from_slice(rest);
    last[rest.len()] ^= 0x01;
    last[RATE - 1] ^= 0x80;
    absorb_block(&mut state, &last);
    squeeze(&state)
}

/// keccak256 of a 32-byte input: one permutation, no buffer copies. This is the hot path for
/// the second leaf hash (`keccak256(keccak256(abi.encode(...)))`).
#[inline]
pub fn keccak256_32(data: &Hash) -> Hash {
    let mut state = [0u64; 25];
    for i in 0..4 {
        state[i] = u64::from_le_bytes(data[i * 8..i * 8 + 8].try_into().unwrap());
    }
    state[4] = 0x01;
    state[16] = 0x80u64 << 56;
    keccak::f1600(&mut state);
    squeeze(&state)
}

/// keccak256(a ‖ b) of two 32-byte inputs: one permutation.
#[inline]
pub fn keccak256_pair(a: &Hash, b: &Hash) -> Hash {
    let mut state = [0u64; 25];
    for i in 0..4 {
        state[i] = u64::from_le_bytes(a[i * 8..i * 8 + 8].try_into().unwrap());
        state[4 + i] = u64::from_le_bytes(b[i * 8..i * 8 + 8].try_into().unwrap());
    }
    state[8] = 0x01;
    state[16] = 0x80u64 << 56;
    keccak::f1600(&mut state);
    squeeze(&state)
}

/// OpenZeppelin's node hash: keccak256 of the sorted pair (`Hashes.commutativeKeccak256`).
#[inline]
pub fn node_hash(a: &Hash, b: &Hash) -> Hash {
    if a <= b {
        keccak256_pair(a, b)
    } else {
        keccak256_pair(b, a)
    }
}

/// Run the bare keccak-f[1600] permutation `n` times (the ceiling benchmarks compare to).
pub fn permute_n(n: u64) -> u64 {
    let mut state = [0u64; 25];
    for i in 0..n {
        state[0] ^= i;
        keccak::f1600(&mut state);
    }
    state[0]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> String {
        hex::encode(keccak256(s.as_bytes()))
    }

    #[test]
    fn known_vectors() {
        assert_eq!(h(""), "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470");
        assert_eq!(h("abc"), "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45");
        // transfer(address,uint256) selector source
        assert!(h("transfer(address,uint256)").starts_with("a9059cbb"));
    }

    #[test]
    fn block_boundaries_agree_with_specialised_paths() {
        for len in [0usize, 1, 31, 32, 33, 64, 135, 136, 137, 271, 272, 273, 1000] {
            let data: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
            let a = keccak256(&data);
            let mut state_based = [0u8; 32];
            state_based.copy_from_slice(&a);
            assert_eq!(a, state_based, "len {len}");
        }
        let x: Hash = core::array::from_fn(|i| i as u8);
        let y: Hash = core::array::from_fn(|i| 255 - i as u8);
        assert_eq!(keccak256_32(&x), keccak256(&x));
        let mut cat = x.to_vec();
        cat.extend_from_slice(&y);
        assert_eq!(keccak256_pair(&x, &y), keccak256(&cat));
        assert_eq!(node_hash(&x, &y), node_hash(&y, &x));
    }
}
