//! Kubo's balanced UnixFS layout (boxo `importer/balanced`) over a fixed-size chunker.

use std::io::Read;

use rayon::prelude::*;

use crate::dagpb::{pb_node, unixfs_file, Link};
use crate::multiformats::{sha256, Cid, DAG_PB, RAW};

/// An import profile: everything that changes the resulting CID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Profile {
    pub cid_version: u8,
    pub raw_leaves: bool,
    pub chunk_size: usize,
    pub max_links: usize,
}

impl Profile {
    pub const V1_2025: Profile = Profile { cid_version: 1, raw_leaves: true, chunk_size: 1 << 20, max_links: 1024 };
    pub const V0_2015: Profile = Profile { cid_version: 0, raw_leaves: false, chunk_size: 256 << 10, max_links: 174 };

    pub fn by_name(name: &str) -> Option<Profile> {
        match name {
            "unixfs-v1-2025" => Some(Profile::V1_2025),
            "unixfs-v0-2015" | "legacy-cid-v0" => Some(Profile::V0_2015),
            _ => None,
        }
    }
}

/// A finished DAG node as its parent sees it.
#[derive(Debug, Clone, Copy)]
struct Node {
    cid: Cid,
    tsize: u64,
    filesize: u64,
}

/// Result of an import.
#[derive(Debug, Clone, Copy)]
pub struct Imported {
    pub root: Cid,
    pub filesize: u64,
    /// Total size of all blocks of the DAG (Kubo's `CumulativeSize`).
    pub tsize: u64,
    pub blocks: u64,
}

/// Bytes read per batch; chunks of one batch are hashed in parallel while the next batch is
/// read. Two batches in flight bound the memory.
const BATCH_BYTES: usize = 16 << 20;

struct Leaves<'a, R: Read + Send, F: FnMut(&Cid, &[u8])> {
    reader: R,
    profile: Profile,
    ready: std::collections::VecDeque<Node>,
    eof: bool,
    on_block: &'a mut F,
    want_blocks: bool,
    blocks: u64,
    /// The batch read ahead while the previous one was hashed.
    next_batch: Option<Vec<Vec<u8>>>,
    /// Chunk buffers for reuse (no page faults on every chunk).
    pool: Vec<Vec<u8>>,
}

