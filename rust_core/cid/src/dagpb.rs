//! dag-pb (PBNode / PBLink) and UnixFS `Data` protobuf encoding, byte-for-byte as Kubo writes
//! them: links before data, every link with Hash, Name (empty) and Tsize; UnixFS fields in
//! tag order with `filesize` always present and `blocksizes` unpacked (proto2).

use crate::multiformats::{get_varint, put_varint, Cid};

pub const UNIXFS_FILE: u64 = 2;

pub struct Link {
    pub cid: Cid,
    pub tsize: u64,
}

fn put_bytes_field(out: &mut Vec<u8>, tag: u8, bytes: &[u8]) {
    out.push(tag);
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// UnixFS `Data` for a file node.
pub fn unixfs_file(data: Option<&[u8]>, filesize: u64, blocksizes: &[u64]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + data.map_or(0, |d| d.len()) + 10 * blocksizes.len());
    out.push(0x08);
    put_varint(&mut out, UNIXFS_FILE);
    if let Some(d) = data {
        put_bytes_field(&mut out, 0x12, d);
    }
    out.push(0x18);
    put_varint(&mut out, filesize);
    for &b in blocksizes {
        out.push(0x20);
        put_varint(&mut out, b);
    }
    out
}

/// A PBNode block.
pub fn pb_node(links: &[Link], data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 8 + links.len() * 48);
    for l in links {
        let mut link = Vec::with_capacity(48);
        put_bytes_field(&mut link, 0x0a, &l.cid.to_bytes());
        put_bytes_field(&mut link, 0x12, b"");
        link.push(0x18);
        put_varint(&mut link, l.tsize);
        put_bytes_field(&mut out, 0x12, &link);
    }
    put_bytes_field(&mut out, 0x0a, data);
    out
}

/// A decoded PBNode: child CIDs in order and the (UnixFS) data field.
#[derive(Debug, Default)]
pub struct Decoded {
    pub links: Vec<Cid>,
    pub data: Vec<u8>,
}

fn read_len_delimited<'a>(buf: &'a [u8], pos: &mut usize) -> Option<&'a [u8]> {
    let len = get_varint(buf, pos)? as usize;
    let end = pos.checked_add(len)?;
    let s = buf.get(*pos..end)?;
    *pos = end;
    Some(s)
}

fn skip_field(buf: &[u8], pos: &mut usize, wire: u64) -> Option<()> {
    match wire {
        0 => get_varint(buf, pos).map(|_| ()),
        1 => {
            *pos = pos.checked_add(8).filter(|&p| p <= buf.len())?;
            Some(())
        }
        2 => read_len_delimited(buf, pos).map(|_| ()),
        5 => {
            *pos = pos.checked_add(4).filter(|&p| p <= buf.len())?;
            Some(())
        }
        _ => None,
    }
}

/// Decode a PBNode; None when malformed.
pub fn decode_pb_node(block: &[u8]) -> Option<Decoded> {
    let mut d = Decoded::default();
    let mut pos = 0;
    while pos < block.len() {
        let key = get_varint(block, &mut pos)?;
        match key {
            0x12 => {
                let link = read_len_delimited(block, &mut pos)?;
                let mut lp = 0;
                let mut cid = None;
                while lp < link.len() {
                    let k = get_varint(link, &mut lp)?;
                    if k == 0x0a {
                        cid = Cid::from_bytes(read_len_delimited(link, &mut lp)?);
                    } else {
                        skip_field(link, &mut lp, k & 7)?;
                    }
                }
                d.links.push(cid?);
            }
            0x0a => d.data = read_len_delimited(block, &mut pos)?.to_vec(),
            k => skip_field(block, &mut pos, k & 7)?,
        }
    }
    Some(d)
}

/// The `Data` bytes (field 2) of a UnixFS message, if any.
pub fn unixfs_data(msg: &[u8]) -> Option<Vec<u8>> {
    let mut pos = 0;
    let mut out = Vec::new();
    while pos < msg.len() {
        let key = get_varint(msg, &mut pos)?;
        if key == 0x12 {
            out = read_len_delimited(msg, &mut pos)?.to_vec();
        } else {
            skip_field(msg, &mut pos, key & 7)?;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::multiformats::{DAG_PB, RAW};
    use proptest::prelude::*;

    #[test]
    fn encode_decode_round_trip() {
        let a = Cid { version: 1, codec: RAW, digest: [1; 32] };
        let b = Cid { version: 0, codec: DAG_PB, digest: [2; 32] };
        let data = unixfs_file(None, 300, &[100, 200]);
        let block = pb_node(&[Link { cid: a, tsize: 100 }, Link { cid: b, tsize: 214 }], &data);
        let d = decode_pb_node(&block).unwrap();
        assert_eq!(d.links, vec![a, b]);
        assert_eq!(d.data, data);
        assert_eq!(unixfs_data(&d.data), Some(vec![]));
        let leaf = unixfs_file(Some(b"hi"), 2, &[]);
        assert_eq!(unixfs_data(&leaf), Some(b"hi".to_vec()));
    }

    proptest! {
        // Blocks come from disk or a daemon: malformed input must be refused, never panic.
        #[test]
        fn decoding_garbage_never_panics(block in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode_pb_node(&block);
            let _ = unixfs_data(&block);
        }
    }
}
