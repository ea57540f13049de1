//! `nftreg._core.tlog`, the binding for `nftreg-tlog`: the registration log's tree, tiles, bundles, checkpoints and
//! signed notes. Conversions only; the tree is shared between the sequencer thread and the
//! HTTP threads behind a lock taken with the GIL released.

use std::sync::RwLock;

use pyo3::prelude::*;
use pyo3::types::PyBytes;

use nftreg_tlog::note;
use nftreg_tlog::tile::{self, TileId};
use nftreg_tlog::{Hash, TlogError, Tree};

use crate::buffers::bytes_like;
use crate::errors::{invariant, Error, Result};

fn terr(e: TlogError) -> Error {
    e.into()
}

fn invalid(msg: impl Into<String>) -> Error {
    crate::errors::invalid(msg)
}

fn hash32(obj: &Bound<'_, PyAny>, what: &str) -> Result<Hash> {
    let b = bytes_like(obj, what)?;
    b.as_slice().try_into().map_err(|_| invalid(format!("{what}: expected 32 bytes, got {}", b.len())))
}

fn hashes(objs: &[Bound<'_, PyAny>], what: &str) -> Result<Vec<Hash>> {
    objs.iter().enumerate().map(|(i, o)| hash32(o, &format!("{what}[{i}]"))).collect()
}

fn entries_of(objs: &[Bound<'_, PyAny>]) -> Result<Vec<Vec<u8>>> {
    objs.iter().enumerate().map(|(i, o)| bytes_like(o, &format!("entries[{i}]"))).collect()
}

fn out_hashes<'py>(py: Python<'py>, hs: &[Hash]) -> Vec<Bound<'py, PyBytes>> {
    hs.iter().map(|h| PyBytes::new(py, h)).collect()
}

fn tile_id(level: Option<u8>, index: u64, width: u16) -> Result<TileId> {
    if width == 0 || width as u64 > tile::TILE_WIDTH {
        return Err(invalid(format!("tile width {width} is not between 1 and 256")));
    }
    if level.is_some_and(|l| l > 63) {
        return Err(invalid("tile level is above 63"));
    }
    Ok(TileId { level, index, width })
}

/// The log's Merkle tree in memory (every complete subtree hash, ~64 bytes per entry).
#[pyclass(module = "nftreg._core.tlog", name = "LogTree", frozen)]
pub struct LogTree {
    tree: RwLock<Tree>,
}

impl LogTree {
    fn read<T: Send>(&self, py: Python<'_>, f: impl FnOnce(&Tree) -> T + Send) -> Result<T> {
        py.allow_threads(|| self.tree.read().map(|t| f(&t)).map_err(|_| invariant("log tree lock poisoned")))
    }
    fn write<T: Send>(&self, py: Python<'_>, f: impl FnOnce(&mut Tree) -> T + Send) -> Result<T> {
        py.allow_threads(|| self.tree.write().map(|mut t| f(&mut t)).map_err(|_| invariant("log tree lock poisoned")))
    }
}

#[pymethods]
impl LogTree {
    #[new]
    fn new() -> Self {
        LogTree { tree: RwLock::new(Tree::new()) }
    }

    #[getter]
    fn size(&self, py: Python<'_>) -> Result<u64> {
        self.read(py, |t| t.size())
    }

    /// Hash `entries` as leaves and append them; returns the index of the first.
    fn append(&self, py: Python<'_>, entries: Vec<Bound<'_, PyAny>>) -> Result<u64> {
        let es = entries_of(&entries)?;
        self.write(py, |t| t.append_entries(&es))
    }

    /// Append leaf hashes given as n * 32 bytes; returns the index of the first.
    fn append_leaf_hashes(&self, py: Python<'_>, hashes: Bound<'_, PyAny>) -> Result<u64> {
        let b = bytes_like(&hashes, "hashes")?;
        if b.len() % 32 != 0 {
            return Err(invalid(format!("hashes: {} bytes is not a multiple of 32", b.len())));
        }
        self.write(py, |t| {
            let first = t.size();
            for c in b.chunks_exact(32) {
                let mut h = [0u8; 32];
                h.copy_from_slice(c);
                t.push_leaf_hash(h);
            }
            first
        })
    }

    /// Forget every entry past `size`.
    fn truncate(&self, py: Python<'_>, size: u64) -> Result<()> {
        self.write(py, |t| t.truncate(size))
    }

