//! Tests of the request verifier: fixtures, and the whole-body verifier.

use nftreg_eth::abi;
use nftreg_eth::keccak::{keccak256, keccak256_32};
use nftreg_eth::Hash;
use nftreg_merkle::tree::{get_proof, make_tree};

use crate::verify_proofs_json;

mod stream;

pub(crate) fn enc() -> Vec<String> {
    vec!["address".into(), "uint256".into()]
}

fn leaf(addr: &str, amount: u64) -> Hash {
    let mut b = abi::parse_address(addr, "").unwrap().to_vec();
    let mut w = [0u8; 32];
    w[24..].copy_from_slice(&amount.to_be_bytes());
    b.extend_from_slice(&w);
    keccak256_32(&keccak256(&b))
}

fn hx(h: &Hash) -> String {
    format!("0x{}", hex::encode(h))
}

/// Root (0x-hex) and the five good items of a 5-value (address, uint256) tree; amounts
/// alternate between a JSON number and a decimal string, both of which are accepted.
pub(crate) fn good_items() -> (String, Vec<String>) {
    let addrs: Vec<String> = (0..5u8).map(|i| format!("0x{}", hex::encode([i + 1; 20]))).collect();
    let mut leaves: Vec<Hash> = addrs.iter().enumerate().map(|(i, a)| leaf(a, i as u64 * 10)).collect();
    leaves.sort();
    let tree = make_tree(&leaves).unwrap();
    let pos = |h: &Hash| tree.len() - 1 - leaves.iter().position(|x| x == h).unwrap();
    let mut items = Vec::new();
    for (i, a) in addrs.iter().enumerate() {
        let p: Vec<String> = get_proof(&tree, pos(&leaf(a, i as u64 * 10))).unwrap().iter().map(hx).collect();
        let amount = if i % 2 == 0 { format!("{}", i * 10) } else { format!("\"{}\"", i * 10) };
        let proof: Vec<String> = p.iter().map(|h| format!("\"{h}\"")).collect();
        items.push(format!("{{\"value\":[\"{a}\",{amount}],\"proof\":[{}]}}", proof.join(",")));
    }
    (hx(&tree[0]), items)
}

#[test]
fn verifies_items_and_flags_bad_ones() {
    let (root, mut items) = good_items();
    let good = items[0].clone();
    items.push(good.replace("\"0x01", "\"0x02")); // wrong value
    items.push("{\"value\":[1,2],\"proof\":[]}".into()); // wrong types
    items.push("[]".into()); // not an object
    items.push(good.replace("\"proof\":[\"0x", "\"proof\":[\"zz")); // not hex
    items.push(good.replace("\"value\":[", "\"value\":[1.5,")); // wrong arity
    let body = format!("{{\"root\":\"{root}\",\"items\":[{}]}}", items.join(","));
    let out = verify_proofs_json(body.as_bytes(), &enc(), 100).unwrap();
    assert_eq!(out, vec![true, true, true, true, true, false, false, false, false, false]);
}

#[test]
fn body_errors_name_what_is_wrong() {
    let root = format!("\"0x{}\"", "ab".repeat(32));
    let cases: Vec<(String, &str)> = vec![
        ("{".into(), "not JSON"),
        ("[1]".into(), "'items' array"),
        (format!("{{\"root\":{root}}}"), "'items' array"),
        ("{\"items\":[]}".into(), "root: required"),
        ("{\"root\":\"0x12\",\"items\":[]}".into(), "64 hex digits"),
        (format!("{{\"root\":{root},\"leaf_encoding\":\"uint\",\"items\":[]}}"), "leaf_encoding"),
        (format!("{{\"root\":{root},\"leaf_encoding\":[\"uint7\"],\"items\":[]}}"), "uint7"),
        (format!("{{\"root\":{root},\"items\":[{{}},{{}},{{}}]}}"), "at most 2 items"),
        (format!("{{\"root\":{root},\"items\":{}}}", "[".repeat(100_000)), "not JSON"),
    ];
    for (body, want) in cases {
        let e = verify_proofs_json(body.as_bytes(), &enc(), 2).unwrap_err().to_string();
        assert!(e.contains(want), "{body:.60}: {e}");
    }
    assert!(verify_proofs_json(b"\xff", &enc(), 2).unwrap_err().to_string().contains("not JSON"));
}

