//! The streaming verifier gives the whole-body answer for every body, however it is split.

use super::{body_of, enc, sample_items, Rng};
use crate::stream::STREAM_SEGMENT;
use crate::{verify_proofs_json, ProofStream, Result};


/// Feed `body` in chunks: `mode` 0 = one chunk, 1 = single bytes, else random sizes.
fn streamed(body: &[u8], enc: &[String], max_items: usize, mode: u8, rng: &mut Rng) -> Result<Vec<bool>> {
    let mut s = ProofStream::new(enc, max_items);
    s.seg_size = [1, 2, 7, 64, 333, 5000, STREAM_SEGMENT][rng.below(7)];
    let mut i = 0;
    while i < body.len() {
        let k = match mode {
            0 => body.len(),
            1 => 1,
            _ => {
                let cap = if rng.below(4) == 0 { 4096 } else { 64 };
                1 + rng.below(cap)
            }
        };
        let j = (i + k).min(body.len());
        s.feed(&body[i..j]).unwrap();
        i = j;
    }
    s.finish()
}

/// The streamed answer without the whole-body fallback (None: it would fall back).
fn streamed_only(body: &[u8], enc: &[String], max_items: usize, rng: &mut Rng) -> Option<Vec<bool>> {
    let mut s = ProofStream::new(enc, max_items);
    s.seg_size = [1, 3, 100, 4096, STREAM_SEGMENT][rng.below(5)];
    let mut i = 0;
    while i < body.len() {
        let j = (i + 1 + rng.below(300)).min(body.len());
        s.feed(&body[i..j]).unwrap();
        i = j;
    }
    s.collect()
}

fn same(body: &[u8], enc: &[String], max_items: usize, rng: &mut Rng) {
    let want = verify_proofs_json(body, enc, max_items);
    let modes: &[u8] = if body.len() <= 4096 { &[0, 1, 2, 2] } else { &[0, 2] };
    for &mode in modes {
        let got = streamed(body, enc, max_items, mode, rng);
        assert_eq!(got, want, "mode {mode}, body {:.200}", String::from_utf8_lossy(body));
    }
}

#[test]
fn stream_matches_whole_body_on_valid_bodies() {
    let mut rng = Rng(0x9e3779b97f4a7c15);
    let (root, items) = sample_items();
    for n in [0, 1, 2, 15, 1023, 1024, 1025, 5000] {
        let body = body_of(&root, &items, n);
        let want = verify_proofs_json(body.as_bytes(), &enc(), 10_000).unwrap();
        assert_eq!(want.len(), n);
        same(body.as_bytes(), &enc(), 10_000, &mut rng);
        assert_eq!(streamed_only(body.as_bytes(), &enc(), 10_000, &mut rng), Some(want));
    }
    // the 1-byte chunking on a multi-batch body
    let body = body_of(&root, &items, 2100);
    assert_eq!(streamed(body.as_bytes(), &enc(), 10_000, 1, &mut rng), verify_proofs_json(body.as_bytes(), &enc(), 10_000));
}

