//! Errors of the CID crate, for callers that want a reason rather than `None`.

use thiserror::Error;

use crate::multiformats::{parse_cid, Cid};
use crate::unixfs::Profile;

#[derive(Debug, Error)]
pub enum CidError {
    #[error("not a valid CID: {0:?}")]
    NotACid(String),
    #[error("unknown profile {0:?} (expected 'unixfs-v1-2025' or 'unixfs-v0-2015')")]
    UnknownProfile(String),
    #[error("not a valid dag-pb block")]
    NotDagPb,
    #[error("not a valid UnixFS node")]
    NotUnixfs,
    /// Reading the input failed (the caller's file or buffer).
    #[error("read failed: {0}")]
    Read(std::io::Error),
    /// Writing a block failed (our blockstore: an environment problem, not the caller's input).
    #[error("blockstore write failed: {0}")]
    Write(std::io::Error),
}

/// A CID from its string form, or why not.
pub fn cid_from_str(s: &str) -> Result<Cid, CidError> {
    parse_cid(s).ok_or_else(|| CidError::NotACid(s.to_string()))
}

/// A profile by name, or why not.
pub fn profile_named(name: &str) -> Result<Profile, CidError> {
    Profile::by_name(name).ok_or_else(|| CidError::UnknownProfile(name.to_string()))
}