/// Items of the 5-value test tree (address, uint256): good ones, then assorted bad ones.
pub(crate) fn sample_items() -> (String, Vec<String>) {
    let (root, mut items) = good_items();
    let good = items[0].clone();
    items.push(good.replace("\"0x01", "\"0x02"));
    items.push("{\"value\":[1,2],\"proof\":[]}".into());
    items.push("[]".into());
    items.push("7".into());
    items.push("\"x\\\"}]\"".into());
    items.push(good.replace("\"proof\":[\"0x", "\"proof\":[\"zz"));
    items.push(good.replace("\"value\":[", "\"value\":[1.5,"));
    items.push(good.replace("{\"value\"", "{\"note\":\"a\\\\\\\"b}]{[\\u00e9é\",\"value\""));
    items.push(good.replace("{\"value\"", "{\"deep\":[[[[{\"x\":[1e999999]}]]]],\"value\""));
    items.push(good.replace("{\"value\"", "{\"value\":[],\"value\""));
    (root, items)
}

pub(crate) fn body_of(root: &str, items: &[String], n: usize) -> String {
    let list: Vec<&str> = (0..n).map(|i| items[i % items.len()].as_str()).collect();
    format!("{{\"root\":\"{root}\",\"items\":[{}]}}", list.join(","))
}

pub(crate) struct Rng(pub(crate) u64);
impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Many items of a 37-value tree (proofs of depth 5 and 6) and of the 5-value one (depth 2 and
/// 3, and every malformed kind of [`sample_items`]), interleaved: more than three groups.
fn mixed_body(n: usize) -> String {
    let (root, small) = sample_items();
    let addrs: Vec<String> = (0..37u8).map(|i| format!("0x{}", hex::encode([i + 7; 20]))).collect();
    let mut leaves: Vec<Hash> = addrs.iter().enumerate().map(|(i, a)| leaf(a, i as u64)).collect();
    leaves.sort();
    let tree = make_tree(&leaves).unwrap();
    let pos = |h: &Hash| tree.len() - 1 - leaves.iter().position(|x| x == h).unwrap();
    // items of the other tree fold onto its root, not this body's: false, whatever their depth
    let other: Vec<String> = addrs
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let p: Vec<String> = get_proof(&tree, pos(&leaf(a, i as u64))).unwrap().iter().map(|h| format!("\"{}\"", hx(h))).collect();
            format!("{{\"value\":[\"{a}\",{i}],\"proof\":[{}]}}", p.join(","))
        })
        .collect();
    let list: Vec<&str> = (0..n).map(|i| if i % 3 == 2 { other[i % other.len()].as_str() } else { small[i % small.len()].as_str() }).collect();
    format!("{{\"root\":\"{root}\",\"items\":[{}]}}", list.join(","))
}

#[test]
fn grouped_lanes_match_item_by_item_on_every_backend() {
    use crate::{verify_proofs_json_reference, verify_proofs_json_with, ProofStream};
    use nftreg_eth::keccak::Lanes;
    for n in [0, 1, 7, 255, 256, 257, 3 * crate::item::GROUP + 17] {
        let body = mixed_body(n);
        let want = verify_proofs_json_reference(body.as_bytes(), &enc(), usize::MAX).unwrap();
        assert_eq!(want.len(), n);
        if n > 20 {
            assert!(want.iter().any(|x| *x) && want.iter().any(|x| !*x));
        }
        for lanes in Lanes::available() {
            let got = verify_proofs_json_with(lanes, body.as_bytes(), &enc(), usize::MAX).unwrap();
            assert_eq!(got, want, "{} whole body, {n} items", lanes.backend());
            for seg_size in [4096, crate::stream::STREAM_SEGMENT] {
                let mut s = ProofStream::new(&enc(), usize::MAX);
                s.lanes = lanes;
                s.seg_size = seg_size;
                for chunk in body.as_bytes().chunks(1000) {
                    s.feed(chunk).unwrap();
                }
                assert_eq!(s.collect(), Some(want.clone()), "{} streamed, {n} items", lanes.backend());
            }
        }
    }
}
