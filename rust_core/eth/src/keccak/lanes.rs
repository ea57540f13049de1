//! Many independent keccak-256 hashes at once: the batch entry points, written once over the
//! lane count `N` and run by whichever backend a [`Lanes`] holds (×8 AVX-512, ×4 AVX2, or the
//! one-lane functions of `mod.rs`). States are word-major (`state[w][l]` = word `w` of lane
//! `l`), so absorbing and squeezing are plain safe array code; only the permutation is SIMD.
//!
//! Every function here gives exactly the bytes of the one-lane `keccak256*` functions.

// `state[w][lane]` indexing by word and lane number is the point of this file.
#![allow(clippy::needless_range_loop)]

use super::dispatch::{Kernel, Lanes};
use super::{keccak256, keccak256_32, node_hash, Hash, RATE};

#[cfg(target_arch = "x86_64")]
use super::{avx2, avx512};

type State<const N: usize> = [[u64; N]; 25];

#[inline(always)]
fn word(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

#[inline(always)]
fn squeeze<const N: usize>(s: &State<N>, lane: usize) -> Hash {
    let mut out = [0u8; 32];
    for w in 0..4 {
        out[w * 8..w * 8 + 8].copy_from_slice(&s[w][lane].to_le_bytes());
    }
    out
}

/// Absorb the message bytes `rest` (under one block) plus padding into `lane`.
#[inline(always)]
fn absorb_last<const N: usize>(s: &mut State<N>, lane: usize, rest: &[u8]) {
    let full = rest.len() / 8;
    for w in 0..full {
        s[w][lane] ^= word(rest, 8 * w);
    }
    let tail = &rest[8 * full..];
    let mut t = [0u8; 8];
    t[..tail.len()].copy_from_slice(tail);
    t[tail.len()] = 0x01;
    s[full][lane] ^= u64::from_le_bytes(t);
    s[RATE / 8 - 1][lane] ^= 0x80u64 << 56;
}

fn many_n<const N: usize>(perm: &mut impl FnMut(&mut State<N>), inputs: &[&[u8]], out: &mut [Hash]) {
    for (ins, outs) in inputs.chunks(N).zip(out.chunks_mut(N)) {
        if ins.len() == 1 {
            outs[0] = keccak256(ins[0]);
            continue;
        }
        let mut s: State<N> = [[0u64; N]; 25];
        let mut blocks = [0usize; N];
        for (b, data) in blocks.iter_mut().zip(ins) {
            *b = data.len() / RATE + 1;
        }
        let last = blocks.iter().copied().max().unwrap_or(0);
        for b in 0..last {
            for (lane, data) in ins.iter().enumerate() {
                let start = b * RATE;
                if b + 1 < blocks[lane] {
                    for w in 0..RATE / 8 {
                        s[w][lane] ^= word(data, start + 8 * w);
                    }
                } else if b + 1 == blocks[lane] {
                    absorb_last(&mut s, lane, &data[start..]);
                }
            }
            perm(&mut s);
            for (lane, o) in outs.iter_mut().enumerate() {
                if blocks[lane] == b + 1 {
                    *o = squeeze(&s, lane);
                }
            }
        }
    }
}

fn many_32_n<const N: usize>(perm: &mut impl FnMut(&mut State<N>), inputs: &[Hash], out: &mut [Hash]) {
    for (ins, outs) in inputs.chunks(N).zip(out.chunks_mut(N)) {
        if ins.len() == 1 {
            outs[0] = keccak256_32(&ins[0]);
            continue;
        }
        let mut s: State<N> = [[0u64; N]; 25];
        for (lane, x) in ins.iter().enumerate() {
            for w in 0..4 {
                s[w][lane] = word(x, 8 * w);
            }
        }
        s[4] = [0x01; N];
        s[16] = [0x80u64 << 56; N];
        perm(&mut s);
        for (lane, o) in outs.iter_mut().enumerate() {
            *o = squeeze(&s, lane);
        }
    }
}

fn nodes_n<'a, const N: usize>(
    perm: &mut impl FnMut(&mut State<N>),
    pair: impl Fn(usize) -> (&'a Hash, &'a Hash),
    out: &mut [Hash],
) {
    for (c, outs) in out.chunks_mut(N).enumerate() {
        let base = c * N;
        if outs.len() == 1 {
            let (a, b) = pair(base);
            outs[0] = node_hash(a, b);
            continue;
        }
        let mut s: State<N> = [[0u64; N]; 25];
        for lane in 0..outs.len() {
            let (a, b) = pair(base + lane);
            let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
            for w in 0..4 {
                s[w][lane] = word(lo, 8 * w);
                s[4 + w][lane] = word(hi, 8 * w);
            }
        }
        s[8] = [0x01; N];
        s[16] = [0x80u64 << 56; N];
        perm(&mut s);
        for (lane, o) in outs.iter_mut().enumerate() {
            *o = squeeze(&s, lane);
        }
    }
}

