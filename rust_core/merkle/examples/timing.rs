//! Quick timing of the pure core (no Python): `cargo run --release --example timing -p nftreg-merkle`.
use nftreg_merkle::hash::{keccak256, keccak256_32};
use nftreg_merkle::tree::{make_tree, sort_order, IndexedTree};
use std::time::Instant;

fn main() {
    let n = 1_000_000usize;
    let addrs: Vec<String> = (0..n).map(|i| format!("0x{}", hex::encode(&keccak256(&(i as u64).to_le_bytes())[..20]))).collect();
    let t = Instant::now();
    let mut acc = 0u8;
    for a in &addrs {
        acc ^= nftreg_merkle::abi::parse_address(a, "").unwrap()[31];
    }
    println!("parse_address x1M: {:?} ({acc})", t.elapsed());
    let t = Instant::now();
    for a in &addrs {
        acc ^= hex::decode(&a[2..]).unwrap()[3];
    }
    println!("hex::decode x1M: {:?} ({acc})", t.elapsed());
    let t = Instant::now();
    for a in &addrs {
        acc ^= a.bytes().all(|b| b.is_ascii_hexdigit() || b == b'x') as u8;
    }
    println!("all hexdigit x1M: {:?} ({acc})", t.elapsed());
    let t = Instant::now();
    let leaves: Vec<[u8; 32]> = (0..n).map(|i| keccak256_32(&keccak256(&(i as u64).to_be_bytes()))).collect();
    println!("leaf hashes (1 thread, 2 perms each): {:?}", t.elapsed());
    let t = Instant::now();
    let o = sort_order(&leaves);
    println!("sort_order: {:?} ({})", t.elapsed(), o.len());
    let t = Instant::now();
    let tr = make_tree(&leaves).unwrap();
    println!("make_tree: {:?} ({})", t.elapsed(), tr.len());
    let t = Instant::now();
    let it = IndexedTree::build(&leaves, true).unwrap();
    println!("IndexedTree::build sorted: {:?} ({})", t.elapsed(), it.tree.len());
}
