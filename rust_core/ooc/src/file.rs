//! The tree file and proofs served from it.
//!
//! Layout (all integers little-endian):
//!
//! | offset            | size          | contents                                              |
//! |-------------------|---------------|-------------------------------------------------------|
//! | 0                 | 4096          | header (below)                                        |
//! | `tree_off`        | `(2n-1) * 32` | the node array, OpenZeppelin's layout                 |
//! | `rows_off`        | `n * 8`       | row index of the leaf at tree position `n - 1 + j`    |
//! | `pos_off`         | `n * 8`       | tree position of row `r`                              |
//!
//! Header: magic `NFTREGOC`, version `u32`, header length `u32`, `n` `u64`, root (32 bytes),
//! `tree_off`, `rows_off`, `pos_off`, file length (`u64` each), the leaf encoding as a JSON
//! list of type names (`u32` length, then the text), and in the header's last 32 bytes the
//! keccak-256 of everything before them.
//!
//! Leaves sit at positions `n - 1 .. 2n - 1` in descending `(hash, row)` order (the sorted
//! leaf `k` is at `2n - 2 - k`), so a leaf hash is found by binary search; among equal leaves
//! the one with the highest row comes first, which is the one the npm library's `leafLookup`
//! returns ("later duplicates win").

use std::fs::File;
use std::path::Path;

use memmap2::{Advice, Mmap};
use rayon::prelude::*;

use nftreg_eth::keccak::Lanes;
use nftreg_eth::{keccak256, Hash};
use nftreg_merkle::tree::process_proof;

use crate::{io_err, OocError, Result};

pub const MAGIC: &[u8; 8] = b"NFTREGOC";
pub const VERSION: u32 = 1;
pub const HEADER_LEN: usize = 4096;
const CHECK_AT: usize = HEADER_LEN - 32;
const ENC_AT: usize = 92;
/// Room for the leaf encoding's JSON text in the header.
pub const MAX_ENCODING_LEN: usize = CHECK_AT - ENC_AT;

/// Where everything is in a file of `n` leaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    pub n: u64,
    pub tree_off: u64,
    pub rows_off: u64,
    pub pos_off: u64,
    pub file_len: u64,
}

impl Layout {
    pub fn new(n: u64) -> Layout {
        let tree_off = HEADER_LEN as u64;
        let rows_off = tree_off + (2 * n - 1) * 32;
        let pos_off = rows_off + n * 8;
        Layout { n, tree_off, rows_off, pos_off, file_len: pos_off + n * 8 }
    }
    pub fn nodes(&self) -> u64 {
        2 * self.n - 1
    }
}

/// The header bytes for a finished tree.
pub fn header(layout: &Layout, root: &Hash, leaf_encoding: &[String]) -> Result<Vec<u8>> {
    let enc = encoding_json(leaf_encoding);
    if enc.len() > MAX_ENCODING_LEN {
        return Err(OocError::Invalid(format!("leaf encoding is too long for the header ({} bytes, at most {MAX_ENCODING_LEN})", enc.len())));
    }
    let mut h = vec![0u8; HEADER_LEN];
    h[0..8].copy_from_slice(MAGIC);
    h[8..12].copy_from_slice(&VERSION.to_le_bytes());
    h[12..16].copy_from_slice(&(HEADER_LEN as u32).to_le_bytes());
    h[16..24].copy_from_slice(&layout.n.to_le_bytes());
    h[24..56].copy_from_slice(root);
    h[56..64].copy_from_slice(&layout.tree_off.to_le_bytes());
    h[64..72].copy_from_slice(&layout.rows_off.to_le_bytes());
    h[72..80].copy_from_slice(&layout.pos_off.to_le_bytes());
    h[80..88].copy_from_slice(&layout.file_len.to_le_bytes());
    h[88..92].copy_from_slice(&(enc.len() as u32).to_le_bytes());
    h[ENC_AT..ENC_AT + enc.len()].copy_from_slice(enc.as_bytes());
    let check = keccak256(&h[..CHECK_AT]);
    h[CHECK_AT..].copy_from_slice(&check);
    Ok(h)
}

fn encoding_json(types: &[String]) -> String {
    // Type names are ABI type strings (letters, digits, brackets): no escaping is needed, and
    // `parse_encoding` refuses anything else.
    let quoted: Vec<String> = types.iter().map(|t| format!("\"{t}\"")).collect();
    format!("[{}]", quoted.join(","))
}

fn parse_encoding(text: &str) -> Option<Vec<String>> {
    let inner = text.strip_prefix('[')?.strip_suffix(']')?;
    if inner.is_empty() {
        return Some(vec![]);
    }
    inner
        .split(',')
        .map(|q| {
            let t = q.strip_prefix('"')?.strip_suffix('"')?;
            t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'[' || b == b']').then(|| t.to_string())
        })
        .collect()
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(w)
}

