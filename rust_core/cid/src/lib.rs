//! placeholder until the CID crate lands
