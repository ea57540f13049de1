//! Merkle trees in `@openzeppelin/merkle-tree`'s array layout: a complete binary tree of
//! `2n - 1` nodes stored heap-style (children of `i` at `2i+1`, `2i+2`), leaf `k` of the
//! (possibly sorted) leaf list at `len - 1 - k`, internal nodes hashed as sorted pairs.
//! Everything here matches that library's `core.ts` and OpenZeppelin's `MerkleProof.sol`.

use rayon::prelude::*;

use crate::error::{invalid, Result};
use crate::hash::{node_hash, Hash};

/// Below this many nodes a level is hashed on the calling thread.
const PAR_MIN: usize = 1 << 12;

#[inline]
fn left(i: usize) -> usize {
    2 * i + 1
}
#[inline]
fn parent(i: usize) -> usize {
    (i - 1) / 2
}
#[inline]
fn sibling(i: usize) -> usize {
    if i % 2 == 1 {
        i + 1
    } else {
        i - 1
    }
}

/// True if `i` is a leaf position of a tree with `len` nodes.
pub fn is_leaf(len: usize, i: usize) -> bool {
    i < len && left(i) >= len
}

/// Build the node array from leaf hashes (in leaf order). Levels are hashed in parallel.
pub fn make_tree(leaves: &[Hash]) -> Result<Vec<Hash>> {
    if leaves.is_empty() {
        return invalid("expected a non-zero number of leaves");
    }
    let n = leaves.len();
    let len = 2 * n - 1;
    let mut tree = vec![[0u8; 32]; len];
    for (k, leaf) in leaves.iter().enumerate() {
        tree[len - 1 - k] = *leaf;
    }
    // Internal nodes are 0..n-1. Nodes of heap level d are [2^d - 1, 2^(d+1) - 1); each depends
    // only on nodes with larger indices, so hash level by level from the bottom.
    let internal = n - 1;
    let mut level_start = if internal == 0 { 0 } else { (internal + 1).next_power_of_two() / 2 - 1 };
    loop {
        let level_end = (2 * level_start + 1).min(internal); // exclusive
        if level_start < level_end {
            let (upper, lower) = tree.split_at_mut(level_end);
            let level = &mut upper[level_start..];
            let child_base = 2 * level_start + 1;
            let compute = |(j, node): (usize, &mut Hash)| {
                let l = child_base + 2 * j - level_end;
                *node = node_hash(&lower[l], &lower[l + 1]);
            };
            if level.len() >= PAR_MIN {
                level.par_iter_mut().enumerate().for_each(compute);
            } else {
                level.iter_mut().enumerate().for_each(compute);
            }
        }
        if level_start == 0 {
            break;
        }
        level_start = (level_start - 1) / 2;
    }
    Ok(tree)
}

/// Sibling path from leaf position `index` up to (not including) the root.
pub fn get_proof(tree: &[Hash], index: usize) -> Result<Vec<Hash>> {
    if !is_leaf(tree.len(), index) {
        return invalid(format!("index {index} is not a leaf of the tree"));
    }
    let mut proof = Vec::with_capacity(64 - (tree.len() as u64).leading_zeros() as usize);
    let mut i = index;
    while i > 0 {
        proof.push(tree[sibling(i)]);
        i = parent(i);
    }
    Ok(proof)
}

/// Number of proof elements for leaf position `index` (its depth).
pub fn proof_len(index: usize) -> usize {
    (usize::BITS - (index + 1).leading_zeros() - 1) as usize
}

/// Write the proof of every leaf position in `positions` into one flat buffer, in parallel.
/// Returns the buffer and `positions.len() + 1` offsets (in hashes).
pub fn all_proofs(tree: &[Hash], positions: &[usize]) -> Result<(Vec<Hash>, Vec<usize>)> {
    let mut offsets = Vec::with_capacity(positions.len() + 1);
    let mut total = 0usize;
    offsets.push(0);
    for &p in positions {
        if !is_leaf(tree.len(), p) {
            return invalid(format!("index {p} is not a leaf of the tree"));
        }
        total += proof_len(p);
        offsets.push(total);
    }
    let mut out = vec![[0u8; 32]; total];
    // Split the output into per-leaf slices and fill them in parallel.
    let mut slices: Vec<&mut [Hash]> = Vec::with_capacity(positions.len());
    let mut rest: &mut [Hash] = &mut out;
    for w in offsets.windows(2) {
        let (head, tail) = rest.split_at_mut(w[1] - w[0]);
        slices.push(head);
        rest = tail;
    }
    slices.into_par_iter().zip(positions.par_iter()).with_min_len(1024).for_each(|(slot, &p)| {
        let mut i = p;
        for s in slot.iter_mut() {
            *s = tree[sibling(i)];
            i = parent(i);
        }
    });
    Ok((out, offsets))
}