/// A tree file opened for proofs: memory-mapped read-only, never read whole. Opening checks
/// the header (magic, version, checksum), the file's exact length and that the first node is
/// the root; every proof served is folded back to the root before it is returned, so a
/// corrupted node on its path is reported instead of a wrong proof. [`TreeFile::validate`]
/// rechecks everything.
pub struct TreeFile {
    map: Mmap,
    path: String,
    layout: Layout,
    root: Hash,
    leaf_encoding: Vec<String>,
}

impl TreeFile {
    pub fn open(path: &Path) -> Result<TreeFile> {
        let name = path.display().to_string();
        let corrupt = |msg: String| OocError::Corrupt { path: name.clone(), msg };
        let file = File::open(path).map_err(|e| io_err(&name, e))?;
        let len = file.metadata().map_err(|e| io_err(&name, e))?.len();
        if len < HEADER_LEN as u64 {
            return Err(corrupt(format!("not a tree file or truncated: {len} bytes, shorter than the {HEADER_LEN}-byte header")));
        }
        // SAFETY: the map is read-only and private to this object; tree files are written to a
        // temp name and renamed into place, never modified afterwards. Should one be truncated
        // under us anyway, the length is checked again before every access (`check_len`).
        let map = unsafe { Mmap::map(&file) }.map_err(|e| io_err(format!("{name}: mmap"), e))?;
        let h = &map[..HEADER_LEN];
        if &h[0..8] != MAGIC {
            return Err(corrupt("not an nftreg out-of-core tree file (bad magic)".into()));
        }
        let version = u32::from_le_bytes([h[8], h[9], h[10], h[11]]);
        if version != VERSION {
            return Err(corrupt(format!("tree file version {version} is not supported (this build reads version {VERSION})")));
        }
        if keccak256(&h[..CHECK_AT])[..] != h[CHECK_AT..] {
            return Err(corrupt("header is corrupted (checksum mismatch)".into()));
        }
        let n = u64_at(h, 16);
        if n == 0 || n > (u64::MAX - HEADER_LEN as u64) / 64 {
            return Err(corrupt(format!("header says {n} leaves")));
        }
        let layout = Layout::new(n);
        let stored = Layout { n, tree_off: u64_at(h, 56), rows_off: u64_at(h, 64), pos_off: u64_at(h, 72), file_len: u64_at(h, 80) };
        if stored != layout {
            return Err(corrupt("header section offsets do not match its leaf count".into()));
        }
        if len != layout.file_len {
            return Err(corrupt(format!(
                "truncated or padded: {len} bytes, a tree of {n} leaves has {} bytes",
                layout.file_len
            )));
        }
        let enc_len = u32::from_le_bytes([h[88], h[89], h[90], h[91]]) as usize;
        let leaf_encoding = (enc_len <= MAX_ENCODING_LEN)
            .then(|| std::str::from_utf8(&h[ENC_AT..ENC_AT + enc_len]).ok().and_then(parse_encoding))
            .flatten()
            .ok_or_else(|| corrupt("header's leaf encoding is unreadable".into()))?;
        let mut root = [0u8; 32];
        root.copy_from_slice(&h[24..56]);
        // Proofs touch a few pages each: no read-ahead.
        let _ = map.advise(Advice::Random);
        let t = TreeFile { map, path: name, layout, root, leaf_encoding };
        if t.node(0) != root {
            return Err(t.corrupt("the first node differs from the root in the header"));
        }
        Ok(t)
    }

    fn corrupt(&self, msg: impl Into<String>) -> OocError {
        OocError::Corrupt { path: self.path.clone(), msg: msg.into() }
    }

    pub fn path(&self) -> &str {
        &self.path
    }
    /// Number of leaves (rows).
    pub fn len(&self) -> u64 {
        self.layout.n
    }
    pub fn is_empty(&self) -> bool {
        false
    }
    pub fn nodes(&self) -> u64 {
        self.layout.nodes()
    }
    pub fn root(&self) -> Hash {
        self.root
    }
    pub fn leaf_encoding(&self) -> &[String] {
        &self.leaf_encoding
    }

    /// Node `i` of the tree array (`i < 2n - 1`).
    pub fn node(&self, i: u64) -> Hash {
        let at = (self.layout.tree_off + 32 * i) as usize;
        let mut h = [0u8; 32];
        h.copy_from_slice(&self.map[at..at + 32]);
        h
    }

    fn check_row(&self, row: u64) -> Result<()> {
        if row >= self.layout.n {
            return Err(OocError::Invalid(format!("row {row} out of bounds (the tree has {} rows)", self.layout.n)));
        }
        Ok(())
    }

    /// Tree position of row `row`.
    pub fn position(&self, row: u64) -> Result<u64> {
        self.check_row(row)?;
        let p = u64_at(&self.map, (self.layout.pos_off + 8 * row) as usize);
        if p < self.layout.n - 1 || p >= self.layout.nodes() {
            return Err(self.corrupt(format!("row {row} maps to {p}, which is not a leaf position")));
        }
        Ok(p)
    }

