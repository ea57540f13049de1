//! C2SP `signed-note` with Ed25519 signatures (type 0x01), the key strings Go's
//! `golang.org/x/mod/sumdb/note` reads (`<name>+<hash>+<keydata>` and
//! `PRIVATE+KEY+<name>+<hash>+<keydata>`), and C2SP `tlog-checkpoint` note texts.

use base64ct::{Base64, Encoding};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::hash::Hash;
use crate::{invalid, Result};

/// Signature type byte of Ed25519 in signed notes.
pub const ALG_ED25519: u8 = 0x01;
/// Most signature lines a note may carry before it is refused (the spec asks for >= 16).
pub const MAX_SIGNATURES: usize = 100;

/// Key names are non-empty and hold no Unicode spaces and no `+`.
pub fn check_name(name: &str) -> Result<()> {
    if name.is_empty() {
        return invalid("key name is empty");
    }
    if name.chars().any(|c| c.is_whitespace() || c == '+') {
        return invalid(format!("key name {name:?} contains a space or '+'"));
    }
    if name.chars().any(|c| (c as u32) < 0x20) {
        return invalid(format!("key name {name:?} contains a control character"));
    }
    Ok(())
}

/// key ID = SHA-256(name || 0x0A || 0x01 || public key)[:4], big-endian.
pub fn key_id(name: &str, public_key: &[u8; 32]) -> u32 {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n', ALG_ED25519]);
    h.update(public_key);
    let d = h.finalize();
    u32::from_be_bytes([d[0], d[1], d[2], d[3]])
}

pub fn public_key(seed: &[u8; 32]) -> [u8; 32] {
    SigningKey::from_bytes(seed).verifying_key().to_bytes()
}

/// `<name>+<8 hex digits of key ID>+base64(0x01 || public key)`: the verifier key string.
pub fn verifier_key(name: &str, public_key: &[u8; 32]) -> Result<String> {
    check_name(name)?;
    let mut kd = vec![ALG_ED25519];
    kd.extend_from_slice(public_key);
    Ok(format!("{name}+{:08x}+{}", key_id(name, public_key), Base64::encode_string(&kd)))
}

/// `PRIVATE+KEY+<name>+<hash>+base64(0x01 || seed)`: the signer key string (a secret).
pub fn signer_key(name: &str, seed: &[u8; 32]) -> Result<String> {
    check_name(name)?;
    let mut kd = vec![ALG_ED25519];
    kd.extend_from_slice(seed);
    Ok(format!("PRIVATE+KEY+{name}+{:08x}+{}", key_id(name, &public_key(seed)), Base64::encode_string(&kd)))
}

fn split_key(s: &str, what: &str) -> Result<(String, u32, [u8; 32])> {
    let parts: Vec<&str> = s.splitn(3, '+').collect();
    if parts.len() != 3 {
        return invalid(format!("{what}: expected <name>+<hash>+<keydata>"));
    }
    check_name(parts[0])?;
    if parts[1].len() != 8 || !parts[1].bytes().all(|b| b.is_ascii_hexdigit()) {
        return invalid(format!("{what}: key hash {:?} is not 8 hex digits", parts[1]));
    }
    let id = u32::from_str_radix(parts[1], 16).or_else(|_| invalid(format!("{what}: bad key hash")))?;
    let kd = Base64::decode_vec(parts[2]).or_else(|_| invalid(format!("{what}: key data is not base64")))?;
    if kd.len() != 33 || kd[0] != ALG_ED25519 {
        return invalid(format!("{what}: key data is not an Ed25519 (type 0x01) 32-byte key"));
    }
    let mut k = [0u8; 32];
    k.copy_from_slice(&kd[1..]);
    Ok((parts[0].to_string(), id, k))
}

/// Parse a verifier key string; its hash must match the name and key.
pub fn parse_verifier_key(s: &str) -> Result<(String, [u8; 32])> {
    let (name, id, pk) = split_key(s, "verifier key")?;
    if key_id(&name, &pk) != id {
        return invalid("verifier key: key hash does not match the name and key");
    }
    if VerifyingKey::from_bytes(&pk).is_err() {
        return invalid("verifier key: not a valid Ed25519 public key");
    }
    Ok((name, pk))
}