/// Fold a proof onto a leaf hash (OpenZeppelin `MerkleProof.processProof`).
pub fn process_proof(leaf: &Hash, proof: &[Hash]) -> Hash {
    proof.iter().fold(*leaf, |acc, p| node_hash(&acc, p))
}

/// A multiproof: leaves (as tree positions or hashes), sibling hashes and flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MultiProof<L> {
    pub leaves: Vec<L>,
    pub proof: Vec<Hash>,
    pub proof_flags: Vec<bool>,
}

/// Multiproof for leaf positions `indices` (the npm library's `getMultiProof`): leaves come
/// back sorted by descending tree position. Duplicate or non-leaf indices are rejected.
pub fn get_multiproof(tree: &[Hash], indices: &[usize]) -> Result<MultiProof<usize>> {
    for &i in indices {
        if !is_leaf(tree.len(), i) {
            return invalid(format!("index {i} is not a leaf of the tree"));
        }
    }
    let mut sorted = indices.to_vec();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    if sorted.windows(2).any(|w| w[0] == w[1]) {
        return invalid("cannot prove a duplicated index");
    }
    let mut queue: std::collections::VecDeque<usize> = sorted.iter().copied().collect();
    let mut proof = Vec::new();
    let mut flags = Vec::new();
    while let Some(&j) = queue.front() {
        if j == 0 {
            break;
        }
        queue.pop_front();
        let s = sibling(j);
        let p = parent(j);
        if queue.front() == Some(&s) {
            flags.push(true);
            queue.pop_front();
        } else {
            flags.push(false);
            proof.push(tree[s]);
        }
        queue.push_back(p);
    }
    if sorted.is_empty() {
        proof.push(tree[0]);
    }
    Ok(MultiProof { leaves: sorted, proof, proof_flags: flags })
}

/// Recompute the root from a multiproof, exactly as `MerkleProof.processMultiProof` does
/// (including its length checks); malformed input is an error, never a forged root.
pub fn process_multiproof(leaves: &[Hash], proof: &[Hash], flags: &[bool]) -> Result<Hash> {
    let needed_from_proof = flags.iter().filter(|f| !**f).count();
    if proof.len() < needed_from_proof {
        return invalid("invalid multiproof format: fewer proof hashes than unset flags");
    }
    if leaves.len() + proof.len() != flags.len() + 1 {
        return invalid("leaves and multiproof are not compatible: leaves + proof must equal flags + 1");
    }
    let total = flags.len();
    let mut hashes: Vec<Hash> = Vec::with_capacity(total);
    let (mut leaf_pos, mut hash_pos, mut proof_pos) = (0usize, 0usize, 0usize);
    let next = |hashes: &Vec<Hash>, leaf_pos: &mut usize, hash_pos: &mut usize| -> Result<Hash> {
        if *leaf_pos < leaves.len() {
            *leaf_pos += 1;
            Ok(leaves[*leaf_pos - 1])
        } else if *hash_pos < hashes.len() {
            *hash_pos += 1;
            Ok(hashes[*hash_pos - 1])
        } else {
            invalid("invalid multiproof: flags consume more nodes than available")
        }
    };
    for &flag in flags {
        let a = next(&hashes, &mut leaf_pos, &mut hash_pos)?;
        let b = if flag {
            next(&hashes, &mut leaf_pos, &mut hash_pos)?
        } else {
            proof_pos += 1;
            proof[proof_pos - 1]
        };
        hashes.push(node_hash(&a, &b));
    }
    if total > 0 {
        if proof_pos != proof.len() {
            return invalid("invalid multiproof: unused proof hashes");
        }
        Ok(hashes[total - 1])
    } else if !leaves.is_empty() {
        Ok(leaves[0])
    } else {
        Ok(proof[0])
    }
}

