//! Every backend this CPU runs gives the one-lane bytes (`keccak256*` over `keccak::f1600`).
//! Backends the CPU lacks are reported by `backends_on_this_cpu`, never silently passed.

use super::*;
use proptest::prelude::*;

/// Deterministic test bytes (xorshift), so failures reproduce.
fn bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn hash32(seed: u64) -> Hash {
    bytes(seed, 32).try_into().unwrap()
}

#[test]
fn backends_on_this_cpu() {
    let all = Lanes::available();
    let names: Vec<&str> = all.iter().map(|l| l.backend().name()).collect();
    eprintln!("keccak backends on this CPU: {names:?}");
    assert_eq!(all.last().unwrap().backend(), Backend::Scalar);
    #[cfg(target_arch = "x86_64")]
    {
        assert_eq!(Backend::Avx2.is_available(), is_x86_feature_detected!("avx2"));
        assert_eq!(Backend::Avx512.is_available(), is_x86_feature_detected!("avx512f"));
    }
    for b in Backend::ALL {
        assert_eq!(Backend::parse(b.name()), Some(b));
        match b.lanes_handle() {
            Ok(l) => assert_eq!(l.width(), b.lanes()),
            Err(e) => {
                assert!(e.to_string().contains(b.name()) && e.to_string().contains("not available"), "{e}");
                assert_eq!(set_backend(b), Err(e));
            }
        }
    }
    assert_eq!(Backend::parse("avx1024"), None);
}

/// The shared round macro instantiated on plain `u64` lanes equals `keccak::f1600`: the
/// θ/ρ/π/χ/ι code every SIMD backend expands is checked even on CPUs without SIMD.
#[test]
fn round_macro_matches_reference_permutation() {
    fn xor(a: u64, b: u64) -> u64 {
        a ^ b
    }
    fn xor5(a: u64, b: u64, c: u64, d: u64, e: u64) -> u64 {
        a ^ b ^ c ^ d ^ e
    }
    fn rol<const N: u32>(a: u64) -> u64 {
        a.rotate_left(N)
    }
    fn chi(a: u64, b: u64, c: u64) -> u64 {
        a ^ (!b & c)
    }
    fn splat(x: u64) -> u64 {
        x
    }
    for seed in 0..64u64 {
        let b = bytes(seed, 200);
        let mut mine: [u64; 25] = core::array::from_fn(|i| u64::from_le_bytes(b[8 * i..8 * i + 8].try_into().unwrap()));
        let mut reference = mine;
        keccak_f1600_lanes!(&mut mine);
        keccak::f1600(&mut reference);
        assert_eq!(mine, reference, "seed {seed}");
    }
}

#[test]
fn every_length_0_to_300_and_block_boundaries() {
    let lens: Vec<usize> = (0..=300).chain([407, 408, 409, 543, 544, 545, 1000]).collect();
    for lanes in Lanes::available() {
        // Equal lengths in a batch (every lane busy throughout), a few batch sizes.
        for &len in &lens {
            for n in [2usize, 3, 8, 13] {
                let inputs: Vec<Vec<u8>> = (0..n).map(|i| bytes((len * 31 + i) as u64, len)).collect();
                let refs: Vec<&[u8]> = inputs.iter().map(|v| v.as_slice()).collect();
                let mut out = vec![[0u8; 32]; n];
                lanes.many(&refs, &mut out);
                for (i, o) in out.iter().enumerate() {
                    assert_eq!(*o, keccak256(&inputs[i]), "{} len {len} n {n} item {i}", lanes.backend());
                }
            }
        }
        // Mixed lengths around the 136-byte block boundary in one batch.
        let mixed: Vec<Vec<u8>> =
            [0usize, 135, 136, 137, 1, 271, 272, 273, 32, 64, 135, 136, 137, 300, 0].iter().enumerate().map(|(i, &l)| bytes(i as u64 + 7, l)).collect();
        let refs: Vec<&[u8]> = mixed.iter().map(|v| v.as_slice()).collect();
        let mut out = vec![[0u8; 32]; refs.len()];
        lanes.many(&refs, &mut out);
        for (i, o) in out.iter().enumerate() {
            assert_eq!(*o, keccak256(refs[i]), "{} mixed item {i} (len {})", lanes.backend(), refs[i].len());
        }
    }
}

#[test]
fn fixed_width_paths_match_one_lane() {
    for lanes in Lanes::available() {
        for n in [0usize, 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 100] {
            let xs: Vec<Hash> = (0..n).map(|i| hash32(i as u64)).collect();
            let ys: Vec<Hash> = (0..n).map(|i| hash32(1000 + i as u64)).collect();
            let mut out = vec![[0u8; 32]; n];
            lanes.many_32(&xs, &mut out);
            for i in 0..n {
                assert_eq!(out[i], keccak256_32(&xs[i]), "{} many_32 n {n} i {i}", lanes.backend());
            }
            lanes.nodes(|i| (&xs[i], &ys[i]), &mut out);
            for i in 0..n {
                assert_eq!(out[i], node_hash(&xs[i], &ys[i]), "{} nodes n {n} i {i}", lanes.backend());
            }
            // Equal children (the sort's tie) and both orders.
            lanes.nodes(|i| (&xs[i], &xs[i]), &mut out);
            for i in 0..n {
                assert_eq!(out[i], node_hash(&xs[i], &xs[i]));
            }
            let children: Vec<Hash> = xs.iter().zip(&ys).flat_map(|(a, b)| [*b, *a]).collect();
            lanes.level(&children, &mut out);
            for i in 0..n {
                assert_eq!(out[i], node_hash(&ys[i], &xs[i]), "{} level n {n} i {i}", lanes.backend());
            }
        }
        assert_ne!(lanes.permute_n(64), 0);
    }
}

#[test]
fn x8_x4_and_active_backend() {
    let data: Vec<Vec<u8>> = (0..8).map(|i| bytes(i, i as usize * 40)).collect();
    let r8 = keccak256_x8(core::array::from_fn(|i| data[i].as_slice()));
    let r4 = keccak256_x4(core::array::from_fn(|i| data[i].as_slice()));
    for i in 0..8 {
        assert_eq!(r8[i], keccak256(&data[i]));
    }
    assert_eq!(r4[..], r8[..4]);
    assert!(active_backend().is_available());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    #[test]
    fn random_batches_match_one_lane(items in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..20)) {
        let refs: Vec<&[u8]> = items.iter().map(|v| v.as_slice()).collect();
        let expect: Vec<Hash> = refs.iter().map(|r| keccak256(r)).collect();
        for lanes in Lanes::available() {
            let mut out = vec![[0u8; 32]; refs.len()];
            lanes.many(&refs, &mut out);
            prop_assert_eq!(&out, &expect, "backend {}", lanes.backend());
        }
    }

    #[test]
    fn random_pairs_match_one_lane(seeds in proptest::collection::vec(any::<u64>(), 0..40)) {
        let xs: Vec<Hash> = seeds.iter().map(|&s| hash32(s)).collect();
        let ys: Vec<Hash> = seeds.iter().map(|&s| hash32(s.rotate_left(7) ^ 1)).collect();
        for lanes in Lanes::available() {
            let mut a = vec![[0u8; 32]; xs.len()];
            let mut b = vec![[0u8; 32]; xs.len()];
            lanes.many_32(&xs, &mut a);
            lanes.nodes(|i| (&xs[i], &ys[i]), &mut b);
            for i in 0..xs.len() {
                prop_assert_eq!(a[i], keccak256_32(&xs[i]));
                prop_assert_eq!(b[i], node_hash(&ys[i], &xs[i]));
            }
        }
    }
}