    /// Row of the leaf at tree position `pos` (a leaf position).
    pub fn row_at(&self, pos: u64) -> Result<u64> {
        let n = self.layout.n;
        if pos < n - 1 || pos >= self.layout.nodes() {
            return Err(OocError::Invalid(format!("position {pos} is not a leaf of the tree")));
        }
        let r = u64_at(&self.map, (self.layout.rows_off + 8 * (pos - (n - 1))) as usize);
        if r >= n {
            return Err(self.corrupt(format!("leaf position {pos} maps to row {r}, past the last row")));
        }
        Ok(r)
    }

    /// Leaf hash of row `row`.
    pub fn leaf(&self, row: u64) -> Result<Hash> {
        Ok(self.node(self.position(row)?))
    }

    /// Sibling path of tree position `pos` up to the root, checked against the root.
    pub fn proof_at(&self, pos: u64) -> Result<Vec<Hash>> {
        let mut proof = Vec::with_capacity(64);
        let mut i = pos;
        while i > 0 {
            let s = if i % 2 == 1 { i + 1 } else { i - 1 };
            proof.push(self.node(s));
            i = (i - 1) / 2;
        }
        if process_proof(&self.node(pos), &proof) != self.root {
            return Err(self.corrupt(format!("the path of tree position {pos} does not hash up to the root: the file is corrupted")));
        }
        Ok(proof)
    }

    /// Proof of row `row` (the npm library's `getProof(index)`).
    pub fn proof(&self, row: u64) -> Result<Vec<Hash>> {
        let p = self.position(row)?;
        let proof = self.proof_at(p)?;
        if self.row_at(p)? != row {
            return Err(self.corrupt(format!("row {row} and its tree position {p} do not point at each other")));
        }
        Ok(proof)
    }

    /// The row whose leaf hash is `leaf`, as the npm library's `leafLookup` answers it (of
    /// equal leaves, the highest row); `None` if no leaf has that hash.
    pub fn lookup(&self, leaf: &Hash) -> Result<Option<u64>> {
        let n = self.layout.n;
        let first = n - 1;
        // Leaves are in descending order: find the first one that is <= `leaf`.
        let (mut lo, mut hi) = (0u64, n);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.node(first + mid) > *leaf {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        if lo < n && self.node(first + lo) == *leaf {
            return self.row_at(first + lo).map(Some);
        }
        Ok(None)
    }

    /// Recheck the whole file: every internal node against its children, the leaves' order,
    /// and that rows and positions are inverse permutations. Reads everything once (in
    /// parallel); for an audit, not for serving.
    pub fn validate(&self) -> Result<()> {
        let lanes = Lanes::active();
        let n = self.layout.n;
        let internal = n - 1;
        const CHUNK: u64 = 1 << 14;
        let chunks = internal.div_ceil(CHUNK);
        let bad_node = (0..chunks).into_par_iter().find_map_any(|c| {
            let start = c * CHUNK;
            let end = (start + CHUNK).min(internal);
            let children: Vec<Hash> = (2 * start + 1..2 * end + 1).map(|i| self.node(i)).collect();
            let mut fresh = vec![[0u8; 32]; (end - start) as usize];
            lanes.level(&children, &mut fresh);
            (start..end).zip(fresh).find(|(i, h)| self.node(*i) != *h).map(|(i, _)| i)
        });
        if let Some(i) = bad_node {
            return Err(self.corrupt(format!("node {i} differs from the hash of its children")));
        }
        let first = n - 1;
        let leaf_chunks = n.div_ceil(CHUNK);
        let bad_leaf = (0..leaf_chunks).into_par_iter().find_map_any(|c| -> Option<String> {
            for j in c * CHUNK..((c + 1) * CHUNK).min(n) {
                let p = first + j;
                let row = match self.row_at(p) {
                    Ok(r) => r,
                    Err(e) => return Some(e.to_string()),
                };
                match self.position(row) {
                    Ok(q) if q == p => {}
                    Ok(q) => return Some(format!("leaf position {p} holds row {row}, whose position is {q}")),
                    Err(e) => return Some(e.to_string()),
                }
                if j + 1 < n {
                    let next_row = self.row_at(p + 1).unwrap_or(u64::MAX);
                    if (self.node(p), row) <= (self.node(p + 1), next_row) {
                        return Some(format!("leaves at positions {p} and {} are out of order", p + 1));
                    }
                }
            }
            None
        });
        match bad_leaf {
            Some(msg) => Err(self.corrupt(msg)),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_round_trips() {
        let t = vec!["address".to_string(), "bytes32".into(), "uint256[2][]".into()];
        assert_eq!(parse_encoding(&encoding_json(&t)).unwrap(), t);
        assert!(parse_encoding("[\"a\\\"b\"]").is_none());
    }
}
