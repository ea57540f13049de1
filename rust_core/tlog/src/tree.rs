//! The Merkle tree of RFC 6962 section 2.1 kept as every complete subtree hash, level by level,
//! so a root, an inclusion proof or a consistency proof for any size up to the current one is
//! O(log n) lookups; and the verifiers of RFC 9162 sections 2.1.3.2 and 2.1.4.2.

use crate::hash::{leaf_hash, node_hash, Hash, EMPTY_ROOT};
use crate::{invalid, Result};

/// Complete-subtree hashes: `levels[l][i]` = MTH(D[i * 2^l .. (i + 1) * 2^l]). About 64 bytes
/// per entry in all.
#[derive(Debug, Clone, Default)]
pub struct Tree {
    levels: Vec<Vec<Hash>>,
}

/// Largest power of two strictly below `n` (n >= 2).
fn split_point(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1u64 << (63 - (n - 1).leading_zeros())
}

impl Tree {
    pub fn new() -> Self {
        Tree { levels: vec![Vec::new()] }
    }

    /// Number of entries.
    pub fn size(&self) -> u64 {
        self.levels[0].len() as u64
    }

    /// Append one leaf hash; completes every subtree it closes.
    pub fn push_leaf_hash(&mut self, h: Hash) {
        self.levels[0].push(h);
        let mut l = 0;
        while self.levels[l].len() & 1 == 0 {
            let n = self.levels[l].len();
            let parent = node_hash(&self.levels[l][n - 2], &self.levels[l][n - 1]);
            if self.levels.len() == l + 1 {
                self.levels.push(Vec::new());
            }
            self.levels[l + 1].push(parent);
            l += 1;
        }
    }

    /// Append entries (hashed as leaves); returns the index of the first.
    pub fn append_entries<E: AsRef<[u8]>>(&mut self, entries: &[E]) -> u64 {
        let first = self.size();
        for e in entries {
            self.push_leaf_hash(leaf_hash(e.as_ref()));
        }
        first
    }

    /// Drop everything past `size` entries (undo an append whose write failed).
    pub fn truncate(&mut self, size: u64) {
        for (l, level) in self.levels.iter_mut().enumerate() {
            level.truncate((size >> l) as usize);
        }
        while self.levels.len() > 1 && self.levels.last().is_some_and(Vec::is_empty) {
            self.levels.pop();
        }
    }

    /// The hash of a complete subtree: MTH(D[index * 2^level .. (index + 1) * 2^level]).
    pub fn subtree(&self, level: u32, index: u64) -> Option<&Hash> {
        self.levels.get(level as usize)?.get(index as usize)
    }

    /// Leaf hashes `level` 0, or complete-subtree hashes at `level`, from `start` (at most
    /// `count` of them): the content of a tile.
    pub fn hashes(&self, level: u32, start: u64, count: u64) -> Option<&[Hash]> {
        let v = self.levels.get(level as usize)?;
        let (s, e) = (start as usize, (start + count) as usize);
        v.get(s..e)
    }

    /// MTH(D[lo..hi]); every range the RFC recursions ask for starts at a multiple of its
    /// largest power-of-two part, so each step is a lookup.
    fn mth(&self, lo: u64, hi: u64) -> Hash {
        let n = hi - lo;
        if n == 0 {
            return EMPTY_ROOT;
        }
        if n.is_power_of_two() && lo & (n - 1) == 0 {
            let l = n.trailing_zeros();
            return self.levels[l as usize][(lo >> l) as usize];
        }
        let k = split_point(n);
        node_hash(&self.mth(lo, lo + k), &self.mth(lo + k, hi))
    }

    fn check_size(&self, size: u64) -> Result<()> {
        if size > self.size() {
            return invalid(format!("tree size {size} is larger than the log ({} entries)", self.size()));
        }
        Ok(())
    }

    /// Root hash of the tree of the first `size` entries.
    pub fn root(&self, size: u64) -> Result<Hash> {
        self.check_size(size)?;
        Ok(self.mth(0, size))
    }