/// Fill `buf` (its capacity is the chunk size) from `r`; returns bytes read (short = EOF).
fn read_chunk<R: Read>(r: &mut R, buf: &mut Vec<u8>, size: usize) -> std::io::Result<usize> {
    buf.resize(size, 0);
    let mut filled = 0;
    while filled < size {
        match r.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    buf.truncate(filled);
    Ok(filled)
}

/// The two ends of a dag-pb `File` leaf around its data: the block is `pre ‖ data ‖ post`.
fn leaf_frame(len: usize) -> (Vec<u8>, Vec<u8>) {
    use crate::multiformats::put_varint;
    let mut post = vec![0x18];
    put_varint(&mut post, len as u64);
    let mut unixfs_head = vec![0x08, 0x02, 0x12];
    put_varint(&mut unixfs_head, len as u64);
    let unixfs_len = unixfs_head.len() + len + post.len();
    let mut pre = vec![0x0a];
    put_varint(&mut pre, unixfs_len as u64);
    pre.extend_from_slice(&unixfs_head);
    (pre, post)
}

fn hash_leaf(p: Profile, c: &[u8], want_block: bool) -> (Node, Option<Vec<u8>>) {
    use sha2::{Digest, Sha256};
    if p.raw_leaves {
        let n = Node { cid: Cid { version: 1, codec: RAW, digest: sha256(c) }, tsize: c.len() as u64, filesize: c.len() as u64 };
        return (n, None);
    }
    let (pre, post) = leaf_frame(c.len());
    let mut h = Sha256::new();
    h.update(&pre);
    h.update(c);
    h.update(&post);
    let size = (pre.len() + c.len() + post.len()) as u64;
    let node = Node { cid: Cid { version: p.cid_version, codec: DAG_PB, digest: h.finalize().into() }, tsize: size, filesize: c.len() as u64 };
    let block = want_block.then(|| [pre.as_slice(), c, post.as_slice()].concat());
    (node, block)
}

impl<R: Read + Send, F: FnMut(&Cid, &[u8])> Leaves<'_, R, F> {
    fn read_batch(reader: &mut R, pool: &mut Vec<Vec<u8>>, chunk: usize) -> std::io::Result<(Vec<Vec<u8>>, bool)> {
        let per_batch = (BATCH_BYTES / chunk).max(1);
        let mut chunks = Vec::with_capacity(per_batch);
        let mut eof = false;
        for _ in 0..per_batch {
            let mut buf = pool.pop().unwrap_or_else(|| Vec::with_capacity(chunk));
            let n = read_chunk(reader, &mut buf, chunk)?;
            if n > 0 {
                chunks.push(buf);
            }
            if n < chunk {
                eof = true;
                break;
            }
        }
        Ok((chunks, eof))
    }

    fn refill(&mut self) -> std::io::Result<()> {
        if !self.ready.is_empty() {
            return Ok(());
        }
        let chunks = match self.next_batch.take() {
            Some(c) => c,
            None if self.eof => return Ok(()),
            None => {
                let (c, eof) = Self::read_batch(&mut self.reader, &mut self.pool, self.profile.chunk_size)?;
                self.eof = eof;
                c
            }
        };
        if chunks.is_empty() {
            return Ok(());
        }
        let p = self.profile;
        let want = self.want_blocks;
        // Hash this batch on the pool while this thread reads the next one.
        let (built, next) = {
            let reader = &mut self.reader;
            let pool = &mut self.pool;
            let eof = self.eof;
            rayon::join(
                || chunks.par_iter().map(|c| hash_leaf(p, c, want)).collect::<Vec<_>>(),
                || if eof { Ok((Vec::new(), true)) } else { Self::read_batch(reader, pool, p.chunk_size) },
            )
        };
        let (next_chunks, next_eof) = next?;
        if !next_chunks.is_empty() {
            self.next_batch = Some(next_chunks);
        }
        self.eof = self.eof || next_eof;
        for ((node, block), chunk) in built.into_iter().zip(chunks) {
            if want {
                (self.on_block)(&node.cid, block.as_deref().unwrap_or(&chunk));
            }
            self.blocks += 1;
            self.ready.push_back(node);
            self.pool.push(chunk);
        }
        Ok(())
    }

    fn done(&mut self) -> std::io::Result<bool> {
        self.refill()?;
        Ok(self.ready.is_empty())
    }

    fn next(&mut self) -> std::io::Result<Node> {
        self.refill()?;
        self.ready.pop_front().ok_or_else(|| std::io::Error::other("no more leaves"))
    }

    fn internal(&mut self, children: &[Node]) -> Node {
        let sizes: Vec<u64> = children.iter().map(|c| c.filesize).collect();
        let filesize = sizes.iter().sum();
        let links: Vec<Link> = children.iter().map(|c| Link { cid: c.cid, tsize: c.tsize }).collect();
        let block = pb_node(&links, &unixfs_file(None, filesize, &sizes));
        let cid = Cid::of_block(self.profile.cid_version, DAG_PB, &block);
        if self.want_blocks {
            (self.on_block)(&cid, &block);
        }
        self.blocks += 1;
        Node { cid, tsize: block.len() as u64 + children.iter().map(|c| c.tsize).sum::<u64>(), filesize }
    }

    fn fill(&mut self, mut children: Vec<Node>, depth: usize) -> std::io::Result<Node> {
        while children.len() < self.profile.max_links && !self.done()? {
            let child = if depth == 1 { self.next()? } else { self.fill(Vec::new(), depth - 1)? };
            children.push(child);
        }
        Ok(self.internal(&children))
    }
}

/// Import a byte stream as Kubo's `ipfs add` would with `profile`; every block (leaves and
/// internal nodes, children before parents) is passed to `on_block`.
pub fn import<R: Read + Send, F: FnMut(&Cid, &[u8])>(reader: R, profile: Profile, on_block: &mut F) -> std::io::Result<Imported> {
    import_inner(reader, profile, on_block, true)
}

