//! `_core.cid`: binding for `nftreg-cid`: CIDs and content hashes of bytes or files (streamed,
//! GIL released), block checks and dag-pb decoding, and the embedded store's blockstore writer
//! (one file per block, written atomically: this logic lives here, next to the import that
//! produces the blocks, because it is the only disk layout nftreg writes from Rust).

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};

use nftreg_cid::dagpb;
use nftreg_cid::unixfs::{self, Profile};
use nftreg_cid::{cid_from_str, cid_to_string, profile_named, Cid, CidError};

use crate::errors::{invalid, Result};

fn profile(name: &str) -> Result<Profile> {
    Ok(profile_named(name)?)
}

/// Input: `bytes` (read in place: immutable, kept alive by the caller's reference), another
/// buffer (copied once, as it could change under us), or a path (str / os.PathLike, streamed).
enum Source<'py> {
    Borrowed(Bound<'py, PyBytes>),
    Owned(Vec<u8>),
    Path(PathBuf),
}

fn source<'py>(obj: &Bound<'py, PyAny>) -> Result<Source<'py>> {
    if obj.is_instance_of::<PyString>() || obj.hasattr("__fspath__")? {
        let p: PathBuf = obj.extract().map_err(|_| invalid("path: not a valid path"))?;
        return Ok(Source::Path(p));
    }
    if let Ok(b) = obj.downcast::<PyBytes>() {
        return Ok(Source::Borrowed(b.clone()));
    }
    crate::buffers::bytes_like(obj, "data")
        .map(Source::Owned)
        .map_err(|_| invalid(format!("expected bytes, a buffer or a file path, got {}", type_name(obj))))
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "?".into())
}

fn open(p: &Path) -> Result<File> {
    // Chunks are read 256 KiB - 1 MiB at a time: no BufReader (it would only add a copy).
    File::open(p).map_err(|e| invalid(format!("{}: {e}", p.display())))
}

/// Run `f` over the source's bytes with the GIL released.
fn with_reader<T: Send>(
    py: Python<'_>,
    src: &Source<'_>,
    f: impl FnOnce(Input<'_>) -> std::io::Result<T> + Send,
) -> Result<T> {
    let r = match src {
        Source::Borrowed(b) => {
            let bytes = b.as_bytes();
            py.allow_threads(|| f(Input::Bytes(bytes)))
        }
        Source::Owned(b) => py.allow_threads(|| f(Input::Bytes(&b[..]))),
        Source::Path(p) => {
            let file = open(p)?;
            py.allow_threads(|| f(Input::File(file)))
        }
    };
    Ok(r.map_err(CidError::Read)?)
}

enum Input<'a> {
    Bytes(&'a [u8]),
    File(File),
}

impl Read for Input<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Input::Bytes(b) => b.read(buf),
            Input::File(f) => f.read(buf),
        }
    }
}

/// CID of `data_or_path` as Kubo's `ipfs add --only-hash` gives it for `profile`.
#[pyfunction]
#[pyo3(signature = (data_or_path, profile_name = "unixfs-v1-2025"))]
fn cid_of(py: Python<'_>, data_or_path: &Bound<'_, PyAny>, profile_name: &str) -> Result<String> {
    let p = profile(profile_name)?;
    let src = source(data_or_path)?;
    let r = with_reader(py, &src, |r| unixfs::cid_only(r, p))?;
    Ok(cid_to_string(&r.root))
}

/// SHA-256 of the bytes (the asset's on-chain content hash).
#[pyfunction]
fn content_hash<'py>(py: Python<'py>, data_or_path: &Bound<'py, PyAny>) -> Result<Bound<'py, PyBytes>> {
    let src = source(data_or_path)?;
    let h = with_reader(py, &src, |r| unixfs::sha256_stream(r))?;
    Ok(PyBytes::new(py, &h))
}

static TMP_COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn block_path(dir: &Path, cid: &str) -> PathBuf {
    let shard = &cid[cid.len().saturating_sub(3)..cid.len().saturating_sub(1)];
    dir.join(shard).join(format!("{cid}.data"))
}