    /// RFC 6962 audit path of entry `index` in the tree of `size` entries, leaf side first.
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>> {
        self.check_size(size)?;
        if index >= size {
            return invalid(format!("index {index} is not below tree size {size}"));
        }
        let mut out = Vec::with_capacity(64);
        let (mut m, mut lo, mut hi) = (index, 0u64, size);
        // Walk down from the root, collecting siblings; they come out root side first.
        while hi - lo > 1 {
            let k = split_point(hi - lo);
            if m < k {
                out.push(self.mth(lo + k, hi));
                hi = lo + k;
            } else {
                out.push(self.mth(lo, lo + k));
                lo += k;
                m -= k;
            }
        }
        out.reverse();
        Ok(out)
    }

    /// RFC 6962 consistency proof from the tree of `old` entries to the tree of `new`.
    pub fn consistency_proof(&self, old: u64, new: u64) -> Result<Vec<Hash>> {
        self.check_size(new)?;
        if old > new {
            return invalid(format!("old size {old} is larger than new size {new}"));
        }
        if old == 0 || old == new {
            return Ok(Vec::new());
        }
        let mut out = Vec::with_capacity(64);
        let (mut m, mut lo, hi) = (old, 0u64, new);
        let mut hi = hi;
        let mut complete = true;
        loop {
            let n = hi - lo;
            if m == n {
                if !complete {
                    out.push(self.mth(lo, hi));
                }
                break;
            }
            let k = split_point(n);
            if m <= k {
                out.push(self.mth(lo + k, hi));
                hi = lo + k;
            } else {
                out.push(self.mth(lo, lo + k));
                lo += k;
                m -= k;
                complete = false;
            }
        }
        out.reverse();
        Ok(out)
    }
}

fn shift_until_odd_or_zero(f: &mut u64, s: &mut u64) {
    while *f & 1 == 0 && *f != 0 {
        *f >>= 1;
        *s >>= 1;
    }
}