/// Run `$f::<N>(&mut perm, args…)` with the kernel `$lanes` holds; `$scalar` for one lane.
macro_rules! by_kernel {
    ($lanes:expr, $scalar:expr, $f:ident($($arg:expr),*)) => {
        match $lanes.kernel {
            Kernel::Scalar => $scalar,
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2(cpu) => $f::<4>(&mut |s: &mut State<4>| avx2::f1600_x4(cpu, s), $($arg),*),
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512(cpu) => $f::<8>(&mut |s: &mut State<8>| avx512::f1600_x8(cpu, s), $($arg),*),
        }
    };
}

impl Lanes {
    /// Lanes per permutation call (8, 4 or 1).
    pub fn width(self) -> usize {
        self.backend().lanes()
    }

    /// `out[i] = keccak256(inputs[i])` for inputs of any lengths (lanes whose inputs need
    /// fewer blocks finish early; equal lengths use every lane throughout).
    pub fn many(self, inputs: &[&[u8]], out: &mut [Hash]) {
        assert_eq!(inputs.len(), out.len(), "keccak256_many: one output per input");
        by_kernel!(self, for (i, o) in inputs.iter().zip(out.iter_mut()) { *o = keccak256(i) }, many_n(inputs, out))
    }

    /// `out[i] = keccak256(inputs[i])` for 32-byte inputs (the second hash of a standard leaf).
    pub fn many_32(self, inputs: &[Hash], out: &mut [Hash]) {
        assert_eq!(inputs.len(), out.len(), "keccak256_many_32: one output per input");
        by_kernel!(self, for (i, o) in inputs.iter().zip(out.iter_mut()) { *o = keccak256_32(i) }, many_32_n(inputs, out))
    }

    /// `out[i] = keccak256(keccak256(inputs[i]))`: OpenZeppelin's standard leaf hash of ABI
    /// encodings, both hashes in lanes.
    pub fn double(self, inputs: &[&[u8]], out: &mut [Hash]) {
        self.many(inputs, out);
        // many_32 reads each chunk before writing it, so hashing in place is fine; a copy
        // of one chunk keeps the borrow checker simple and costs nothing measurable.
        for chunk in out.chunks_mut(1024) {
            let first: Vec<Hash> = chunk.to_vec();
            self.many_32(&first, chunk);
        }
    }

    /// `out[i] = node_hash(pair(i))` (OpenZeppelin's sorted-pair hash) for `i < out.len()`.
    pub fn nodes<'a>(self, pair: impl Fn(usize) -> (&'a Hash, &'a Hash), out: &mut [Hash]) {
        by_kernel!(
            self,
            for (i, o) in out.iter_mut().enumerate() {
                let (a, b) = pair(i);
                *o = node_hash(a, b)
            },
            nodes_n(pair, out)
        )
    }

    /// One tree level: `out[j] = node_hash(children[2j], children[2j+1])`.
    pub fn level(self, children: &[Hash], out: &mut [Hash]) {
        assert_eq!(children.len(), 2 * out.len(), "level: two children per node");
        self.nodes(|j| (&children[2 * j], &children[2 * j + 1]), out)
    }

    /// Run `n` Keccak-f[1600] permutations (in `n / width` calls): the benchmark's ceiling.
    /// Returns a word of the final state so the work cannot be optimised away.
    pub fn permute_n(self, n: u64) -> u64 {
        fn run<const N: usize>(perm: &mut impl FnMut(&mut State<N>), calls: u64) -> u64 {
            let mut s: State<N> = [[0u64; N]; 25];
            for i in 0..calls {
                s[0][0] ^= i;
                perm(&mut s);
            }
            s[0].iter().fold(0, |a, w| a ^ w)
        }
        let calls = n / self.width() as u64;
        by_kernel!(self, super::permute_n(n), run(calls))
    }
}

/// `keccak256` of eight inputs with the active backend (two ×4 calls on AVX2, eight one-lane
/// hashes without SIMD).
pub fn keccak256_x8(inputs: [&[u8]; 8]) -> [Hash; 8] {
    let mut out = [[0u8; 32]; 8];
    Lanes::active().many(&inputs, &mut out);
    out
}

/// `keccak256` of four inputs with the active backend.
pub fn keccak256_x4(inputs: [&[u8]; 4]) -> [Hash; 4] {
    let mut out = [[0u8; 32]; 4];
    Lanes::active().many(&inputs, &mut out);
    out
}

/// `out[i] = keccak256(inputs[i])`, active backend.
pub fn keccak256_many(inputs: &[&[u8]], out: &mut [Hash]) {
    Lanes::active().many(inputs, out)
}

/// `out[i] = keccak256(inputs[i])` for 32-byte inputs, active backend.
pub fn keccak256_many_32(inputs: &[Hash], out: &mut [Hash]) {
    Lanes::active().many_32(inputs, out)
}

/// `out[i] = node_hash(a[i], b[i])`, active backend.
pub fn node_hash_many(a: &[Hash], b: &[Hash], out: &mut [Hash]) {
    assert!(a.len() == out.len() && b.len() == out.len(), "node_hash_many: one output per pair");
    Lanes::active().nodes(|i| (&a[i], &b[i]), out)
}