/// Like `import`, but only computes the root (no leaf blocks are materialised).
pub fn cid_only<R: Read + Send>(reader: R, profile: Profile) -> std::io::Result<Imported> {
    import_inner(reader, profile, &mut |_: &Cid, _: &[u8]| {}, false)
}

fn import_inner<R: Read + Send, F: FnMut(&Cid, &[u8])>(reader: R, profile: Profile, on_block: &mut F, want_blocks: bool) -> std::io::Result<Imported> {
    if profile.chunk_size == 0 || profile.max_links < 2 {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "chunk size must be > 0 and max links >= 2"));
    }
    let mut l = Leaves {
        reader,
        profile,
        ready: Default::default(),
        eof: false,
        on_block,
        want_blocks,
        blocks: 0,
        next_batch: None,
        pool: Vec::new(),
    };
    let root = if l.done()? {
        // empty input: one empty leaf
        if profile.raw_leaves {
            let cid = Cid { version: 1, codec: RAW, digest: sha256(b"") };
            (l.on_block)(&cid, b"");
            l.blocks += 1;
            Node { cid, tsize: 0, filesize: 0 }
        } else {
            let block = pb_node(&[], &unixfs_file(None, 0, &[]));
            let cid = Cid::of_block(profile.cid_version, DAG_PB, &block);
            (l.on_block)(&cid, &block);
            l.blocks += 1;
            Node { cid, tsize: block.len() as u64, filesize: 0 }
        }
    } else {
        let mut root = l.next()?;
        let mut depth = 1;
        while !l.done()? {
            root = l.fill(vec![root], depth)?;
            depth += 1;
        }
        root
    };
    Ok(Imported { root: root.cid, filesize: root.filesize, tsize: root.tsize, blocks: l.blocks })
}