/// RFC 9162 section 2.1.3.2: does `proof` show the leaf hash `leaf` at `index` in the tree of
/// `size` entries with root `root`?
pub fn verify_inclusion(leaf: &Hash, index: u64, size: u64, proof: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if s == 0 {
            return false;
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            shift_until_odd_or_zero(&mut f, &mut s);
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    s == 0 && r == *root
}

/// RFC 9162 section 2.1.4.2: does `proof` show that the tree of `old` entries with root
/// `old_root` is a prefix of the tree of `new` entries with root `new_root`?
pub fn verify_consistency(old: u64, new: u64, old_root: &Hash, new_root: &Hash, proof: &[Hash]) -> bool {
    if old > new {
        return false;
    }
    if old == new {
        return proof.is_empty() && old_root == new_root;
    }
    if old == 0 {
        // Every tree extends the empty one; its root is fixed.
        return proof.is_empty() && *old_root == EMPTY_ROOT;
    }
    if proof.is_empty() {
        return false;
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if old.is_power_of_two() {
        path.push(*old_root);
    }
    path.extend_from_slice(proof);
    let (mut f, mut s) = (old - 1, new - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let (mut fr, mut sr) = (path[0], path[0]);
    for c in &path[1..] {
        if s == 0 {
            return false;
        }
        if f & 1 == 1 || f == s {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            shift_until_odd_or_zero(&mut f, &mut s);
        } else {
            sr = node_hash(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    fr == *old_root && sr == *new_root && s == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn reference_mth(leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => EMPTY_ROOT,
            1 => leaves[0],
            n => {
                let k = split_point(n as u64) as usize;
                node_hash(&reference_mth(&leaves[..k]), &reference_mth(&leaves[k..]))
            }
        }
    }

    fn tree_of(n: u64) -> (Tree, Vec<Hash>) {
        let entries: Vec<Vec<u8>> = (0..n).map(|i| format!("entry {i}").into_bytes()).collect();
        let mut t = Tree::new();
        t.append_entries(&entries);
        (t, entries.iter().map(|e| leaf_hash(e)).collect())
    }

    fn hex(h: &Hash) -> String {
        h.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn roots_match_the_recursive_definition_for_every_prefix() {
        let (t, leaves) = tree_of(300);
        for n in 0..=300u64 {
            assert_eq!(t.root(n).unwrap(), reference_mth(&leaves[..n as usize]), "size {n}");
        }
        assert!(t.root(301).is_err());
    }

    // RFC 6962 test vectors as used by Certificate Transparency implementations: the 8
    // leaves "", 0x00, 0x10, 0x2021, 0x3031, 0x40414243, 0x5051525354555657,
    // 0x606162636465666768696a6b6c6d6e6f.
    fn rfc_tree() -> Tree {
        let leaves: Vec<Vec<u8>> = vec![
            vec![],
            vec![0x00],
            vec![0x10],
            vec![0x20, 0x21],
            vec![0x30, 0x31],
            vec![0x40, 0x41, 0x42, 0x43],
            vec![0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57],
            (0x60..=0x6f).collect(),
        ];
        let mut t = Tree::new();
        t.append_entries(&leaves);
        t
    }

    #[test]
    fn rfc6962_known_roots() {
        let t = rfc_tree();
        let want = [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
            "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
            "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
            "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
        ];
        for (i, w) in want.iter().enumerate() {
            assert_eq!(hex(&t.root(i as u64 + 1).unwrap()), *w, "size {}", i + 1);
        }
    }

    #[test]
    fn rfc6962_known_paths() {
        let t = rfc_tree();
        let p = t.inclusion_proof(0, 8).unwrap();
        let got: Vec<String> = p.iter().map(hex).collect();
        assert_eq!(
            got,
            [
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ]
        );
        let c = t.consistency_proof(6, 8).unwrap();
        let got: Vec<String> = c.iter().map(hex).collect();
        assert_eq!(
            got,
            [
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ]
        );
        let c = t.consistency_proof(4, 8).unwrap();
        assert_eq!(c.len(), 1);
        assert_eq!(hex(&c[0]), "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4");
    }

    #[test]
    fn every_proof_of_small_trees_verifies_and_tampering_fails() {
        let (t, leaves) = tree_of(70);
        for size in 1..=70u64 {
            let root = t.root(size).unwrap();
            for i in 0..size {
                let p = t.inclusion_proof(i, size).unwrap();
                assert!(verify_inclusion(&leaves[i as usize], i, size, &p, &root), "{i}/{size}");
                let mut bad = p.clone();
                if let Some(h) = bad.first_mut() {
                    h[0] ^= 1;
                    assert!(!verify_inclusion(&leaves[i as usize], i, size, &bad, &root));
                }
                assert!(!verify_inclusion(&leaves[i as usize], i, size, &p, &t.root(size - 1).unwrap()));
                assert!(!verify_inclusion(&leaves[i as usize], size, size, &p, &root));
            }
            for old in 0..=size {
                let p = t.consistency_proof(old, size).unwrap();
                let or = t.root(old).unwrap();
                assert!(verify_consistency(old, size, &or, &root, &p), "{old}->{size}");
                if !p.is_empty() {
                    let mut bad = p.clone();
                    bad.last_mut().unwrap()[5] ^= 0x80;
                    assert!(!verify_consistency(old, size, &or, &root, &bad));
                    assert!(!verify_consistency(old, size, &or, &root, &p[..p.len() - 1]));
                }
                if old > 0 && old < size {
                    let wrong = t.root(old - 1).unwrap();
                    assert!(!verify_consistency(old, size, &wrong, &root, &p));
                }
            }
        }
    }

    #[test]
    fn truncate_restores_earlier_state() {
        let (mut t, _) = tree_of(1000);
        let r600 = t.root(600).unwrap();
        t.truncate(600);
        assert_eq!(t.size(), 600);
        assert_eq!(t.root(600).unwrap(), r600);
        let (fresh, _) = tree_of(600);
        assert_eq!(t.levels.len(), fresh.levels.len());
        for (a, b) in t.levels.iter().zip(&fresh.levels) {
            assert_eq!(a, b);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn proofs_verify_for_random_sizes(size in 1u64..5000, i_frac in 0.0f64..1.0, o_frac in 0.0f64..1.0) {
            let (t, leaves) = tree_of(size);
            let i = ((size as f64) * i_frac) as u64 % size;
            let root = t.root(size).unwrap();
            let p = t.inclusion_proof(i, size).unwrap();
            prop_assert!(verify_inclusion(&leaves[i as usize], i, size, &p, &root));
            let old = ((size as f64) * o_frac) as u64;
            let c = t.consistency_proof(old, size).unwrap();
            prop_assert!(verify_consistency(old, size, &t.root(old).unwrap(), &root, &c));
            prop_assert_eq!(root, reference_mth(&leaves));
        }
    }
}
