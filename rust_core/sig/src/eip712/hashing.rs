//! The last two hashes of a digest (the message struct's hash and `keccak256(0x1901 ‖ …)`),
//! one at a time or for many messages together in keccak lanes.

use nftreg_eth::keccak::{keccak256, Lanes};
use rayon::prelude::*;

use super::cache::pending_json_cached;
use super::{TypedDataError, R};

/// A digest short of its last two hashes: `keccak256(0x1901 ‖ domainSeparator ‖
/// keccak256(encoded))`.
#[derive(Debug, Clone)]
pub struct Pending {
    domain_separator: [u8; 32],
    /// typeHash ‖ encodeData of the message struct.
    encoded: Vec<u8>,
}

impl Pending {
    pub(super) fn new(domain_separator: [u8; 32], encoded: Vec<u8>) -> Self {
        Pending { domain_separator, encoded }
    }

    fn preimage(&self, struct_hash: &[u8; 32]) -> [u8; 66] {
        let mut pre = [0u8; 66];
        pre[..2].copy_from_slice(b"\x19\x01");
        pre[2..34].copy_from_slice(&self.domain_separator);
        pre[34..].copy_from_slice(struct_hash);
        pre
    }

    /// The digest, one lane.
    pub fn finish(&self) -> [u8; 32] {
        keccak256(&self.preimage(&keccak256(&self.encoded)))
    }
}

/// The digests of many pending messages, both last hashes in keccak lanes (same bytes as
/// [`Pending::finish`] on each). `None` stays `None`.
pub fn finish_many(lanes: Lanes, pending: &[Option<&Pending>]) -> Vec<Option<[u8; 32]>> {
    let ready: Vec<&Pending> = pending.iter().flatten().copied().collect();
    let encoded: Vec<&[u8]> = ready.iter().map(|p| p.encoded.as_slice()).collect();
    let mut hashes = vec![[0u8; 32]; ready.len()];
    lanes.many(&encoded, &mut hashes);
    let pre: Vec<[u8; 66]> = ready.iter().zip(&hashes).map(|(p, h)| p.preimage(h)).collect();
    let pre_refs: Vec<&[u8]> = pre.iter().map(|p| p.as_slice()).collect();
    lanes.many(&pre_refs, &mut hashes);
    let mut done = hashes.into_iter();
    pending.iter().map(|p| p.as_ref().and_then(|_| done.next())).collect()
}

/// Digests of many JSON texts on all cores.
pub fn digest_many_json(texts: &[&str]) -> Vec<R<[u8; 32]>> {
    let lanes = Lanes::active();
    texts
        .par_chunks(16)
        .flat_map_iter(|chunk| {
            let pending: Vec<R<Pending>> = chunk.iter().map(|t| pending_json_cached(t)).collect();
            let refs: Vec<Option<&Pending>> = pending.iter().map(|p| p.as_ref().ok()).collect();
            let done = finish_many(lanes, &refs);
            pending.into_iter().zip(done).map(|(p, d)| p.and_then(|_| d.ok_or_else(|| TypedDataError("internal: a finished digest went missing".into()))))
        })
        .collect()
}
