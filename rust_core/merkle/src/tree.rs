//! Merkle trees in `@openzeppelin/merkle-tree`'s array layout: a complete binary tree of
//! `2n - 1` nodes stored heap-style (children of `i` at `2i+1`, `2i+2`), leaf `k` of the
//! (possibly sorted) leaf list at `len - 1 - k`, internal nodes hashed as sorted pairs.
//! Everything here matches that library's `core.ts` and OpenZeppelin's `MerkleProof.sol`.

use rayon::prelude::*;

use crate::error::{invalid, Result};
use crate::hash::{node_hash, Hash, Lanes};

/// Below this many nodes a level is hashed on the calling thread.
const PAR_MIN: usize = 1 << 12;
/// Nodes per parallel task when a level is split across threads (a multiple of 8 lanes).
const PAR_CHUNK: usize = 1 << 10;

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

/// Build the node array from leaf hashes (in leaf order). Levels are hashed in parallel,
/// each thread's share in keccak lanes (the active backend).
pub fn make_tree(leaves: &[Hash]) -> Result<Vec<Hash>> {
    make_tree_with(Lanes::active(), leaves)
}

/// [`make_tree`] with a given keccak backend (tests compare every backend).
pub fn make_tree_with(lanes: Lanes, leaves: &[Hash]) -> Result<Vec<Hash>> {
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
            // Children of node `level_start + j` are `lower[c + 2j]` and `lower[c + 2j + 1]`.
            let c = 2 * level_start + 1 - level_end;
            let children = &lower[c..c + 2 * level.len()];
            if level.len() >= PAR_MIN {
                level.par_chunks_mut(PAR_CHUNK).enumerate().for_each(|(k, out)| {
                    let first = 2 * k * PAR_CHUNK;
                    lanes.level(&children[first..first + 2 * out.len()], out);
                });
            } else {
                lanes.level(children, level);
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

/// Proofs verified together per lockstep group: enough to keep eight lanes full while the
/// shorter proofs of a group drop out.
const PROOF_GROUP: usize = 64;

/// `out[i] = process_proof(&leaves[i], proof(i))` for many proofs at once: the proofs of a
/// group advance one level per step together, eight (or four) node hashes per permutation
/// call; a proof that is done drops out of the step, so any mix of depths (0 included) is
/// handled, and every result equals `process_proof`'s.
pub fn process_proofs_with<'a>(lanes: Lanes, leaves: &[Hash], proof: impl Fn(usize) -> &'a [Hash], out: &mut [Hash]) {
    assert_eq!(leaves.len(), out.len(), "process_proofs: one output per leaf");
    let mut active: Vec<(usize, &'a [Hash])> = Vec::with_capacity(PROOF_GROUP);
    let mut next = vec![[0u8; 32]; PROOF_GROUP];
    for (g, (ls, outs)) in leaves.chunks(PROOF_GROUP).zip(out.chunks_mut(PROOF_GROUP)).enumerate() {
        outs.copy_from_slice(ls);
        active.clear();
        active.extend((0..ls.len()).map(|i| (i, proof(g * PROOF_GROUP + i))).filter(|(_, p)| !p.is_empty()));
        let mut step = 0;
        while !active.is_empty() {
            let n = active.len();
            lanes.nodes(|k| (&outs[active[k].0], &active[k].1[step]), &mut next[..n]);
            for (k, h) in next[..n].iter().enumerate() {
                outs[active[k].0] = *h;
            }
            step += 1;
            active.retain(|(_, p)| p.len() > step);
        }
    }
}

/// [`process_proofs_with`] on the active keccak backend.
pub fn process_proofs<'a>(leaves: &[Hash], proof: impl Fn(usize) -> &'a [Hash], out: &mut [Hash]) {
    process_proofs_with(Lanes::active(), leaves, proof, out)
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

/// Where a multiproof step takes a node from.
#[derive(Clone, Copy)]
enum Src {
    Leaf(usize),
    Hash(usize),
    Proof(usize),
}

/// Recompute the root from a multiproof, exactly as `MerkleProof.processMultiProof` does
/// (including its length checks); malformed input is an error, never a forged root.
pub fn process_multiproof(leaves: &[Hash], proof: &[Hash], flags: &[bool]) -> Result<Hash> {
    process_multiproof_with(Lanes::active(), leaves, proof, flags)
}

/// [`process_multiproof`] with a given keccak backend. The steps are first resolved to their
/// sources (the same walk and errors as the contract); then every run of steps whose inputs
/// are already computed — in practice one tree level — is hashed together in lanes.
pub fn process_multiproof_with(lanes: Lanes, leaves: &[Hash], proof: &[Hash], flags: &[bool]) -> Result<Hash> {
    let needed_from_proof = flags.iter().filter(|f| !**f).count();
    if proof.len() < needed_from_proof {
        return invalid("invalid multiproof format: fewer proof hashes than unset flags");
    }
    if leaves.len() + proof.len() != flags.len() + 1 {
        return invalid("leaves and multiproof are not compatible: leaves + proof must equal flags + 1");
    }
    let total = flags.len();
    // Step m may read hashes 0..m (those computed before it).
    let mut steps: Vec<(Src, Src)> = Vec::with_capacity(total);
    let (mut leaf_pos, mut hash_pos, mut proof_pos) = (0usize, 0usize, 0usize);
    let mut next = |m: usize| -> Result<Src> {
        if leaf_pos < leaves.len() {
            leaf_pos += 1;
            Ok(Src::Leaf(leaf_pos - 1))
        } else if hash_pos < m {
            hash_pos += 1;
            Ok(Src::Hash(hash_pos - 1))
        } else {
            invalid("invalid multiproof: flags consume more nodes than available")
        }
    };
    for (m, &flag) in flags.iter().enumerate() {
        let a = next(m)?;
        let b = if flag {
            next(m)?
        } else {
            proof_pos += 1;
            Src::Proof(proof_pos - 1)
        };
        steps.push((a, b));
    }
    if total > 0 && proof_pos != proof.len() {
        return invalid("invalid multiproof: unused proof hashes");
    }
    let mut hashes: Vec<Hash> = vec![[0u8; 32]; total];
    let mut done = 0;
    while done < total {
        // Extend the wave while each step reads only hashes computed before the wave.
        let reads_new = |s: &Src| matches!(s, Src::Hash(j) if *j >= done);
        let end = (done + 1..total).find(|&m| reads_new(&steps[m].0) || reads_new(&steps[m].1)).unwrap_or(total);
        let (before, wave) = hashes.split_at_mut(done);
        let get = |s: Src| -> &Hash {
            match s {
                Src::Leaf(i) => &leaves[i],
                Src::Hash(j) => &before[j],
                Src::Proof(p) => &proof[p],
            }
        };
        lanes.nodes(|k| (get(steps[done + k].0), get(steps[done + k].1)), &mut wave[..end - done]);
        done = end;
    }
    if total > 0 {
        Ok(hashes[total - 1])
    } else if !leaves.is_empty() {
        Ok(leaves[0])
    } else {
        Ok(proof[0])
    }
}

/// Check every internal node against its children (and the shape of the array).
pub fn is_valid_tree(tree: &[Hash]) -> bool {
    is_valid_tree_with(Lanes::active(), tree)
}

/// [`is_valid_tree`] with a given keccak backend: each chunk of internal nodes is rehashed
/// in lanes from its children (node `i`'s children are `tree[2i+1]`, `tree[2i+2]`).
pub fn is_valid_tree_with(lanes: Lanes, tree: &[Hash]) -> bool {
    if tree.is_empty() || tree.len().is_multiple_of(2) {
        return false;
    }
    let internal = tree.len() / 2;
    let children = &tree[1..];
    let check = |(k, nodes): (usize, &[Hash])| {
        let mut fresh = vec![[0u8; 32]; nodes.len()];
        let first = 2 * k * PAR_CHUNK;
        lanes.level(&children[first..first + 2 * nodes.len()], &mut fresh);
        fresh == nodes
    };
    if internal >= PAR_MIN {
        tree[..internal].par_chunks(PAR_CHUNK).enumerate().all(check)
    } else {
        tree[..internal].chunks(PAR_CHUNK).enumerate().all(check)
    }
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

    /// `MerkleProof.processMultiProof` step by step, one lane (the reference for the waves).
    fn sequential_multiproof(leaves: &[Hash], proof: &[Hash], flags: &[bool]) -> Option<Hash> {
        if proof.len() < flags.iter().filter(|f| !**f).count() || leaves.len() + proof.len() != flags.len() + 1 {
            return None;
        }
        let mut hashes: Vec<Hash> = Vec::new();
        let (mut lp, mut hp, mut pp) = (0usize, 0usize, 0usize);
        for &flag in flags {
            let mut take = |hashes: &Vec<Hash>| -> Option<Hash> {
                if lp < leaves.len() {
                    lp += 1;
                    Some(leaves[lp - 1])
                } else if hp < hashes.len() {
                    hp += 1;
                    Some(hashes[hp - 1])
                } else {
                    None
                }
            };
            let a = take(&hashes)?;
            let b = if flag {
                take(&hashes)?
            } else {
                pp += 1;
                proof[pp - 1]
            };
            hashes.push(node_hash(&a, &b));
        }
        if flags.is_empty() {
            return Some(if leaves.is_empty() { proof[0] } else { leaves[0] });
        }
        (pp == proof.len()).then(|| hashes[flags.len() - 1])
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

    /// Every keccak backend this CPU runs builds the same trees, proofs, multiproof roots
    /// and verification results as one-lane hashing (`naive_tree`, `process_proof`), on
    /// sizes from 1 to 10^5 (odd ones, powers of two and their neighbours).
    #[test]
    fn every_backend_builds_and_verifies_identically() {
        let all = Lanes::available();
        eprintln!("tree backends: {:?}", all.iter().map(|l| l.backend().name()).collect::<Vec<_>>());
        for n in [1usize, 2, 3, 5, 7, 8, 9, 17, 63, 64, 65, 255, 1001, 4097, 8191, 33_333, 100_000] {
            let l = leaves(n);
            let reference = naive_tree(&l);
            let positions: Vec<usize> = (reference.len() - n..reference.len()).collect();
            let (flat, offs) = all_proofs(&reference, &positions).unwrap();
            let leaf_of: Vec<Hash> = positions.iter().map(|&p| reference[p]).collect();
            // A wrong leaf for every third proof: those must all fail, on every backend.
            let mut probe = leaf_of.clone();
            for (k, h) in probe.iter_mut().enumerate() {
                if k % 3 == 1 {
                    h[0] ^= 1;
                }
            }
            let expect: Vec<Hash> = (0..n).map(|k| process_proof(&probe[k], &flat[offs[k]..offs[k + 1]])).collect();
            for lanes in &all {
                let name = lanes.backend().name();
                let t = make_tree_with(*lanes, &l).unwrap();
                assert!(t == reference, "{name}: tree of {n} leaves differs");
                assert!(is_valid_tree_with(*lanes, &t), "{name}: n = {n}");
                let mut roots = vec![[0u8; 32]; n];
                process_proofs_with(*lanes, &probe, |k| &flat[offs[k]..offs[k + 1]], &mut roots);
                assert!(roots == expect, "{name}: batch proof results differ (n = {n})");
                for (k, r) in roots.iter().enumerate() {
                    assert_eq!(*r == t[0], k % 3 != 1, "{name}: proof {k} of {n}");
                }
                if n > 1 {
                    let mut bad = t.clone();
                    bad[n / 2][5] ^= 0x40;
                    assert!(!is_valid_tree_with(*lanes, &bad), "{name}: corrupted node accepted");
                }
                let picks: Vec<usize> = positions.iter().copied().step_by(1 + n / 50).collect();
                let mp = get_multiproof(&t, &picks).unwrap();
                let lh: Vec<Hash> = mp.leaves.iter().map(|&i| t[i]).collect();
                assert_eq!(process_multiproof_with(*lanes, &lh, &mp.proof, &mp.proof_flags).unwrap(), t[0], "{name}: multiproof n = {n}");
            }
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
                for lanes in Lanes::available() {
                    prop_assert_eq!(process_multiproof_with(lanes, &lh, &mp.proof, &f).ok(), sequential_multiproof(&lh, &mp.proof, &f));
                }
                if let Ok(r) = process_multiproof(&lh, &mp.proof, &f) { prop_assert_ne!(r, t[0]); }
            }
            if !mp.proof.is_empty() && !lh.is_empty() {
                let p = &mp.proof[1..];
                prop_assert!(process_multiproof(&lh, p, &mp.proof_flags).map(|r| r != t[0]).unwrap_or(true));
            }
        }
    }
}