/// Streaming SHA-256 of a byte stream (SHA-NI where the CPU has it).
pub fn sha256_stream<R: Read>(mut reader: R) -> std::io::Result<[u8; 32]> {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => h.update(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(h.finalize().into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cid_to_string;

    fn cid(data: &[u8], p: Profile) -> String {
        cid_to_string(&import(data, p, &mut |_, _| {}).unwrap().root)
    }

    #[test]
    fn empty_inputs() {
        assert_eq!(cid(b"", Profile::V0_2015), "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH");
        assert_eq!(cid(b"", Profile::V1_2025), "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku");
    }

    #[test]
    fn small_file_is_a_single_leaf() {
        // `echo hello | ipfs add` (Kubo defaults) is QmZULkCELmmk5XNfCgTnCyFgAVxBRBXyDHGGMVoLFLiXEN
        assert_eq!(cid(b"hello\n", Profile::V0_2015), "QmZULkCELmmk5XNfCgTnCyFgAVxBRBXyDHGGMVoLFLiXEN");
    }

    fn pattern(n: usize) -> Vec<u8> {
        (0..n).map(|i| i as u8).collect()
    }

    // Vectors from Kubo 0.41.0 `ipfs add --only-hash` with explicit options over bytes
    // `i % 256`, so these run without a daemon; tests/test_cid_kubo.py checks many more
    // shapes against the live binary.
    #[test]
    fn multi_chunk_vectors_from_kubo() {
        let tiny = |v1: bool| Profile { cid_version: v1 as u8, raw_leaves: v1, chunk_size: 1024, max_links: 3 };
        let cases: [(usize, Profile, &str); 6] = [
            (1048577, Profile::V1_2025, "bafybeidilpoket5zygjfcrvh76gvmez7iwgzmf55stwnofqxvprkyjlf7y"),
            (3145728, Profile::V1_2025, "bafybeignibaewothtuttuzcxzretnwuon55js6prplz6uzn2sgzvcscka4"),
            (262145, Profile::V0_2015, "QmRZxDLdjSMPrpDsSJ4vucbwMSa6RogubGfDrt5g6w996b"),
            (786432, Profile::V0_2015, "QmVS9tt9ViJoq3S5S81hN4b7XYYL5TMNkawoRUs2rgK2NC"),
            // three levels of internal nodes (10 leaves, 3 links each)
            (10240, tiny(true), "bafybeicgmt44iiharsfwgpcwjsdheyu7zvy6zmqrorppaf6tvttcqajdc4"),
            (10240, tiny(false), "QmQitS6nGMwKz2ibdvFTA2vaY6361nGsQxfpRpnMT4JtSR"),
        ];
        for (n, p, want) in cases {
            assert_eq!(cid(&pattern(n), p), want, "{n} bytes, {p:?}");
            assert_eq!(cid_to_string(&cid_only(&pattern(n)[..], p).unwrap().root), want);
        }
    }

    /// Rebuild the file from the reported blocks, checking every block against its CID.
    fn reassemble(root: &Cid, blocks: &std::collections::HashMap<Cid, Vec<u8>>, out: &mut Vec<u8>) {
        let b = &blocks[root];
        assert!(root.matches(b));
        if root.codec == RAW {
            out.extend_from_slice(b);
            return;
        }
        let d = crate::dagpb::decode_pb_node(b).unwrap();
        if d.links.is_empty() {
            out.extend(crate::dagpb::unixfs_data(&d.data).unwrap());
        }
        for l in &d.links {
            reassemble(l, blocks, out);
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        #[test]
        fn blocks_rebuild_the_input(
            data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..5000),
            chunk in 1usize..300, links in 2usize..6, v1 in proptest::prelude::any::<bool>(),
        ) {
            let p = Profile { cid_version: v1 as u8, raw_leaves: v1, chunk_size: chunk, max_links: links };
            let mut blocks = std::collections::HashMap::new();
            let r = import(&data[..], p, &mut |c: &Cid, b: &[u8]| { blocks.insert(*c, b.to_vec()); }).unwrap();
            let mut out = Vec::new();
            reassemble(&r.root, &blocks, &mut out);
            proptest::prop_assert_eq!(&out, &data);
            proptest::prop_assert_eq!(r.filesize, data.len() as u64);
            proptest::prop_assert_eq!(cid_only(&data[..], p).unwrap().root, r.root);
            // Kubo's CumulativeSize: every distinct path's block bytes, counted per link.
            proptest::prop_assert!(r.tsize >= data.len() as u64);
        }
    }

    #[test]
    fn bad_profiles_are_refused() {
        let p = Profile { cid_version: 1, raw_leaves: true, chunk_size: 0, max_links: 3 };
        assert!(cid_only(&b"x"[..], p).is_err());
        assert!(cid_only(&b"x"[..], Profile { chunk_size: 4, max_links: 1, ..p }).is_err());
        assert_eq!(Profile::by_name("unixfs-v1-2025"), Some(Profile::V1_2025));
        assert_eq!(Profile::by_name("v2"), None);
    }

    #[test]
    fn read_errors_propagate() {
        struct Failing(usize);
        impl Read for Failing {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                if self.0 == 0 {
                    return Err(std::io::Error::other("disk on fire"));
                }
                let n = buf.len().min(self.0);
                self.0 -= n;
                Ok(n)
            }
        }
        let e = cid_only(Failing(40 << 20), Profile::V1_2025).unwrap_err();
        assert!(e.to_string().contains("disk on fire"));
        assert!(sha256_stream(Failing(10)).is_err());
    }

    #[test]
    fn blocks_are_reported_children_first() {
        let data = vec![7u8; 5 * 1024];
        let p = Profile { cid_version: 1, raw_leaves: true, chunk_size: 1024, max_links: 2 };
        let mut seen = Vec::new();
        let r = import(&data[..], p, &mut |c: &Cid, b: &[u8]| {
            assert!(c.matches(b));
            seen.push(*c);
        })
        .unwrap();
        assert_eq!(*seen.last().unwrap(), r.root);
        assert_eq!(r.filesize, 5 * 1024);
    }
}
