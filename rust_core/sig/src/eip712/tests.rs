use super::*;
use nftreg_eth::keccak::Lanes;

/// The "Mail" example from the EIP-712 specification.
const MAIL: &str = r#"{"types":{"EIP712Domain":[{"name":"name","type":"string"},{"name":"version","type":"string"},{"name":"chainId","type":"uint256"},{"name":"verifyingContract","type":"address"}],
    "Person":[{"name":"name","type":"string"},{"name":"wallet","type":"address"}],
    "Mail":[{"name":"from","type":"Person"},{"name":"to","type":"Person"},{"name":"contents","type":"string"}]},
    "primaryType":"Mail",
    "domain":{"name":"Ether Mail","version":"1","chainId":1,"verifyingContract":"0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC"},
    "message":{"from":{"name":"Cow","wallet":"0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826"},"to":{"name":"Bob","wallet":"0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB"},"contents":"Hello, Bob!"}}"#;
const MAIL_DIGEST: &str = "be609aee343fb3c4b28e1df9e632fca64fcfaede20f02e86244efddf30957bd2";

#[test]
fn eip712_spec_example() {
    assert_eq!(hex::encode(digest_json(MAIL).unwrap()), MAIL_DIGEST);
}

#[test]
fn cache_reuses_context_without_mixing_domains() {
    let other_chain = MAIL.replace("\"chainId\":1", "\"chainId\":5");
    let other_msg = MAIL.replace("Hello, Bob!", "Hello, Bobby!");
    let texts = [MAIL, other_chain.as_str(), MAIL, other_msg.as_str(), "{}", MAIL];
    let mut cache = ContextCache::default();
    for t in texts {
        assert_eq!(cache.digest_json(t), digest_json(t));
    }
    let many = digest_many_json(&texts);
    assert_eq!(hex::encode(many[0].as_ref().unwrap()), MAIL_DIGEST);
    assert_ne!(many[1], many[0]);
    assert_ne!(many[3], many[0]);
    assert!(many[4].is_err());
    assert_eq!(many[5], many[0]);
    // Both last hashes in lanes, on every backend, equal the one-lane digests.
    let pending: Vec<R<Pending>> = texts.iter().map(|t| cache.pending_json(t)).collect();
    let refs: Vec<Option<&Pending>> = pending.iter().map(|p| p.as_ref().ok()).collect();
    for lanes in Lanes::available() {
        let done = finish_many(lanes, &refs);
        for (k, t) in texts.iter().enumerate() {
            assert_eq!(done[k], digest_json(t).ok(), "{} item {k}", lanes.backend());
        }
    }
}

#[test]
fn errors_name_the_path() {
    let bad = MAIL.replace("\"0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826\"", "\"0x12\"");
    let e = digest_json(&bad).unwrap_err().0;
    assert!(e.contains("message.from.wallet"), "{e}");
    let bad = MAIL.replace("\"chainId\":1", "\"chainId\":-1");
    let e = digest_json(&bad).unwrap_err().0;
    assert!(e.contains("domain.chainId"), "{e}");
}

#[test]
fn domain_rules_follow_eth_account() {
    // Declared domain fields in another order: hashed in the canonical order anyway.
    let reordered = MAIL.replace(
        r#"{"name":"name","type":"string"},{"name":"version","type":"string"}"#,
        r#"{"name":"version","type":"string"},{"name":"name","type":"string"}"#,
    );
    assert_ne!(reordered, MAIL);
    assert_eq!(hex::encode(digest_json(&reordered).unwrap()), MAIL_DIGEST);
    // A domain value the declared type leaves out would not be signed: refused.
    let unsigned_chain = MAIL.replace(r#"{"name":"chainId","type":"uint256"},"#, "");
    assert!(digest_json(&unsigned_chain).unwrap_err().0.contains("EIP712Domain declares"));
    let odd_key = MAIL.replace(r#""chainId":1,"#, r#""chainId":1,"network":"x","#);
    assert!(digest_json(&odd_key).unwrap_err().0.contains("invalid key 'network'"));
    // primaryType: optional, but when given it must be the root.
    let no_primary = MAIL.replace(r#""primaryType":"Mail","#, "");
    assert_eq!(hex::encode(digest_json(&no_primary).unwrap()), MAIL_DIGEST);
    let wrong_primary = MAIL.replace(r#""primaryType":"Mail""#, r#""primaryType":"Person""#);
    assert!(digest_json(&wrong_primary).unwrap_err().0.contains("not the root"));
}

#[test]
fn prefix_fast_path_never_changes_a_digest() {
    let mut cache = ContextCache::default();
    let other = MAIL.replace("Hello, Bob!", "Hi");
    let open = &MAIL.trim_end()[..MAIL.trim_end().len() - 1];
    // A later duplicate key wins in a full parse: the fast path must not skip it.
    let trailing_key = open.to_string() + r#","domain":{"name":"Ether Mail","version":"1","chainId":5,"verifyingContract":"0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC"}}"#;
    let trailing_junk = MAIL.trim_end().to_string() + "x";
    let nbsp = open.to_string() + "\u{a0}}";
    let spaced = open.to_string() + " \n}\n";
    for t in [MAIL, other.as_str(), trailing_key.as_str(), trailing_junk.as_str(), nbsp.as_str(), spaced.as_str(), MAIL] {
        assert_eq!(cache.digest_json(t), digest_json(t), "{t}");
    }
    assert!(digest_json(&trailing_key).is_ok() && digest_json(&trailing_key) != digest_json(MAIL));
    assert!(digest_json(&trailing_junk).is_err() && digest_json(&nbsp).is_err());
    assert_eq!(digest_json(&spaced), digest_json(MAIL));
    assert!(cache.entries.iter().any(|e| e.prefix.is_some()));
}