/// Parse a signer key string into (name, 32-byte seed); its hash must match.
pub fn parse_signer_key(s: &str) -> Result<(String, [u8; 32])> {
    let rest = match s.strip_prefix("PRIVATE+KEY+") {
        Some(r) => r,
        None => return invalid("signer key: does not start with PRIVATE+KEY+"),
    };
    let (name, id, seed) = split_key(rest, "signer key")?;
    if key_id(&name, &public_key(&seed)) != id {
        return invalid("signer key: key hash does not match the name and key");
    }
    Ok((name, seed))
}

fn check_text(text: &str, what: &str) -> Result<()> {
    if let Some(c) = text.chars().find(|&c| (c as u32) < 0x20 && c != '\n') {
        return invalid(format!("{what}: contains the control character U+{:04X}", c as u32));
    }
    Ok(())
}

/// Sign `text` (which must end in a newline) and return the whole note.
pub fn sign(text: &str, name: &str, seed: &[u8; 32]) -> Result<String> {
    check_name(name)?;
    check_text(text, "note text")?;
    if !text.ends_with('\n') {
        return invalid("note text must end with a newline");
    }
    let sk = SigningKey::from_bytes(seed);
    let sig = sk.sign(text.as_bytes());
    let mut blob = key_id(name, &sk.verifying_key().to_bytes()).to_be_bytes().to_vec();
    blob.extend_from_slice(&sig.to_bytes());
    Ok(format!("{text}\n\u{2014} {name} {}\n", Base64::encode_string(&blob)))
}

/// Open a note: check the signature by (`name`, `public_key`) and return the signed text.
/// Signatures by other keys are ignored; a known key's bad signature rejects the note.
pub fn open(msg: &str, name: &str, public_key: &[u8; 32]) -> Result<String> {
    check_text(msg, "note")?;
    let split = match msg.rfind("\n\n") {
        Some(i) => i,
        None => return invalid("note: no blank line before the signatures"),
    };
    let text = &msg[..split + 1];
    let sigs = &msg[split + 2..];
    if sigs.is_empty() || !sigs.ends_with('\n') {
        return invalid("note: signature block is empty or does not end with a newline");
    }
    let want = key_id(name, public_key);
    let vk = VerifyingKey::from_bytes(public_key).or_else(|_| invalid("note: not a valid Ed25519 public key"))?;
    let mut verified = false;
    for (k, line) in sigs[..sigs.len() - 1].split('\n').enumerate() {
        if k >= MAX_SIGNATURES {
            return invalid(format!("note: more than {MAX_SIGNATURES} signatures"));
        }
        let rest = match line.strip_prefix("\u{2014} ") {
            Some(r) => r,
            None => return invalid(format!("note: signature line {} does not start with an em dash", k + 1)),
        };
        let (who, b64) = match rest.split_once(' ') {
            Some(x) => x,
            None => return invalid(format!("note: signature line {} has no signature", k + 1)),
        };
        check_name(who)?;
        let blob = Base64::decode_vec(b64).or_else(|_| invalid(format!("note: signature line {} is not base64", k + 1)))?;
        if blob.len() < 5 {
            return invalid(format!("note: signature line {} is too short", k + 1));
        }
        let id = u32::from_be_bytes([blob[0], blob[1], blob[2], blob[3]]);
        if who != name || id != want {
            continue;
        }
        let sig: [u8; 64] = match blob[4..].try_into() {
            Ok(s) => s,
            Err(_) => return invalid(format!("note: signature by {name} is not 64 bytes")),
        };
        if vk.verify_strict(text.as_bytes(), &Signature::from_bytes(&sig)).is_err() {
            return invalid(format!("note: signature by {name} does not verify"));
        }
        verified = true;
    }
    if !verified {
        return invalid(format!("note: no signature by {name}+{want:08x}"));
    }
    Ok(text.to_string())
}

/// A parsed `tlog-checkpoint` note text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
    pub extensions: Vec<String>,
}

/// `origin\nsize\nbase64(root)\n`.
pub fn checkpoint_text(origin: &str, size: u64, root: &Hash) -> Result<String> {
    if origin.is_empty() || origin.contains('\n') {
        return invalid("checkpoint origin must be one non-empty line");
    }
    check_text(origin, "checkpoint origin")?;
    Ok(format!("{origin}\n{size}\n{}\n", Base64::encode_string(root)))
}

