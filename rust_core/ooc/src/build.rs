//! Building a tree file from leaf hashes that need not fit in memory.
//!
//! [`Builder::push`] takes leaf hashes in row order. They are kept as `(hash, row)` pairs in a
//! buffer of at most `memory_budget` bytes, which is sorted (in parallel) and written to a
//! run file in the temp dir whenever it fills. [`Builder::finish`] merges the runs in
//! descending `(hash, row)` order — exactly the npm library's order (ascending hashes, ties in
//! row order, since JavaScript's sort is stable) read from the last leaf position backwards —
//! writing the leaves and their rows as they come, and the rows' positions through an array of
//! at most the budget (else through per-range bucket files). The internal nodes are then
//! hashed level by level from the bottom, a chunk at a time, from the file into the file.
//! Everything goes to a temp file next to the output, which gets its header last, is fsynced
//! and renamed into place: a crash leaves either the old file or the new one.

use std::collections::BinaryHeap;
use std::fs::{self, File, OpenOptions};
use std::io::{BufReader, BufWriter, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use rayon::prelude::*;

use nftreg_eth::keccak::Lanes;
use nftreg_eth::Hash;

use crate::file::{header, Layout};
use crate::{io_err, OocError, Result};

/// One leaf: hash and row. Ordered by hash, then row.
type Entry = (Hash, u64);
const ENTRY_BYTES: usize = 40;

/// How a build may use memory and disk.
#[derive(Debug, Clone)]
pub struct Options {
    /// Bytes of leaf entries sorted in memory at once (40 bytes a leaf); also the largest
    /// row → position array held while merging. Peak memory is about this plus a few tens of MB.
    pub memory_budget: usize,
    /// Where run files go (default: the output file's directory, so the temp data lands on the
    /// same disk as the result rather than in a RAM-backed /tmp).
    pub temp_dir: Option<PathBuf>,
}

pub const DEFAULT_BUDGET: usize = 1 << 30;
pub const MIN_BUDGET: usize = 1 << 20;

impl Default for Options {
    fn default() -> Self {
        Options { memory_budget: DEFAULT_BUDGET, temp_dir: None }
    }
}

/// What a finished build reports.
#[derive(Debug, Clone)]
pub struct Built {
    pub n: u64,
    pub root: Hash,
    /// Sorted runs spilled to disk (0 when everything fitted in the budget).
    pub runs: usize,
}

/// A directory of our own under the temp dir, removed with everything in it when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(parent: &Path) -> Result<Scratch> {
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        let dir = parent.join(format!(".nftreg-ooc-{}-{nanos}", std::process::id()));
        fs::create_dir_all(&dir).map_err(|e| io_err(format!("creating temp dir {}", dir.display()), e))?;
        Ok(Scratch(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// The output's temp file, removed unless the build got as far as renaming it.
struct TempOut {
    path: PathBuf,
    done: bool,
}

impl Drop for TempOut {
    fn drop(&mut self) {
        if !self.done {
            let _ = fs::remove_file(&self.path);
        }
    }
}

pub struct Builder {
    out: PathBuf,
    leaf_encoding: Vec<String>,
    budget: usize,
    scratch: Scratch,
    buf: Vec<Entry>,
    cap: usize,
    runs: Vec<PathBuf>,
    n: u64,
}

fn write_entries(w: &mut impl Write, entries: &[Entry]) -> std::io::Result<()> {
    let mut block = Vec::with_capacity(ENTRY_BYTES * 4096);
    for chunk in entries.chunks(4096) {
        block.clear();
        for (h, r) in chunk {
            block.extend_from_slice(h);
            block.extend_from_slice(&r.to_le_bytes());
        }
        w.write_all(&block)?;
    }
    Ok(())
}

/// A sorted run being merged: in memory (the last buffer) or a file.
enum Run {
    Mem(std::vec::IntoIter<Entry>),
    File(BufReader<File>, PathBuf),
}

impl Run {
    fn next(&mut self) -> Result<Option<Entry>> {
        match self {
            Run::Mem(it) => Ok(it.next()),
            Run::File(r, path) => {
                let mut b = [0u8; ENTRY_BYTES];
                match r.read_exact(&mut b) {
                    Ok(()) => {
                        let mut h = [0u8; 32];
                        h.copy_from_slice(&b[..32]);
                        let mut w = [0u8; 8];
                        w.copy_from_slice(&b[32..]);
                        Ok(Some((h, u64::from_le_bytes(w))))
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(None),
                    Err(e) => Err(io_err(format!("reading run {}", path.display()), e)),
                }
            }
        }
    }
}

impl Builder {
    /// A builder writing `out` (replaced atomically when [`finish`](Builder::finish) succeeds).
    pub fn new(out: &Path, leaf_encoding: Vec<String>, opts: &Options) -> Result<Builder> {
        if opts.memory_budget < MIN_BUDGET {
            return Err(OocError::Invalid(format!("memory budget {} bytes is below the minimum of {MIN_BUDGET}", opts.memory_budget)));
        }
        let out_dir = match out.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        if !out_dir.is_dir() {
            return Err(OocError::Invalid(format!("output directory {} does not exist", out_dir.display())));
        }
        let tmp_parent = opts.temp_dir.clone().unwrap_or(out_dir);
        if !tmp_parent.is_dir() {
            return Err(OocError::Invalid(format!("temp dir {} does not exist", tmp_parent.display())));
        }
        let cap = opts.memory_budget / ENTRY_BYTES;
        Ok(Builder {
            out: out.to_path_buf(),
            leaf_encoding,
            budget: opts.memory_budget,
            scratch: Scratch::new(&tmp_parent)?,
            buf: Vec::new(),
            cap,
            runs: Vec::new(),
            n: 0,
        })
    }

    /// Leaves pushed so far (the next row index).
    pub fn len(&self) -> u64 {
        self.n
    }
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Add the next rows' leaf hashes.
    pub fn push_many(&mut self, leaves: &[Hash]) -> Result<()> {
        for h in leaves {
            if self.buf.len() == self.cap {
                self.spill()?;
            }
            if self.buf.len() == self.buf.capacity() {
                // Grow by doubling, but never past the budget (plain doubling could reserve
                // nearly twice it); a small tree never reserves the whole budget.
                let extra = self.buf.capacity().max(1 << 16).min(self.cap - self.buf.len());
                self.buf.reserve_exact(extra);
            }
            self.buf.push((*h, self.n));
            self.n += 1;
        }
        Ok(())
    }

    fn sort_buf(&mut self) {
        self.buf.par_sort_unstable_by(|a, b| b.cmp(a));
    }

    fn spill(&mut self) -> Result<()> {
        self.sort_buf();
        let path = self.scratch.0.join(format!("run-{}", self.runs.len()));
        let f = File::create(&path).map_err(|e| io_err(format!("creating {}", path.display()), e))?;
        let mut w = BufWriter::with_capacity(1 << 20, f);
        write_entries(&mut w, &self.buf)
            .and_then(|_| w.flush())
            .map_err(|e| io_err(format!("writing {}", path.display()), e))?;
        self.runs.push(path);
        self.buf.clear();
        Ok(())
    }

    /// Merge, write the tree, fsync and rename into place.
    pub fn finish(mut self) -> Result<Built> {
        let n = self.n;
        if n == 0 {
            return Err(OocError::Invalid("expected a non-zero number of leaves".into()));
        }
        let layout = Layout::new(n);
        // Refuse an unusable encoding before hours of work, not after.
        header(&layout, &[0u8; 32], &self.leaf_encoding)?;
        let spilled = !self.runs.is_empty();
        if spilled {
            if !self.buf.is_empty() {
                self.spill()?;
            }
            self.buf = Vec::new(); // give the budget back before merging
        } else {
            self.sort_buf();
        }
        let runs_count = self.runs.len();

        let tmp = TempOut {
            path: self.out.with_file_name(format!(
                ".{}.tmp-{}",
                self.out.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default(),
                std::process::id()
            )),
            done: false,
        };
        let tname = tmp.path.display().to_string();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp.path)
            .map_err(|e| io_err(format!("creating {tname}"), e))?;
        file.set_len(layout.file_len).map_err(|e| io_err(format!("sizing {tname}"), e))?;

        let mut runs: Vec<Run> = if spilled {
            let per_run = (self.budget / 4 / self.runs.len().max(1)).clamp(1 << 16, 8 << 20);
            let mut v = Vec::with_capacity(self.runs.len());
            for p in &self.runs {
                let f = File::open(p).map_err(|e| io_err(format!("opening {}", p.display()), e))?;
                v.push(Run::File(BufReader::with_capacity(per_run, f), p.clone()));
            }
            v
        } else {
            vec![Run::Mem(std::mem::take(&mut self.buf).into_iter())]
        };
        self.merge_into(&file, &tname, &layout, &mut runs)?;
        drop(runs);
        for p in &self.runs {
            let _ = fs::remove_file(p);
        }

        let root = hash_levels(&file, &tname, &layout)?;
        let head = header(&layout, &root, &self.leaf_encoding)?;
        file.write_all_at(&head, 0).map_err(|e| io_err(format!("writing {tname}"), e))?;
        file.sync_all().map_err(|e| io_err(format!("fsync {tname}"), e))?;
        drop(file);
        fs::rename(&tmp.path, &self.out).map_err(|e| io_err(format!("renaming {tname} to {}", self.out.display()), e))?;
        let mut tmp = tmp;
        tmp.done = true;
        if let Some(dir) = self.out.parent().filter(|p| !p.as_os_str().is_empty()) {
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(Built { n, root, runs: runs_count })
    }

    /// K-way merge of the sorted runs (descending), writing leaves and their rows in position
    /// order and every row's position.
    fn merge_into(&self, file: &File, tname: &str, layout: &Layout, runs: &mut [Run]) -> Result<()> {
        let n = layout.n;
        let wr = |bytes: &[u8], at: u64| file.write_all_at(bytes, at).map_err(|e| io_err(format!("writing {tname}"), e));
        // Row → position: one array if it fits the budget, else bucket files of row ranges.
        let rows_per_bucket = ((self.budget / 8) as u64).max(1 << 16);
        let buckets = n.div_ceil(rows_per_bucket);
        let mut positions: Vec<u64> = if buckets == 1 { vec![0u64; n as usize] } else { Vec::new() };
        let mut bucket_files: Vec<(PathBuf, BufWriter<File>)> = Vec::new();
        if buckets > 1 {
            for b in 0..buckets {
                let p = self.scratch.0.join(format!("pos-{b}"));
                let f = File::create(&p).map_err(|e| io_err(format!("creating {}", p.display()), e))?;
                bucket_files.push((p, BufWriter::with_capacity(1 << 16, f)));
            }
        }

        let mut heap: BinaryHeap<(Entry, usize)> = BinaryHeap::with_capacity(runs.len());
        for (k, r) in runs.iter_mut().enumerate() {
            if let Some(e) = r.next()? {
                heap.push((e, k));
            }
        }
        const BLOCK: usize = 1 << 15;
        let mut leaves: Vec<u8> = Vec::with_capacity(32 * BLOCK);
        let mut rows: Vec<u8> = Vec::with_capacity(8 * BLOCK);
        let mut j: u64 = 0; // next leaf: tree position n - 1 + j
        let mut block_start: u64 = 0;
        let mut last: Option<Entry> = None;
        while let Some(((h, row), k)) = heap.pop() {
            if let Some(next) = runs[k].next()? {
                heap.push((next, k));
            }
            if row >= n || last.is_some_and(|l| l <= (h, row)) {
                return Err(OocError::Invariant(format!("merge produced row {row} out of order")));
            }
            last = Some((h, row));
            let pos = n - 1 + j;
            leaves.extend_from_slice(&h);
            rows.extend_from_slice(&row.to_le_bytes());
            if buckets == 1 {
                positions[row as usize] = pos;
            } else {
                let (p, w) = &mut bucket_files[(row / rows_per_bucket) as usize];
                w.write_all(&row.to_le_bytes())
                    .and_then(|_| w.write_all(&pos.to_le_bytes()))
                    .map_err(|e| io_err(format!("writing {}", p.display()), e))?;
            }
            j += 1;
            if leaves.len() == 32 * BLOCK {
                wr(&leaves, layout.tree_off + 32 * (n - 1 + block_start))?;
                wr(&rows, layout.rows_off + 8 * block_start)?;
                leaves.clear();
                rows.clear();
                block_start = j;
            }
        }
        if !leaves.is_empty() {
            wr(&leaves, layout.tree_off + 32 * (n - 1 + block_start))?;
            wr(&rows, layout.rows_off + 8 * block_start)?;
        }
        if j != n {
            return Err(OocError::Invariant(format!("merged {j} leaves, expected {n}")));
        }
        if buckets == 1 {
            for (c, chunk) in positions.chunks(1 << 16).enumerate() {
                let bytes: Vec<u8> = chunk.iter().flat_map(|p| p.to_le_bytes()).collect();
                wr(&bytes, layout.pos_off + 8 * (c as u64) * (1 << 16))?;
            }
            return Ok(());
        }
        drop(positions);
        for (b, (p, w)) in bucket_files.into_iter().enumerate() {
            let f = w.into_inner().map_err(|e| io_err(format!("writing {}", p.display()), e.into_error()))?;
            drop(f);
            let first = b as u64 * rows_per_bucket;
            let count = (n - first).min(rows_per_bucket);
            let mut arr = vec![u64::MAX; count as usize];
            let mut r = BufReader::with_capacity(1 << 20, File::open(&p).map_err(|e| io_err(format!("opening {}", p.display()), e))?);
            let mut pair = [0u8; 16];
            for _ in 0..count {
                r.read_exact(&mut pair).map_err(|e| io_err(format!("reading {}", p.display()), e))?;
                let row = u64::from_le_bytes(pair[..8].try_into().unwrap_or([0xff; 8]));
                let pos = u64::from_le_bytes(pair[8..].try_into().unwrap_or([0xff; 8]));
                match arr.get_mut(row.wrapping_sub(first) as usize) {
                    Some(slot) if *slot == u64::MAX => *slot = pos,
                    _ => return Err(OocError::Invariant(format!("row {row} misplaced in position bucket {b}"))),
                }
            }
            let bytes: Vec<u8> = arr.iter().flat_map(|p| p.to_le_bytes()).collect();
            wr(&bytes, layout.pos_off + 8 * first)?;
            let _ = fs::remove_file(&p);
        }
        Ok(())
    }
}

/// Hash the internal nodes level by level from the bottom (node `i` from `2i+1`, `2i+2`), a
/// chunk of each level at a time, reading children from the file and writing parents to it.
/// Returns the root.
fn hash_levels(file: &File, tname: &str, layout: &Layout) -> Result<Hash> {
    let n = layout.n;
    let node_at = |i: u64| layout.tree_off + 32 * i;
    if n == 1 {
        let mut root = [0u8; 32];
        file.read_exact_at(&mut root, node_at(0)).map_err(|e| io_err(format!("reading {tname}"), e))?;
        return Ok(root);
    }
    let lanes = Lanes::active();
    let internal = n - 1;
    const CHUNK: u64 = 1 << 17; // parents per step: 4 MiB out, 8 MiB in
    let mut children: Vec<Hash> = Vec::new();
    let mut parents: Vec<Hash> = Vec::new();
    let mut root = [0u8; 32];
    // Heap level d holds nodes [2^d - 1, 2^(d+1) - 1); start at the deepest level with internal nodes.
    let mut level_start = (internal + 1).next_power_of_two() / 2 - 1;
    loop {
        let level_end = (2 * level_start + 1).min(internal);
        let mut a = level_start;
        while a < level_end {
            let b = (a + CHUNK).min(level_end);
            let m = (b - a) as usize;
            children.resize(2 * m, [0u8; 32]);
            parents.resize(m, [0u8; 32]);
            file.read_exact_at(children.as_flattened_mut(), node_at(2 * a + 1))
                .map_err(|e| io_err(format!("reading {tname}"), e))?;
            parents.par_chunks_mut(1 << 11).zip(children.par_chunks(1 << 12)).for_each(|(out, ch)| lanes.level(ch, out));
            file.write_all_at(parents.as_flattened(), node_at(a)).map_err(|e| io_err(format!("writing {tname}"), e))?;
            if a == 0 {
                root = parents[0];
            }
            a = b;
        }
        if level_start == 0 {
            break;
        }
        level_start = (level_start - 1) / 2;
    }
    Ok(root)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::file::TreeFile;
    use nftreg_eth::keccak256;
    use nftreg_merkle::tree::{get_proof, IndexedTree};

    fn leaves(n: usize, dup_every: usize) -> Vec<Hash> {
        (0..n)
            .map(|i| {
                let k = if dup_every > 0 && i % dup_every == 0 { 7 } else { i };
                keccak256(&(k as u64).to_be_bytes())
            })
            .collect()
    }

    fn build(dir: &Path, name: &str, l: &[Hash], budget: usize, batch: usize) -> (TreeFile, Built) {
        let out = dir.join(name);
        let opts = Options { memory_budget: budget, temp_dir: None };
        let mut b = Builder::new(&out, vec!["bytes32".into()], &opts).unwrap();
        for c in l.chunks(batch) {
            b.push_many(c).unwrap();
        }
        let built = b.finish().unwrap();
        (TreeFile::open(&out).unwrap(), built)
    }

    fn scratch_dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("nftreg-ooc-test-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    /// Root, every node, every proof and every lookup equal the in-memory build, with and
    /// without spilled runs and position buckets, with duplicate leaves, at odd sizes.
    #[test]
    fn equals_in_memory_build() {
        let dir = scratch_dir("eq");
        for (n, dup) in [(1usize, 0usize), (2, 0), (2, 1), (3, 0), (5, 2), (7, 3), (64, 0), (1000, 0), (4097, 5), (70_001, 11), (300_000, 0)] {
            let l = leaves(n, dup);
            let mem = IndexedTree::build(&l, true).unwrap();
            // Tiny budget: MIN_BUDGET holds 26214 entries, so big sizes spill runs and buckets.
            for budget in [MIN_BUDGET, DEFAULT_BUDGET] {
                let (t, built) = build(&dir, &format!("t{n}-{budget}"), &l, budget, 999);
                assert_eq!(built.root, mem.root(), "n = {n}");
                assert_eq!(t.root(), mem.root());
                assert_eq!(t.len(), n as u64);
                if budget == MIN_BUDGET && n > 26214 {
                    assert!(built.runs > 1, "n = {n}: expected spilled runs");
                }
                for (i, node) in mem.tree.iter().enumerate() {
                    assert_eq!(t.node(i as u64), *node, "n = {n} node {i}");
                }
                for row in (0..n).step_by(1 + n / 500) {
                    assert_eq!(t.position(row as u64).unwrap(), mem.positions[row] as u64);
                    assert_eq!(t.proof(row as u64).unwrap(), get_proof(&mem.tree, mem.positions[row]).unwrap());
                }
                // Lookup: the highest row with that leaf, as the npm library's leafLookup.
                for row in (0..n).step_by(1 + n / 300) {
                    let want = (0..n).rev().find(|&r| l[r] == l[row]).unwrap() as u64;
                    assert_eq!(t.lookup(&l[row]).unwrap(), Some(want));
                }
                assert_eq!(t.lookup(&[0x42; 32]).unwrap(), None);
                t.validate().unwrap();
                fs::remove_file(dir.join(format!("t{n}-{budget}"))).unwrap();
            }
        }
        // No temp files are left behind.
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 0);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn damaged_files_are_refused() {
        let dir = scratch_dir("bad");
        let l = leaves(1000, 0);
        let (t, _) = build(&dir, "ok.bin", &l, DEFAULT_BUDGET, 100);
        let good = fs::read(dir.join("ok.bin")).unwrap();
        drop(t);
        let write = |name: &str, bytes: &[u8]| {
            let p = dir.join(name);
            fs::write(&p, bytes).unwrap();
            p
        };
        let msg = |p: &Path| TreeFile::open(p).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(msg(&write("short", &good[..100])).contains("shorter than"));
        assert!(msg(&write("trunc", &good[..good.len() - 8])).contains("truncated"));
        let mut bad = good.clone();
        bad[0] = b'X';
        assert!(msg(&write("magic", &bad)).contains("bad magic"));
        let mut bad = good.clone();
        bad[17] ^= 1;
        assert!(msg(&write("hdr", &bad)).contains("checksum"));
        // A flipped byte inside a node: the proofs through it are refused, validate finds it.
        let mut bad = good.clone();
        let pos = 1500u64; // a leaf
        bad[4096 + 32 * pos as usize + 3] ^= 0x10;
        let p = write("node", &bad);
        let t = TreeFile::open(&p).unwrap();
        let row = t.row_at(pos).unwrap();
        assert!(t.proof(row).unwrap_err().to_string().contains("corrupted"));
        assert!(t.validate().unwrap_err().to_string().contains("differs from the hash"));
        // The root node itself.
        let mut bad = good.clone();
        bad[4096] ^= 1;
        assert!(msg(&write("root", &bad)).contains("differs from the root"));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn empty_and_bad_options_are_refused() {
        let dir = scratch_dir("empty");
        let b = Builder::new(&dir.join("x"), vec!["bytes32".into()], &Options::default()).unwrap();
        assert!(b.finish().unwrap_err().to_string().contains("non-zero"));
        let small = Options { memory_budget: 10, temp_dir: None };
        assert!(Builder::new(&dir.join("x"), vec![], &small).is_err());
        let missing = Options { memory_budget: DEFAULT_BUDGET, temp_dir: Some(dir.join("nope")) };
        assert!(Builder::new(&dir.join("x"), vec![], &missing).err().map(|e| e.to_string()).unwrap_or_default().contains("temp dir"));
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 0);
        fs::remove_dir_all(&dir).unwrap();
    }
}