#[test]
fn stream_key_orders_whitespace_escapes() {
    let mut rng = Rng(12345);
    let (root, items) = sample_items();
    let list = items.join(" ,\n\t");
    let members = [
        format!("\"root\" :\r\n \"{root}\""),
        "\"leaf_encoding\"\t:\t[ \"address\" , \"uint256\" ]".to_string(),
        format!("\"items\" : [ {list} ]"),
        "\"x\\\"y\\\\\": {\"a\": [\"}\\\"]\", {\"b\": null}], \"c\": -1.5e3}".to_string(),
    ];
    let perms = [
        [0, 1, 2, 3], [0, 1, 3, 2], [0, 2, 1, 3], [0, 2, 3, 1], [0, 3, 1, 2], [0, 3, 2, 1],
        [1, 0, 2, 3], [1, 0, 3, 2], [1, 2, 0, 3], [1, 2, 3, 0], [1, 3, 0, 2], [1, 3, 2, 0],
        [2, 0, 1, 3], [2, 0, 3, 1], [2, 1, 0, 3], [2, 1, 3, 0], [2, 3, 0, 1], [2, 3, 1, 0],
        [3, 0, 1, 2], [3, 0, 2, 1], [3, 1, 0, 2], [3, 1, 2, 0], [3, 2, 0, 1], [3, 2, 1, 0],
    ];
    for p in perms {
        for with_enc in [true, false] {
            let parts: Vec<&str> = p.iter().filter(|&&k| with_enc || k != 1).map(|&k| members[k].as_str()).collect();
            let body = format!(" \n{{ {} }}\n ", parts.join(" , "));
            let want = verify_proofs_json(body.as_bytes(), &enc(), 100).unwrap();
            same(body.as_bytes(), &enc(), 100, &mut rng);
            assert_eq!(streamed_only(body.as_bytes(), &enc(), 100, &mut rng), Some(want.clone()), "{body}");
            // a different default: streamed only when the body names its encoding first
            let other = ["address".to_string(), "string".to_string()];
            assert_eq!(verify_proofs_json(body.as_bytes(), &other, 100).unwrap() == want, with_enc);
            same(body.as_bytes(), &other, 100, &mut rng);
            let enc_first = with_enc && p.iter().position(|&k| k == 1) < p.iter().position(|&k| k == 2);
            if enc_first {
                assert_eq!(streamed_only(body.as_bytes(), &other, 100, &mut rng), Some(want), "{body}");
            }
        }
    }
    // escaped key names are the same keys
    let body = format!("{{\"r\\u006fot\":\"{root}\",\"\\u0069tems\":[{}]}}", items[0]);
    assert_eq!(verify_proofs_json(body.as_bytes(), &enc(), 100).unwrap(), vec![true]);
    same(body.as_bytes(), &enc(), 100, &mut rng);
    // items long before the root, across several batches
    let list: Vec<&str> = (0..3000).map(|i| items[i % items.len()].as_str()).collect();
    let body = format!("{{\"items\":[{}],\"junk\":[1,2,3],\"root\":\"{root}\"}}", list.join(","));
    same(body.as_bytes(), &enc(), 10_000, &mut rng);
    let want = verify_proofs_json(body.as_bytes(), &enc(), 10_000).unwrap();
    assert_eq!(streamed_only(body.as_bytes(), &enc(), 10_000, &mut rng), Some(want));
    // a leaf_encoding after items were dispatched with the default (same result either way)
    let body = format!("{{\"root\":\"{root}\",\"items\":[{}],\"leaf_encoding\":[\"address\",\"uint256\"]}}", list.join(","));
    same(body.as_bytes(), &enc(), 10_000, &mut rng);
    let body = format!("{{\"root\":\"{root}\",\"items\":[{}],\"leaf_encoding\":[\"address\",\"int256\"]}}", list.join(","));
    same(body.as_bytes(), &enc(), 10_000, &mut rng);
    let body = format!("{{\"root\":\"{root}\",\"items\":[{}],\"leaf_encoding\":null}}", list.join(","));
    same(body.as_bytes(), &enc(), 10_000, &mut rng);
}