/// Parse a checkpoint note text (the part before the signatures).
pub fn parse_checkpoint(text: &str) -> Result<Checkpoint> {
    let body = match text.strip_suffix('\n') {
        Some(b) => b,
        None => return invalid("checkpoint: text does not end with a newline"),
    };
    let lines: Vec<&str> = body.split('\n').collect();
    if lines.len() < 3 {
        return invalid("checkpoint: fewer than three lines (origin, size, root)");
    }
    if lines.iter().any(|l| l.is_empty()) {
        return invalid("checkpoint: empty line");
    }
    let size_s = lines[1];
    if !size_s.bytes().all(|b| b.is_ascii_digit()) || (size_s.len() > 1 && size_s.starts_with('0')) {
        return invalid(format!("checkpoint: tree size {size_s:?} is not a decimal number without leading zeroes"));
    }
    let size = size_s.parse::<u64>().or_else(|_| invalid("checkpoint: tree size is too large"))?;
    let root = Base64::decode_vec(lines[2]).or_else(|_| invalid("checkpoint: root hash is not base64"))?;
    let root: Hash = match root.try_into() {
        Ok(r) => r,
        Err(_) => return invalid("checkpoint: root hash is not 32 bytes"),
    };
    Ok(Checkpoint {
        origin: lines[0].to_string(),
        size,
        root,
        extensions: lines[3..].iter().map(|s| s.to_string()).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // The example key pair of Go's sumdb/note documentation (PeterNeumann).
    const SKEY: &str = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
    const VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";

    #[test]
    fn go_documentation_key_pair_round_trips() {
        let (name, seed) = parse_signer_key(SKEY).unwrap();
        assert_eq!(name, "PeterNeumann");
        let pk = public_key(&seed);
        assert_eq!(verifier_key(&name, &pk).unwrap(), VKEY);
        assert_eq!(signer_key(&name, &seed).unwrap(), SKEY);
        assert_eq!(parse_verifier_key(VKEY).unwrap(), (name, pk));
    }

    #[test]
    fn go_documentation_signed_note_opens() {
        // The signed note from Go's note package documentation.
        let msg = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n\n\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
        let (name, pk) = parse_verifier_key(VKEY).unwrap();
        let text = open(msg, &name, &pk).unwrap();
        assert!(text.starts_with("If you think"));
        let (_, seed) = parse_signer_key(SKEY).unwrap();
        assert_eq!(sign(&text, &name, &seed).unwrap(), msg);
    }

    #[test]
    fn tampered_or_foreign_notes_are_refused() {
        let seed = [7u8; 32];
        let pk = public_key(&seed);
        let text = checkpoint_text("example.com/log", 5, &[1u8; 32]).unwrap();
        let note = sign(&text, "example.com/log", &seed).unwrap();
        assert_eq!(open(&note, "example.com/log", &pk).unwrap(), text);
        let forged = note.replacen("\n5\n", "\n6\n", 1);
        assert!(open(&forged, "example.com/log", &pk).unwrap_err().to_string().contains("does not verify"));
        let other = public_key(&[8u8; 32]);
        assert!(open(&note, "example.com/log", &other).unwrap_err().to_string().contains("no signature"));
        assert!(open("no blank line\n", "n", &pk).is_err());
        assert!(sign("no newline", "n", &seed).is_err());
        assert!(sign("a\tb\n", "n", &seed).is_err());
        assert!(check_name("has space").is_err());
        assert!(check_name("a+b").is_err());
    }

    #[test]
    fn checkpoint_text_round_trips_and_is_strict() {
        let root = [0xabu8; 32];
        let t = checkpoint_text("nftreg.local/log", 70000, &root).unwrap();
        assert_eq!(t, format!("nftreg.local/log\n70000\n{}\n", Base64::encode_string(&root)));
        let c = parse_checkpoint(&t).unwrap();
        assert_eq!((c.origin.as_str(), c.size, c.root), ("nftreg.local/log", 70000, root));
        assert!(parse_checkpoint("o\n007\nAAAA\n").is_err());
        assert!(parse_checkpoint("o\n7\nAAAA\n").unwrap_err().to_string().contains("32 bytes"));
        assert!(parse_checkpoint("o\n7\n").is_err());
        let ext = format!("{t}ext line\n");
        assert_eq!(parse_checkpoint(&ext).unwrap().extensions, vec!["ext line".to_string()]);
    }
}
