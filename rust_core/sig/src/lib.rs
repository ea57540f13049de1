//! placeholder until the signature crate lands
