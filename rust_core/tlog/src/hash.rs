//! RFC 6962 section 2.1 hashing with SHA-256: domain-separated leaves and interior nodes.

use sha2::{Digest, Sha256};

pub type Hash = [u8; 32];

/// MTH({}) = SHA-256 of the empty string: the root of the empty tree.
pub const EMPTY_ROOT: Hash = [
    0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24, 0x27, 0xae, 0x41, 0xe4,
    0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
];

/// Leaf hash: SHA-256(0x00 || entry).
pub fn leaf_hash(entry: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(entry);
    h.finalize().into()
}

/// Interior node: SHA-256(0x01 || left || right).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut buf = [0u8; 65];
    buf[0] = 1;
    buf[1..33].copy_from_slice(left);
    buf[33..].copy_from_slice(right);
    Sha256::digest(buf).into()
}

/// The hash as a fixed array, or `None` when `b` is not 32 bytes long.
pub fn hash_from_slice(b: &[u8]) -> Option<Hash> {
    b.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_root_is_sha256_of_nothing() {
        assert_eq!(EMPTY_ROOT, <[u8; 32]>::from(Sha256::digest(b"")));
    }

    #[test]
    fn rfc6962_leaf_and_node_domain_separation() {
        // The leaf of the empty entry is SHA-256(0x00), a well-known constant.
        let l = leaf_hash(b"");
        assert_eq!(
            l.iter().map(|b| format!("{b:02x}")).collect::<String>(),
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
        );
        let n = node_hash(&l, &l);
        let mut pre = vec![1u8];
        pre.extend_from_slice(&l);
        pre.extend_from_slice(&l);
        assert_eq!(n, <[u8; 32]>::from(Sha256::digest(&pre)));
        assert_ne!(n, leaf_hash(&pre[1..]));
    }
}