#[test]
fn stream_matches_whole_body_on_bad_bodies() {
    let mut rng = Rng(777);
    let (root, items) = sample_items();
    let good = body_of(&root, &items, 20);
    let r = format!("\"0x{}\"", "ab".repeat(32));
    let mut cases: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"   ".to_vec(),
        b"{".to_vec(),
        b"[1]".to_vec(),
        b"[null, null, []]".to_vec(),
        b"{}".to_vec(),
        b"{\"items\":[]}".to_vec(),
        b"\xff".to_vec(),
        format!("{{\"root\":{r}}}").into_bytes(),
        format!("{{\"root\":{r},\"items\":null}}").into_bytes(),
        format!("{{\"root\":{r},\"items\":{{}}}}").into_bytes(),
        format!("{{\"root\":{r},\"items\":[],\"items\":[]}}").into_bytes(),
        format!("{{\"root\":{r},\"root\":{r},\"items\":[]}}").into_bytes(),
        b"{\"root\":null,\"items\":[]}".to_vec(),
        b"{\"root\":\"0x12\",\"items\":[]}".to_vec(),
        b"{\"root\":\"12\",\"items\":[]}".to_vec(),
        format!("{{\"root\":\"0x{}\",\"items\":[]}}", "zz".repeat(32)).into_bytes(),
        format!("{{\"root\":{r},\"leaf_encoding\":\"uint\",\"items\":[]}}").into_bytes(),
        format!("{{\"root\":{r},\"leaf_encoding\":[\"uint7\"],\"items\":[]}}").into_bytes(),
        format!("{{\"root\":{r},\"leaf_encoding\":[],\"items\":[]}}").into_bytes(),
        format!("{{\"root\":{r},\"items\":[{{}},{{}},{{}}]}}").into_bytes(),
        format!("{{\"root\":{r},\"items\":{}}}", "[".repeat(100_000)).into_bytes(),
        format!("{{\"root\":{r},\"items\":[{}1{}]}}", "[".repeat(198), "]".repeat(198)).into_bytes(),
        format!("{{\"root\":{r},\"items\":[{}1{}]}}", "[".repeat(199), "]".repeat(199)).into_bytes(),
        format!("{{\"root\":{r},\"x\":{}1{}, \"items\":[]}}", "{\"a\":".repeat(300), "}".repeat(300)).into_bytes(),
        format!("{{\"root\":{r},\"items\":[],}}").into_bytes(),
        format!("{{\"root\":{r},\"items\":[1,]}}").into_bytes(),
        format!("{{\"root\":{r},\"items\":[,1]}}").into_bytes(),
        format!("{{\"root\":{r},\"items\":[1 2]}}").into_bytes(),
        format!("{{\"root\":{r},\"items\":[{{\"a\":1]]}}").into_bytes(),
        format!("{{\"root\":{r},\"items\":[tru]}}").into_bytes(),
        format!("{{\"root\":{r},\"items\":[\"a\tb\"]}}").into_bytes(),
        format!("{{\"root\":{r},\"items\":[\"\\x\"]}}").into_bytes(),
        format!("{{\"root\":{r},\"items\":[{{\"value\":5,\"proof\":[tru]}}]}}").into_bytes(),
        format!("{{\"root\":{r},\"x\":tru,\"items\":[]}}").into_bytes(),
        format!("{{\"root\":{r},\"x\":\"\\q\",\"items\":[]}}").into_bytes(),
        format!("{{\"root\":{r},\"k\\q\":1,\"items\":[]}}").into_bytes(),
        format!("{{\"root\":{r},\"items\":[]}} x").into_bytes(),
        format!("{{\"root\":{r},\"items\":[]}}{{}}").into_bytes(),
        format!("{{\"root\":{r} \"items\":[]}}").into_bytes(),
        format!("{{\"root\" {r},\"items\":[]}}").into_bytes(),
        format!("{{\"root\":{r},\"items\":[\"é\"]}}").into_bytes(),
        good.replace("\"value\"", "\"val\u{e9}ue\"").into_bytes(),
    ];
    let mut split_utf8 = good.clone().into_bytes();
    split_utf8.insert(40, 0xc3); // a lone lead byte
    cases.push(split_utf8);
    let mut bad_cont = good.clone().into_bytes();
    let at = bad_cont.len() - 2;
    bad_cont.truncate(at); // cut inside the last item
    cases.push(bad_cont);
    for body in &cases {
        same(body, &enc(), 2, &mut rng);
        same(body, &enc(), 100, &mut rng);
        same(body, &["uint7".to_string()], 100, &mut rng);
    }
    // every truncation of a small good body
    let small = body_of(&root, &items, 4);
    for k in 0..small.len() {
        same(&small.as_bytes()[..k], &enc(), 100, &mut rng);
    }
    // garbage after the closing brace, and too many items
    let mut b = good.clone();
    b.push_str(" \n]");
    same(b.as_bytes(), &enc(), 100, &mut rng);
    same(good.as_bytes(), &enc(), 19, &mut rng);
}

#[test]
fn stream_matches_whole_body_under_random_mutation() {
    let mut rng = Rng(0xdead_beef_1234_5678);
    let (root, items) = sample_items();
    let base = format!(
        "{{\"x\":[{{\"s\":\"a\\\"\\\\\"}}],\"root\":\"{root}\",\"items\":[{}, {}, {}, {}],\"leaf_encoding\":[\"address\",\"uint256\"]}}",
        items[0], items[1], items[6], items[13]
    );
    let alphabet = b"{}[]\",:\\ 0x1ae-.ntu\n\xc3\xa9";
    for _ in 0..3000 {
        let mut b = base.clone().into_bytes();
        for _ in 0..1 + rng.below(3) {
            let at = rng.below(b.len() + 1);
            match rng.below(3) {
                0 if at < b.len() => {
                    b.remove(at);
                }
                1 if at < b.len() => b[at] = alphabet[rng.below(alphabet.len())],
                _ => b.insert(at, alphabet[rng.below(alphabet.len())]),
            }
        }
        let want = verify_proofs_json(&b, &enc(), 100);
        for mode in [0u8, 2] {
            assert_eq!(streamed(&b, &enc(), 100, mode, &mut rng), want, "{}", String::from_utf8_lossy(&b));
        }
    }
}
