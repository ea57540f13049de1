//! Four Keccak-f[1600] states at once in AVX2 registers (one 64-bit lane of each `__m256i` per
//! state). Only [`f1600_x4`] is visible outside; it needs an [`Avx2`] token, which exists only
//! once the CPU has been seen to support AVX2, so calling it is always sound.

use std::arch::x86_64::*;

/// Four states, word-major: `state[w][l]` is word `w` of lane `l`'s state.
pub type State4 = [[u64; 4]; 25];

/// Proof that this CPU executes AVX2 instructions (see [`Avx2::detect`]).
#[derive(Clone, Copy, Debug)]
pub struct Avx2(());

impl Avx2 {
    /// The token if the running CPU supports AVX2 (`is_x86_feature_detected!` caches the
    /// CPUID answer, so this is cheap).
    pub fn detect() -> Option<Avx2> {
        if is_x86_feature_detected!("avx2") {
            Some(Avx2(()))
        } else {
            None
        }
    }
}

type V = __m256i;

#[inline]
#[target_feature(enable = "avx2")]
fn xor(a: V, b: V) -> V {
    _mm256_xor_si256(a, b)
}

#[inline]
#[target_feature(enable = "avx2")]
fn xor5(a: V, b: V, c: V, d: V, e: V) -> V {
    _mm256_xor_si256(_mm256_xor_si256(_mm256_xor_si256(a, b), _mm256_xor_si256(c, d)), e)
}

/// Rotate each 64-bit lane left by `N` (1..=63). The shift counts are constants, so the
/// variable-count shifts compile to immediate `vpsllq`/`vpsrlq`.
#[inline]
#[target_feature(enable = "avx2")]
fn rol<const N: i64>(a: V) -> V {
    _mm256_or_si256(_mm256_sllv_epi64(a, _mm256_set1_epi64x(N)), _mm256_srlv_epi64(a, _mm256_set1_epi64x(64 - N)))
}

/// χ for one lane: `a ^ (~b & c)`.
#[inline]
#[target_feature(enable = "avx2")]
fn chi(a: V, b: V, c: V) -> V {
    _mm256_xor_si256(a, _mm256_andnot_si256(b, c))
}

#[inline]
#[target_feature(enable = "avx2")]
fn splat(x: u64) -> V {
    _mm256_set1_epi64x(x as i64)
}

#[target_feature(enable = "avx2")]
fn permute(state: &mut State4) {
    let mut v = [_mm256_setzero_si256(); 25];
    for (r, w) in v.iter_mut().zip(state.iter()) {
        // SAFETY: `w` is a `[u64; 4]`, 32 readable bytes; `loadu` has no alignment requirement.
        *r = unsafe { _mm256_loadu_si256(w.as_ptr().cast()) };
    }
    keccak_f1600_lanes!(&mut v);
    for (r, w) in v.iter().zip(state.iter_mut()) {
        // SAFETY: `w` is a `[u64; 4]`, 32 writable bytes; `storeu` has no alignment requirement.
        unsafe { _mm256_storeu_si256(w.as_mut_ptr().cast(), *r) };
    }
}

/// Keccak-f[1600] on four independent states.
#[inline]
pub fn f1600_x4(_cpu: Avx2, state: &mut State4) {
    // SAFETY: `permute` only requires AVX2, and an `Avx2` token is only made by
    // `Avx2::detect` after the CPU reported AVX2 support.
    unsafe { permute(state) }
}
