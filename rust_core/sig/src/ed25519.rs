//! Ed25519 (RFC 8032) verification of many (message, signature, key) triples.
//!
//! Items are verified in batches (one multi-scalar multiplication per batch, the fast path);
//! a batch that fails is re-checked item by item to find the bad ones, so one bad signature
//! costs its batch a second pass but never changes another item's result. Public keys of small
//! order ("weak" keys) are refused outright, as libsodium does, and every per-item check uses
//! the strict verification equation (see the note in `verify_chunk` on the batch equation).

use ed25519_dalek::{Signature, VerifyingKey};
use rayon::prelude::*;

/// Items per batch: large enough to amortise, small enough that a failure re-checks few.
const BATCH: usize = 64;

fn parse(sig: &[u8], key: &[u8]) -> Option<(Signature, VerifyingKey)> {
    let sig: [u8; 64] = sig.try_into().ok()?;
    let key: [u8; 32] = key.try_into().ok()?;
    let vk = VerifyingKey::from_bytes(&key).ok()?;
    if vk.is_weak() {
        return None;
    }
    Some((Signature::from_bytes(&sig), vk))
}

/// Verify one triple (strict RFC 8032 equation, canonical S, no weak keys).
pub fn verify_one(message: &[u8], sig: &[u8], key: &[u8]) -> bool {
    match parse(sig, key) {
        Some((s, vk)) => vk.verify_strict(message, &s).is_ok(),
        None => false,
    }
}

fn verify_chunk(messages: &[&[u8]], sigs: &[&[u8]], keys: &[&[u8]]) -> Vec<bool> {
    let parsed: Vec<Option<(Signature, VerifyingKey)>> = sigs.iter().zip(keys).map(|(s, k)| parse(s, k)).collect();
    if parsed.iter().all(Option::is_some) {
        let (ss, ks): (Vec<Signature>, Vec<VerifyingKey>) = parsed.iter().map(|p| p.unwrap()).unzip();
        if ed25519_dalek::verify_batch(messages, &ss, &ks).is_ok() {
            // Known limit: the batch equation is cofactored, per-item `verify_strict` is not.
            // They agree on every honestly generated signature; a crafted R with a small-order
            // component could pass a batch yet fail the strict check (weak keys are refused
            // above). Documented in the README.
            return vec![true; messages.len()];
        }
    }
    messages
        .iter()
        .zip(parsed)
        .map(|(m, p)| p.is_some_and(|(s, vk)| vk.verify_strict(m, &s).is_ok()))
        .collect()
}

/// Verify many triples on all cores.
pub fn verify_many(messages: &[&[u8]], sigs: &[&[u8]], keys: &[&[u8]]) -> Vec<bool> {
    messages
        .par_chunks(BATCH)
        .zip(sigs.par_chunks(BATCH))
        .zip(keys.par_chunks(BATCH))
        .flat_map_iter(|((m, s), k)| verify_chunk(m, s, k))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer, SigningKey};

    #[test]
    fn batch_finds_the_bad_item() {
        let keys: Vec<SigningKey> = (0..200u8).map(|i| SigningKey::from_bytes(&[i.wrapping_add(1); 32])).collect();
        let msgs: Vec<Vec<u8>> = (0..200).map(|i| format!("message {i}").into_bytes()).collect();
        let mut sigs: Vec<Vec<u8>> = keys.iter().zip(&msgs).map(|(k, m)| k.sign(m).to_bytes().to_vec()).collect();
        let pks: Vec<Vec<u8>> = keys.iter().map(|k| k.verifying_key().to_bytes().to_vec()).collect();
        sigs[77][5] ^= 1;
        let m: Vec<&[u8]> = msgs.iter().map(|x| x.as_slice()).collect();
        let s: Vec<&[u8]> = sigs.iter().map(|x| x.as_slice()).collect();
        let k: Vec<&[u8]> = pks.iter().map(|x| x.as_slice()).collect();
        let out = verify_many(&m, &s, &k);
        assert_eq!(out.iter().filter(|b| !**b).count(), 1);
        assert!(!out[77]);
    }

    #[test]
    fn rfc8032_test_vector_1() {
        let pk = hex::decode("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a").unwrap();
        let sig = hex::decode("e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b").unwrap();
        assert!(verify_one(b"", &sig, &pk));
        assert!(!verify_one(b"x", &sig, &pk));
    }
}