/// Check every internal node against its children (and the shape of the array).
pub fn is_valid_tree(tree: &[Hash]) -> bool {
    if tree.is_empty() || tree.len().is_multiple_of(2) {
        return false;
    }
    let internal = tree.len() / 2;
    (0..internal).into_par_iter().with_min_len(PAR_MIN).all(|i| tree[i] == node_hash(&tree[left(i)], &tree[left(i) + 1]))
}

/// ASCII rendering identical to the npm library's `renderMerkleTree`.
pub fn render(tree: &[Hash]) -> Result<String> {
    if tree.is_empty() {
        return invalid("expected a non-zero number of nodes");
    }
    let mut out = String::new();
    let mut stack: Vec<(usize, Vec<u8>)> = vec![(0, vec![])];
    while let Some((i, path)) = stack.pop() {
        if !out.is_empty() {
            out.push('\n');
        }
        if let Some((last, init)) = path.split_last() {
            for p in init {
                out.push_str(if *p == 1 { "│  " } else { "   " });
            }
            out.push_str(if *last == 1 { "├─ " } else { "└─ " });
        }
        out.push_str(&format!("{i}) 0x{}", hex::encode(tree[i])));
        if left(i) + 1 < tree.len() {
            let mut r = path.clone();
            r.push(0);
            stack.push((left(i) + 1, r));
            let mut l = path;
            l.push(1);
            stack.push((left(i), l));
        }
    }
    Ok(out)
}

/// Sort leaf hashes ascending (the npm library's default `sortLeaves: true`), returning the
/// permutation: `order[k]` = original index of the k-th smallest leaf. Ties keep their original
/// order, as JavaScript's stable sort does (the index is the tie-breaker).
pub fn sort_order(hashes: &[Hash]) -> Vec<u32> {
    // Sorting (hash, index) pairs in place is far faster than an indirect sort through the
    // index array (no random access into `hashes` on every comparison).
    let mut pairs: Vec<(Hash, u32)> = hashes.par_iter().enumerate().map(|(i, h)| (*h, i as u32)).collect();
    pairs.par_sort_unstable();
    pairs.into_iter().map(|(_, i)| i).collect()
}

/// A built tree plus, per value, its tree position: the state behind both tree kinds.
#[derive(Debug, Clone)]
pub struct IndexedTree {
    pub tree: Vec<Hash>,
    /// `positions[v]` = tree index of value `v`.
    pub positions: Vec<usize>,
}

impl IndexedTree {
    /// Build from per-value leaf hashes, optionally sorting leaves (npm `prepare`).
    pub fn build(leaf_hashes: &[Hash], sort_leaves: bool) -> Result<IndexedTree> {
        let n = leaf_hashes.len();
        if n == 0 {
            return invalid("expected a non-zero number of leaves");
        }
        let len = 2 * n - 1;
        let mut positions = vec![0usize; n];
        let tree = if sort_leaves {
            let order = sort_order(leaf_hashes);
            let sorted: Vec<Hash> = order.par_iter().map(|&v| leaf_hashes[v as usize]).collect();
            for (k, &v) in order.iter().enumerate() {
                positions[v as usize] = len - 1 - k;
            }
            drop(order);
            make_tree(&sorted)?
        } else {
            for (k, p) in positions.iter_mut().enumerate() {
                *p = len - 1 - k;
            }
            make_tree(leaf_hashes)?
        };
        Ok(IndexedTree { tree, positions })
    }

    /// Rebuild from a dump's node array and per-value positions, checking the structure
    /// (not the values: the caller rehashes them).
    pub fn from_parts(tree: Vec<Hash>, positions: Vec<usize>) -> Result<IndexedTree> {
        if tree.is_empty() {
            return invalid("tree has no nodes");
        }
        for (v, &p) in positions.iter().enumerate() {
            if !is_leaf(tree.len(), p) {
                return invalid(format!("values[{v}].treeIndex {p} is not a leaf position"));
            }
        }
        if !is_valid_tree(&tree) {
            return invalid("Merkle tree is invalid: a node differs from the hash of its children");
        }
        Ok(IndexedTree { tree, positions })
    }

