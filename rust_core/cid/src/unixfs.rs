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

/// Bytes read per batch; chunks of one batch are hashed in parallel. Bounds memory.
const BATCH_BYTES: usize = 16 << 20;

struct Leaves<'a, R: Read, F: FnMut(&Cid, &[u8])> {
    reader: R,
    profile: Profile,
    ready: std::collections::VecDeque<Node>,
    eof: bool,
    on_block: &'a mut F,
    blocks: u64,
}

fn read_chunk<R: Read>(r: &mut R, size: usize) -> std::io::Result<Vec<u8>> {
    let mut buf = vec![0u8; size];
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
    Ok(buf)
}

impl<R: Read, F: FnMut(&Cid, &[u8])> Leaves<'_, R, F> {
    fn refill(&mut self) -> std::io::Result<()> {
        if self.eof || !self.ready.is_empty() {
            return Ok(());
        }
        let per_batch = (BATCH_BYTES / self.profile.chunk_size).max(1);
        let mut chunks = Vec::with_capacity(per_batch);
        for _ in 0..per_batch {
            let c = read_chunk(&mut self.reader, self.profile.chunk_size)?;
            let short = c.len() < self.profile.chunk_size;
            if !c.is_empty() {
                chunks.push(c);
            }
            if short {
                self.eof = true;
                break;
            }
        }
        let p = self.profile;
        let built: Vec<(Node, Option<Vec<u8>>)> = chunks
            .par_iter()
            .map(|c| {
                if p.raw_leaves {
                    (Node { cid: Cid { version: 1, codec: RAW, digest: sha256(c) }, tsize: c.len() as u64, filesize: c.len() as u64 }, None)
                } else {
                    let block = pb_node(&[], &unixfs_file(Some(c), c.len() as u64, &[]));
                    let node = Node { cid: Cid::of_block(p.cid_version, DAG_PB, &block), tsize: block.len() as u64, filesize: c.len() as u64 };
                    (node, Some(block))
                }
            })
            .collect();
        for ((node, block), chunk) in built.into_iter().zip(&chunks) {
            (self.on_block)(&node.cid, block.as_deref().unwrap_or(chunk));
            self.blocks += 1;
            self.ready.push_back(node);
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
        (self.on_block)(&cid, &block);
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
pub fn import<R: Read, F: FnMut(&Cid, &[u8])>(reader: R, profile: Profile, on_block: &mut F) -> std::io::Result<Imported> {
    if profile.chunk_size == 0 || profile.max_links < 2 {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "chunk size must be > 0 and max links >= 2"));
    }
    let mut l = Leaves { reader, profile, ready: Default::default(), eof: false, on_block, blocks: 0 };
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