    #[pyo3(signature = (size=None))]
    fn root<'py>(&self, py: Python<'py>, size: Option<u64>) -> Result<Bound<'py, PyBytes>> {
        let r = self.read(py, |t| t.root(size.unwrap_or(t.size())))?.map_err(terr)?;
        Ok(PyBytes::new(py, &r))
    }

    fn leaf_hash<'py>(&self, py: Python<'py>, index: u64) -> Result<Bound<'py, PyBytes>> {
        let h = self.read(py, |t| t.subtree(0, index).copied())?;
        h.map(|h| PyBytes::new(py, &h)).ok_or_else(|| invalid(format!("index {index} is beyond the log")))
    }

    #[pyo3(signature = (index, size=None))]
    fn inclusion_proof<'py>(&self, py: Python<'py>, index: u64, size: Option<u64>) -> Result<Vec<Bound<'py, PyBytes>>> {
        let p = self.read(py, |t| t.inclusion_proof(index, size.unwrap_or(t.size())))?.map_err(terr)?;
        Ok(out_hashes(py, &p))
    }

    #[pyo3(signature = (old, new=None))]
    fn consistency_proof<'py>(&self, py: Python<'py>, old: u64, new: Option<u64>) -> Result<Vec<Bound<'py, PyBytes>>> {
        let p = self.read(py, |t| t.consistency_proof(old, new.unwrap_or(t.size())))?.map_err(terr)?;
        Ok(out_hashes(py, &p))
    }

    /// The bytes of tile (`level`, `index`, `width`) of this tree.
    fn tile<'py>(&self, py: Python<'py>, level: u8, index: u64, width: u16) -> Result<Bound<'py, PyBytes>> {
        let id = tile_id(Some(level), index, width)?;
        let b = self.read(py, |t| tile::tile_bytes(t, &id))?.map_err(terr)?;
        Ok(PyBytes::new(py, &b))
    }
}

#[pyfunction]
fn leaf_hash<'py>(py: Python<'py>, entry: Bound<'py, PyAny>) -> Result<Bound<'py, PyBytes>> {
    let e = bytes_like(&entry, "entry")?;
    Ok(PyBytes::new(py, &nftreg_tlog::leaf_hash(&e)))
}

/// Leaf hashes of many entries, concatenated (n * 32 bytes).
#[pyfunction]
fn leaf_hashes<'py>(py: Python<'py>, entries: Vec<Bound<'py, PyAny>>) -> Result<Bound<'py, PyBytes>> {
    let es = entries_of(&entries)?;
    let out: Vec<u8> = py.allow_threads(|| es.iter().flat_map(|e| nftreg_tlog::leaf_hash(e)).collect());
    Ok(PyBytes::new(py, &out))
}

#[pyfunction]
fn node_hash<'py>(py: Python<'py>, left: Bound<'py, PyAny>, right: Bound<'py, PyAny>) -> Result<Bound<'py, PyBytes>> {
    let (l, r) = (hash32(&left, "left")?, hash32(&right, "right")?);
    Ok(PyBytes::new(py, &nftreg_tlog::node_hash(&l, &r)))
}

#[pyfunction]
fn verify_inclusion(
    leaf_hash: Bound<'_, PyAny>,
    index: u64,
    size: u64,
    proof: Vec<Bound<'_, PyAny>>,
    root: Bound<'_, PyAny>,
) -> Result<bool> {
    let leaf = hash32(&leaf_hash, "leaf_hash")?;
    let p = hashes(&proof, "proof")?;
    let r = hash32(&root, "root")?;
    Ok(nftreg_tlog::verify_inclusion(&leaf, index, size, &p, &r))
}

#[pyfunction]
fn verify_consistency(
    old: u64,
    new: u64,
    old_root: Bound<'_, PyAny>,
    new_root: Bound<'_, PyAny>,
    proof: Vec<Bound<'_, PyAny>>,
) -> Result<bool> {
    let (a, b) = (hash32(&old_root, "old_root")?, hash32(&new_root, "new_root")?);
    let p = hashes(&proof, "proof")?;
    Ok(nftreg_tlog::verify_consistency(old, new, &a, &b, &p))
}

/// Path of a tile (`level` None = entry bundle), e.g. `tile/0/x001/234.p/112`.
#[pyfunction]
#[pyo3(signature = (level, index, width=256))]
fn tile_path(level: Option<u8>, index: u64, width: u16) -> Result<String> {
    Ok(tile_id(level, index, width)?.path())
}

/// (level or None for entries, index, width) of a canonical tile path.
#[pyfunction]
fn parse_tile_path(path: &str) -> Result<(Option<u8>, u64, u16)> {
    let t = tile::parse_path(path).map_err(terr)?;
    Ok((t.level, t.index, t.width))
}

/// Tiles (level, index, width) to write when the tree grows from `old` to `new` entries.
#[pyfunction]
fn new_tiles(old: u64, new: u64) -> Vec<(u8, u64, u16)> {
    tile::new_tiles(old, new).into_iter().map(|t| (t.level.unwrap_or(0), t.index, t.width)).collect()
}

#[pyfunction]
fn encode_bundle<'py>(py: Python<'py>, entries: Vec<Bound<'py, PyAny>>) -> Result<Bound<'py, PyBytes>> {
    let es = entries_of(&entries)?;
    let b = tile::encode_bundle(&es).map_err(terr)?;
    Ok(PyBytes::new(py, &b))
}