    pub fn root(&self) -> Hash {
        self.tree[0]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::keccak256;
    use proptest::prelude::*;

    fn leaves(n: usize) -> Vec<Hash> {
        (0..n).map(|i| keccak256(&(i as u64).to_be_bytes())).collect()
    }

    fn naive_tree(leaves: &[Hash]) -> Vec<Hash> {
        let len = 2 * leaves.len() - 1;
        let mut t = vec![[0u8; 32]; len];
        for (k, l) in leaves.iter().enumerate() {
            t[len - 1 - k] = *l;
        }
        for i in (0..len - leaves.len()).rev() {
            t[i] = node_hash(&t[2 * i + 1], &t[2 * i + 2]);
        }
        t
    }

    #[test]
    fn parallel_levels_match_naive_order() {
        for n in [1usize, 2, 3, 4, 5, 7, 8, 9, 100, 4095, 4096, 4097, 10_000, 70_001] {
            let l = leaves(n);
            assert_eq!(make_tree(&l).unwrap(), naive_tree(&l), "n = {n}");
        }
    }

    #[test]
    fn empty_is_rejected() {
        assert!(make_tree(&[]).is_err());
        assert!(IndexedTree::build(&[], true).is_err());
    }

    #[test]
    fn all_proofs_match_single_proofs() {
        let t = make_tree(&leaves(1000)).unwrap();
        let positions: Vec<usize> = (999..t.len()).collect();
        let (flat, offs) = all_proofs(&t, &positions).unwrap();
        for (k, &p) in positions.iter().enumerate() {
            assert_eq!(&flat[offs[k]..offs[k + 1]], get_proof(&t, p).unwrap().as_slice());
            assert_eq!(process_proof(&t[p], &flat[offs[k]..offs[k + 1]]), t[0]);
        }
    }

    #[test]
    fn multiproof_rejects_duplicates_and_internal_nodes() {
        let t = make_tree(&leaves(8)).unwrap();
        assert!(get_multiproof(&t, &[7, 7]).is_err());
        assert!(get_multiproof(&t, &[3]).is_err());
        assert!(get_multiproof(&t, &[15]).is_err());
        let mp = get_multiproof(&t, &[]).unwrap();
        assert_eq!(mp.proof, vec![t[0]]);
        assert_eq!(process_multiproof(&[], &mp.proof, &mp.proof_flags).unwrap(), t[0]);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn proofs_verify_and_do_not_transfer(n in 1usize..300, a in 0usize..300, b in 0usize..300) {
            let l = leaves(n);
            let t = make_tree(&l).unwrap();
            let (ia, ib) = (t.len() - 1 - a % n, t.len() - 1 - b % n);
            let pa = get_proof(&t, ia).unwrap();
            prop_assert_eq!(process_proof(&t[ia], &pa), t[0]);
            if t[ia] != t[ib] {
                prop_assert_ne!(process_proof(&t[ib], &pa), t[0]);
            }
        }

        #[test]
        fn multiproofs_verify(n in 1usize..200, picks in proptest::collection::btree_set(0usize..200, 0..20)) {
            let t = make_tree(&leaves(n)).unwrap();
            let idx: Vec<usize> = picks.into_iter().filter(|p| *p < n).map(|p| t.len() - 1 - p).collect();
            let mp = get_multiproof(&t, &idx).unwrap();
            let lh: Vec<Hash> = mp.leaves.iter().map(|&i| t[i]).collect();
            prop_assert_eq!(process_multiproof(&lh, &mp.proof, &mp.proof_flags).unwrap(), t[0]);
            // flipping any flag or dropping a proof element never yields the root
            for k in 0..mp.proof_flags.len() {
                let mut f = mp.proof_flags.clone();
                f[k] = !f[k];
                if let Ok(r) = process_multiproof(&lh, &mp.proof, &f) { prop_assert_ne!(r, t[0]); }
            }
            if !mp.proof.is_empty() && !lh.is_empty() {
                let p = &mp.proof[1..];
                prop_assert!(process_multiproof(&lh, p, &mp.proof_flags).map(|r| r != t[0]).unwrap_or(true));
            }
        }
    }
}
