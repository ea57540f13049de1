//! The Keccak-f[1600] round function written once for every lane width.
//!
//! `keccak_f1600_lanes!(state)` expands to the 24 rounds over a `&mut [V; 25]` of lane vectors,
//! calling `xor`, `xor5`, `rol::<N>`, `chi` and `splat` from the scope where it is expanded. Each
//! backend (`avx512.rs` ×8, `avx2.rs` ×4, the portable ×N used in tests) defines those five
//! operations for its vector type, so the permutation itself — θ, ρ, π, χ, ι, the rotation
//! offsets and the π lane order — exists exactly once and is checked by every backend's tests.

/// The 24 round constants of Keccak-f[1600] (ι).
pub(crate) const RC: [u64; 24] = [
    0x0000000000000001, 0x0000000000008082, 0x800000000000808a, 0x8000000080008000,
    0x000000000000808b, 0x0000000080000001, 0x8000000080008081, 0x8000000000008009,
    0x000000000000008a, 0x0000000000000088, 0x0000000080008009, 0x000000008000000a,
    0x000000008000808b, 0x800000000000008b, 0x8000000000008089, 0x8000000000008003,
    0x8000000000008002, 0x8000000000000080, 0x000000000000800a, 0x800000008000000a,
    0x8000000080008081, 0x8000000000008080, 0x0000000080000001, 0x8000000080008008,
];

/// Lane `x + 5y` is `a{x+5y}`; `b` holds the lanes after θ, ρ and π (`B[y, 2x+3y] =
/// rot(A[x, y] ^ D[x], r[x, y])`), and χ writes `A[x, y] = B[x, y] ^ (~B[x+1, y] & B[x+2, y])`.
macro_rules! keccak_f1600_lanes {
    ($state:expr) => {{
        let state = $state;
        let [mut a00, mut a01, mut a02, mut a03, mut a04, mut a05, mut a06, mut a07, mut a08, mut a09, mut a10, mut a11, mut a12, mut a13, mut a14, mut a15, mut a16, mut a17, mut a18, mut a19, mut a20, mut a21, mut a22, mut a23, mut a24] = *state;
        for &rc in $crate::keccak::rounds::RC.iter() {
            let c0 = xor5(a00, a05, a10, a15, a20);
            let c1 = xor5(a01, a06, a11, a16, a21);
            let c2 = xor5(a02, a07, a12, a17, a22);
            let c3 = xor5(a03, a08, a13, a18, a23);
            let c4 = xor5(a04, a09, a14, a19, a24);
            let d0 = xor(c4, rol::<1>(c1));
            let d1 = xor(c0, rol::<1>(c2));
            let d2 = xor(c1, rol::<1>(c3));
            let d3 = xor(c2, rol::<1>(c4));
            let d4 = xor(c3, rol::<1>(c0));
            let b00 = xor(a00, d0);
            let b10 = rol::<1>(xor(a01, d1));
            let b20 = rol::<62>(xor(a02, d2));
            let b05 = rol::<28>(xor(a03, d3));
            let b15 = rol::<27>(xor(a04, d4));
            let b16 = rol::<36>(xor(a05, d0));
            let b01 = rol::<44>(xor(a06, d1));
            let b11 = rol::<6>(xor(a07, d2));
            let b21 = rol::<55>(xor(a08, d3));
            let b06 = rol::<20>(xor(a09, d4));
            let b07 = rol::<3>(xor(a10, d0));
            let b17 = rol::<10>(xor(a11, d1));
            let b02 = rol::<43>(xor(a12, d2));
            let b12 = rol::<25>(xor(a13, d3));
            let b22 = rol::<39>(xor(a14, d4));
            let b23 = rol::<41>(xor(a15, d0));
            let b08 = rol::<45>(xor(a16, d1));
            let b18 = rol::<15>(xor(a17, d2));
            let b03 = rol::<21>(xor(a18, d3));
            let b13 = rol::<8>(xor(a19, d4));
            let b14 = rol::<18>(xor(a20, d0));
            let b24 = rol::<2>(xor(a21, d1));
            let b09 = rol::<61>(xor(a22, d2));
            let b19 = rol::<56>(xor(a23, d3));
            let b04 = rol::<14>(xor(a24, d4));
            a00 = chi(b00, b01, b02);
            a01 = chi(b01, b02, b03);
            a02 = chi(b02, b03, b04);
            a03 = chi(b03, b04, b00);
            a04 = chi(b04, b00, b01);
            a05 = chi(b05, b06, b07);
            a06 = chi(b06, b07, b08);
            a07 = chi(b07, b08, b09);
            a08 = chi(b08, b09, b05);
            a09 = chi(b09, b05, b06);
            a10 = chi(b10, b11, b12);
            a11 = chi(b11, b12, b13);
            a12 = chi(b12, b13, b14);
            a13 = chi(b13, b14, b10);
            a14 = chi(b14, b10, b11);
            a15 = chi(b15, b16, b17);
            a16 = chi(b16, b17, b18);
            a17 = chi(b17, b18, b19);
            a18 = chi(b18, b19, b15);
            a19 = chi(b19, b15, b16);
            a20 = chi(b20, b21, b22);
            a21 = chi(b21, b22, b23);
            a22 = chi(b22, b23, b24);
            a23 = chi(b23, b24, b20);
            a24 = chi(b24, b20, b21);
            a00 = xor(a00, splat(rc));
        }
        *state = [a00, a01, a02, a03, a04, a05, a06, a07, a08, a09, a10, a11, a12, a13, a14, a15, a16, a17, a18, a19, a20, a21, a22, a23, a24];
    }};
}