#[pyfunction]
fn decode_bundle<'py>(py: Python<'py>, data: Bound<'py, PyAny>) -> Result<Vec<Bound<'py, PyBytes>>> {
    let d = bytes_like(&data, "data")?;
    let es = tile::decode_bundle(&d).map_err(terr)?;
    Ok(es.into_iter().map(|e| PyBytes::new(py, e)).collect())
}

#[pyfunction]
fn checkpoint_text(origin: &str, size: u64, root: Bound<'_, PyAny>) -> Result<String> {
    note::checkpoint_text(origin, size, &hash32(&root, "root")?).map_err(terr)
}

/// (origin, size, root, extension lines) of a checkpoint note text.
#[pyfunction]
fn parse_checkpoint<'py>(py: Python<'py>, text: &str) -> Result<(String, u64, Bound<'py, PyBytes>, Vec<String>)> {
    let c = note::parse_checkpoint(text).map_err(terr)?;
    Ok((c.origin, c.size, PyBytes::new(py, &c.root), c.extensions))
}

fn seed32(obj: &Bound<'_, PyAny>) -> Result<[u8; 32]> {
    let b = bytes_like(obj, "seed")?;
    b.as_slice().try_into().map_err(|_| invalid("seed: an Ed25519 seed is 32 bytes"))
}

/// Sign a note text with the Ed25519 key of `seed` under key name `name`.
#[pyfunction]
fn note_sign(text: &str, name: &str, seed: Bound<'_, PyAny>) -> Result<String> {
    note::sign(text, name, &seed32(&seed)?).map_err(terr)
}

/// The text of `msg` if it carries a valid signature by (`name`, `public_key`).
#[pyfunction]
fn note_open(msg: &str, name: &str, public_key: Bound<'_, PyAny>) -> Result<String> {
    note::open(msg, name, &hash32(&public_key, "public_key")?).map_err(terr)
}

#[pyfunction]
fn note_key_id(name: &str, public_key: Bound<'_, PyAny>) -> Result<u32> {
    Ok(note::key_id(name, &hash32(&public_key, "public_key")?))
}

#[pyfunction]
fn note_public_key<'py>(py: Python<'py>, seed: Bound<'py, PyAny>) -> Result<Bound<'py, PyBytes>> {
    Ok(PyBytes::new(py, &note::public_key(&seed32(&seed)?)))
}

#[pyfunction]
fn note_verifier_key(name: &str, public_key: Bound<'_, PyAny>) -> Result<String> {
    note::verifier_key(name, &hash32(&public_key, "public_key")?).map_err(terr)
}

#[pyfunction]
fn note_signer_key(name: &str, seed: Bound<'_, PyAny>) -> Result<String> {
    note::signer_key(name, &seed32(&seed)?).map_err(terr)
}

#[pyfunction]
fn note_parse_verifier_key<'py>(py: Python<'py>, vkey: &str) -> Result<(String, Bound<'py, PyBytes>)> {
    let (n, k) = note::parse_verifier_key(vkey).map_err(terr)?;
    Ok((n, PyBytes::new(py, &k)))
}

#[pyfunction]
fn note_parse_signer_key<'py>(py: Python<'py>, skey: &str) -> Result<(String, Bound<'py, PyBytes>)> {
    let (n, s) = note::parse_signer_key(skey).map_err(terr)?;
    Ok((n, PyBytes::new(py, &s)))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<LogTree>()?;
    m.add_function(wrap_pyfunction!(leaf_hash, m)?)?;
    m.add_function(wrap_pyfunction!(leaf_hashes, m)?)?;
    m.add_function(wrap_pyfunction!(node_hash, m)?)?;
    m.add_function(wrap_pyfunction!(verify_inclusion, m)?)?;
    m.add_function(wrap_pyfunction!(verify_consistency, m)?)?;
    m.add_function(wrap_pyfunction!(tile_path, m)?)?;
    m.add_function(wrap_pyfunction!(parse_tile_path, m)?)?;
    m.add_function(wrap_pyfunction!(new_tiles, m)?)?;
    m.add_function(wrap_pyfunction!(encode_bundle, m)?)?;
    m.add_function(wrap_pyfunction!(decode_bundle, m)?)?;
    m.add_function(wrap_pyfunction!(checkpoint_text, m)?)?;
    m.add_function(wrap_pyfunction!(parse_checkpoint, m)?)?;
    m.add_function(wrap_pyfunction!(note_sign, m)?)?;
    m.add_function(wrap_pyfunction!(note_open, m)?)?;
    m.add_function(wrap_pyfunction!(note_key_id, m)?)?;
    m.add_function(wrap_pyfunction!(note_public_key, m)?)?;
    m.add_function(wrap_pyfunction!(note_verifier_key, m)?)?;
    m.add_function(wrap_pyfunction!(note_signer_key, m)?)?;
    m.add_function(wrap_pyfunction!(note_parse_verifier_key, m)?)?;
    m.add_function(wrap_pyfunction!(note_parse_signer_key, m)?)?;
    Ok(())
}
