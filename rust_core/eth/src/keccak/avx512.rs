//! Eight Keccak-f[1600] states at once in AVX-512 registers (one 64-bit lane of each `__m512i`
//! per state): `vpternlogq` computes θ's five-way parity in two instructions and χ in one,
//! `vprolq` the rotations, and all 25 lane vectors plus temporaries fit in the 32 zmm
//! registers. Only [`f1600_x8`] is visible outside; it needs an [`Avx512`] token, which exists
//! only once the CPU has been seen to support AVX-512F, so calling it is always sound.

use std::arch::x86_64::*;

/// Eight states, word-major: `state[w][l]` is word `w` of lane `l`'s state.
pub type State8 = [[u64; 8]; 25];

/// Proof that this CPU executes AVX-512F instructions (see [`Avx512::detect`]).
#[derive(Clone, Copy, Debug)]
pub struct Avx512(());

impl Avx512 {
    /// The token if the running CPU supports AVX-512F (everything used here: 512-bit
    /// `vpxorq`, `vpternlogq`, `vprolq`, loads and stores).
    pub fn detect() -> Option<Avx512> {
        if is_x86_feature_detected!("avx512f") {
            Some(Avx512(()))
        } else {
            None
        }
    }
}

type V = __m512i;

#[inline]
#[target_feature(enable = "avx512f")]
fn xor(a: V, b: V) -> V {
    _mm512_xor_si512(a, b)
}

/// a ^ b ^ c ^ d ^ e: two three-input XORs (`vpternlogq` truth table 0x96).
#[inline]
#[target_feature(enable = "avx512f")]
fn xor5(a: V, b: V, c: V, d: V, e: V) -> V {
    _mm512_ternarylogic_epi64::<0x96>(_mm512_ternarylogic_epi64::<0x96>(a, b, c), d, e)
}

#[inline]
#[target_feature(enable = "avx512f")]
fn rol<const N: i32>(a: V) -> V {
    _mm512_rol_epi64::<N>(a)
}

/// χ for one lane: `a ^ (~b & c)` in one `vpternlogq` (truth table 0xD2).
#[inline]
#[target_feature(enable = "avx512f")]
fn chi(a: V, b: V, c: V) -> V {
    _mm512_ternarylogic_epi64::<0xD2>(a, b, c)
}

#[inline]
#[target_feature(enable = "avx512f")]
fn splat(x: u64) -> V {
    _mm512_set1_epi64(x as i64)
}

#[target_feature(enable = "avx512f")]
fn permute(state: &mut State8) {
    let mut v = [_mm512_setzero_si512(); 25];
    for (r, w) in v.iter_mut().zip(state.iter()) {
        // SAFETY: `w` is a `[u64; 8]`, 64 readable bytes; `loadu` has no alignment requirement.
        *r = unsafe { _mm512_loadu_si512(w.as_ptr().cast()) };
    }
    keccak_f1600_lanes!(&mut v);
    for (r, w) in v.iter().zip(state.iter_mut()) {
        // SAFETY: `w` is a `[u64; 8]`, 64 writable bytes; `storeu` has no alignment requirement.
        unsafe { _mm512_storeu_si512(w.as_mut_ptr().cast(), *r) };
    }
}

/// Keccak-f[1600] on eight independent states.
#[inline]
pub fn f1600_x8(_cpu: Avx512, state: &mut State8) {
    // SAFETY: `permute` only requires AVX-512F, and an `Avx512` token is only made by
    // `Avx512::detect` after the CPU reported AVX-512F support.
    unsafe { permute(state) }
}