/// A block's file is already in place and intact (an intact copy is kept; a corrupted one --
/// bit rot, a torn write -- is replaced).
fn block_present(path: &Path, cid: &Cid) -> bool {
    std::fs::read(path).is_ok_and(|old| cid.matches(&old))
}

/// Write `block` to a temporary file next to `path` (unique per process and call: concurrent
/// imports of the same block must not share one), fdatasynced when `sync`. Returns its path.
fn write_tmp(path: &Path, block: &[u8], sync: bool) -> std::io::Result<PathBuf> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let n = TMP_COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = path.with_extension(format!("tmp{}-{n}", std::process::id()));
    let written = File::create(&tmp).and_then(|mut f| {
        f.write_all(block)?;
        if sync {
            f.sync_data()?;
        }
        Ok(())
    });
    match written {
        Ok(()) => Ok(tmp),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// Import into a blockstore directory (one file per block, written atomically: fdatasynced,
/// then renamed into place). Returns (root CID, file size, number of blocks).
#[pyfunction]
#[pyo3(signature = (data_or_path, blockstore, profile_name = "unixfs-v1-2025"))]
fn import_to_blockstore(py: Python<'_>, data_or_path: &Bound<'_, PyAny>, blockstore: PathBuf, profile_name: &str) -> Result<(String, u64, u64)> {
    let p = profile(profile_name)?;
    let src = source(data_or_path)?;
    let dir = blockstore.clone();
    let mut write_err: Option<std::io::Error> = None;
    let r = with_reader(py, &src, |r| {
        unixfs::import(r, p, &mut |cid: &Cid, block: &[u8]| {
            if write_err.is_some() {
                return;
            }
            let path = block_path(&dir, &cid_to_string(cid));
            if block_present(&path, cid) {
                return;
            }
            let res = write_tmp(&path, block, true).and_then(|tmp| {
                std::fs::rename(&tmp, &path).inspect_err(|_| {
                    let _ = std::fs::remove_file(&tmp);
                })
            });
            if let Err(e) = res {
                write_err = Some(e);
            }
        })
    })?;
    if let Some(e) = write_err {
        return Err(CidError::Write(e).into());
    }
    Ok((cid_to_string(&r.root), r.filesize, r.blocks))
}

/// Threads that wait on the disk in `import_many_to_blockstore`: the filesystem journal commits
/// concurrent fdatasyncs together, so many in flight cost little more than one.
const IO_THREADS: usize = 32;

/// Run `f` over `items` on up to `IO_THREADS` scoped threads (I/O-bound work: more threads than
/// cores); the first error wins.
fn par_io<T: Sync>(items: &[T], f: impl Fn(&T) -> std::io::Result<()> + Sync) -> std::io::Result<()> {
    if items.len() <= 1 {
        return items.iter().try_for_each(&f);
    }
    let per = items.len().div_ceil(IO_THREADS.min(items.len()));
    std::thread::scope(|sc| {
        let handles: Vec<_> = items.chunks(per).map(|c| sc.spawn(|| c.iter().try_for_each(&f))).collect();
        handles.into_iter().try_for_each(|h| h.join().unwrap_or_else(|_| Err(std::io::Error::other("I/O thread panicked"))))
    })
}

/// Import many small documents (metadata JSON) into a blockstore directory in one call, with
/// the same atomic, durable files as `import_to_blockstore` but one group flush: every new
/// block is written to its temporary file and fdatasynced on a pool of I/O threads (the
/// filesystem journal commits them together instead of once per document), and only when all
/// are on disk are they renamed into place (a failure leaves no block of the call). With
/// `pins`, each root is then pinned (an empty file named by its CID in that directory, as
/// `EmbeddedStore.pin` writes). Returns the root CIDs in input order.
#[pyfunction]
#[pyo3(signature = (documents, blockstore, profile_name = "unixfs-v1-2025", pins = None))]
fn import_many_to_blockstore(
    py: Python<'_>,
    documents: Vec<Vec<u8>>,
    blockstore: PathBuf,
    profile_name: &str,
    pins: Option<PathBuf>,
) -> Result<Vec<String>> {
    let p = profile(profile_name)?;
    let res: std::io::Result<Vec<String>> = py.allow_threads(|| {
        let mut roots = Vec::with_capacity(documents.len());
        let mut blocks: Vec<(PathBuf, Vec<u8>)> = Vec::new(); // (final path, bytes) of new blocks
        let mut seen = std::collections::HashSet::new();
        for doc in &documents {
            let r = unixfs::import(&doc[..], p, &mut |cid: &Cid, block: &[u8]| {
                let path = block_path(&blockstore, &cid_to_string(cid));
                if seen.insert(path.clone()) && !block_present(&path, cid) {
                    blocks.push((path, block.to_vec()));
                }
            })?;
            roots.push(cid_to_string(&r.root));
        }
        let tmps: Vec<std::sync::Mutex<Option<PathBuf>>> = blocks.iter().map(|_| std::sync::Mutex::new(None)).collect();
        let idx: Vec<usize> = (0..blocks.len()).collect();
        let written = par_io(&idx, |&i| {
            let tmp = write_tmp(&blocks[i].0, &blocks[i].1, true)?;
            *tmps[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(tmp);
            Ok(())
        });
        let tmps: Vec<Option<PathBuf>> = tmps.into_iter().map(|m| m.into_inner().unwrap_or_else(|e| e.into_inner())).collect();
        let renamed = written.and_then(|()| {
            blocks.iter().zip(&tmps).try_for_each(|((path, _), tmp)| match tmp {
                Some(t) => std::fs::rename(t, path),
                None => Err(std::io::Error::other("block not written")),
            })
        });
        if let Err(e) = renamed {
            for t in tmps.iter().flatten() {
                let _ = std::fs::remove_file(t);
            }
            return Err(e);
        }
        if let Some(dir) = &pins {
            let mut uniq: Vec<&String> = roots.iter().collect();
            uniq.sort();
            uniq.dedup();
            par_io(&uniq, |cid| {
                std::fs::OpenOptions::new().create(true).append(true).open(dir.join(cid.as_str())).map(|_| ())
            })?;
        }
        Ok(roots)
    });
    Ok(res.map_err(CidError::Write)?)
}

/// Path of a block's file inside a blockstore directory.
#[pyfunction]
fn blockstore_path(blockstore: PathBuf, cid: &str) -> Result<PathBuf> {
    let c = cid_from_str(cid)?;
    Ok(block_path(&blockstore, &cid_to_string(&c)))
}

/// Does `block` hash to `cid`?
#[pyfunction]
fn block_matches(cid: &str, block: &[u8]) -> Result<bool> {
    let c = cid_from_str(cid)?;
    Ok(c.matches(block))
}

/// (version, codec, binary CID) of a CID string, with its canonical string form.
#[pyfunction]
fn cid_info<'py>(py: Python<'py>, cid: &str) -> Result<(u8, u64, Bound<'py, PyBytes>, String)> {
    let c = cid_from_str(cid)?;
    Ok((c.version, c.codec, PyBytes::new(py, &c.to_bytes()), cid_to_string(&c)))
}

/// Decode a dag-pb block: (child CIDs, UnixFS file data bytes).
#[pyfunction]
fn decode_dag_pb<'py>(py: Python<'py>, block: &[u8]) -> Result<(Vec<String>, Bound<'py, PyBytes>)> {
    let d = dagpb::decode_pb_node(block).ok_or(CidError::NotDagPb)?;
    let data = dagpb::unixfs_data(&d.data).ok_or(CidError::NotUnixfs)?;
    Ok((d.links.iter().map(cid_to_string).collect(), PyBytes::new(py, &data)))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(cid_of, m)?)?;
    m.add_function(wrap_pyfunction!(content_hash, m)?)?;
    m.add_function(wrap_pyfunction!(import_to_blockstore, m)?)?;
    m.add_function(wrap_pyfunction!(import_many_to_blockstore, m)?)?;
    m.add_function(wrap_pyfunction!(blockstore_path, m)?)?;
    m.add_function(wrap_pyfunction!(block_matches, m)?)?;
    m.add_function(wrap_pyfunction!(cid_info, m)?)?;
    m.add_function(wrap_pyfunction!(decode_dag_pb, m)?)?;
    Ok(())
}
