//! UnixFS import identical to Kubo's `ipfs add` (balanced layout, fixed-size chunker) for the
//! two profiles nftreg supports, plus CIDs, dag-pb decoding and SHA-256 content hashing.
//!
//! - `unixfs-v1-2025` (IPIP-499, nftreg's default): CIDv1, raw leaves, 1 MiB chunks, 1024 links.
//! - `unixfs-v0-2015` (Kubo's default): CIDv0, dag-pb `File` leaves, 256 KiB chunks, 174 links.
//!
//! Reading is streamed: chunks are read a batch at a time and hashed in parallel, so memory
//! stays bounded (one batch) whatever the file size.

pub mod dagpb;
pub mod error;
pub mod multiformats;
pub mod unixfs;

pub use error::{cid_from_str, profile_named, CidError};
pub use multiformats::{cid_to_string, parse_cid, Cid};
pub use unixfs::{import, Profile};
