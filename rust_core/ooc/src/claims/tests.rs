use super::*;
use crate::file::TreeFile;
use nftreg_eth::keccak::keccak256;
use nftreg_merkle::tree::IndexedTree;

const A: &str = "0x00000000000000000000000000000000000000aa";
const H: &str = "0x1111111111111111111111111111111111111111111111111111111111111111";

fn leaf(owner: &str, hash: &str, cid: &str) -> Hash {
    let types = abi::parse_types(&CLAIM_LEAF_ENCODING).unwrap();
    let mut enc = Vec::new();
    encode_claim(&types, [owner, hash, cid], &mut enc).unwrap();
    keccak256(&keccak256(&enc))
}

fn run(text: &str, fmt: Format) -> (Result<ClaimsReport>, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("nftreg-ooc-claims-{}-{}", std::process::id(), keccak256(text.as_bytes())[0]));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("t.bin");
    (build_claims(text.as_bytes(), fmt, &out, &Options::default()), out)
}

#[test]
fn csv_quoting_columns_and_bad_lines() {
    let text = format!(
        "\u{feff}Extra, Metadata_CID ,owner,content_hash\r\n\
         x,bafy1,{A},{H}\r\n\
         \r\n\
         x,\"baf\"\"y2\",{A},{H}\n\
         x,\"baf\ny3\",{A},{H}\n\
         x,bafy4,0x12,{H}\n\
         x,bafy5,{A}\n\
         ,, ,\n\
         x,,{A},{H}\n\
         x,\"bafy6\",{A},{H}"
    );
    let (r, out) = run(&text, Format::Csv);
    let r = r.unwrap();
    assert_eq!(r.n, 3, "{:?}", r.errors);
    // Line 6 ends the record that starts on line 5 (a newline inside quotes).
    let lines: Vec<u64> = r.errors.iter().map(|e| e.0).collect();
    assert_eq!(lines, vec![6, 7, 8, 10], "{:?}", r.errors);
    assert_eq!(r.errors[0].1, "metadata_cid: not a CID: 'baf\\ny3'");
    assert!(r.errors[1].1.starts_with("owner: malformed address"), "{:?}", r.errors);
    assert_eq!(r.errors[2].1, "expected 4 columns, got 3");
    let t = TreeFile::open(&out).unwrap();
    let want = [leaf(A, H, "bafy1"), leaf(A, H, "baf\"y2"), leaf(A, H, "bafy6")];
    assert_eq!(t.root(), IndexedTree::build(&want, true).unwrap().root());
    assert_eq!(t.leaf(1).unwrap(), want[1]);
    assert_eq!(r.lines, 11);
    std::fs::remove_dir_all(out.parent().unwrap()).unwrap();
}

#[test]
fn json_lines() {
    let text = format!(
        "{{\"owner\":\"{A}\",\"content_hash\":\"{H}\",\"metadata_cid\":\" cid1 \"}}\n\
         \n\
         [\"{A}\",\"{H}\",\"cid2\"]\r\n\
         {{\"owner\":\"{A}\"}}\n\
         [1,2]\n\
         {{\"owner\":5,\"content_hash\":\"{H}\",\"metadata_cid\":\"c\"}}\n\
         not json\n\
         [\"{A}\",\"0x11\",\"cid3\"]\n"
    );
    let (r, out) = run(&text, Format::Jsonl);
    let r = r.unwrap();
    assert_eq!(r.n, 2);
    let got: Vec<(u64, &str)> = r.errors.iter().map(|(l, m)| (*l, m.as_str())).collect();
    assert_eq!(got[0], (4, "missing field(s): content_hash, metadata_cid"));
    assert_eq!(got[1], (5, "expected 3 fields (owner, content_hash, metadata_cid), got 2"));
    assert_eq!(got[2], (6, "owner: expected a string, got int"));
    assert_eq!(got[3].0, 7);
    assert!(got[3].1.starts_with("malformed JSON"), "{}", got[3].1);
    assert_eq!(got[4].0, 8);
    assert!(got[4].1.starts_with("content_hash: "), "{}", got[4].1);
    let t = TreeFile::open(&out).unwrap();
    assert_eq!(t.leaf(0).unwrap(), leaf(A, H, "cid1"));
    std::fs::remove_dir_all(out.parent().unwrap()).unwrap();
}

#[test]
fn refusals_of_the_whole_file() {
    for (text, msg) in [
        ("owner,content_hash\n", "missing metadata_cid"),
        ("", "no valid claims"),
        ("owner,content_hash,metadata_cid\n0x1,0x2,c\n", "line 2: owner"),
    ] {
        let (r, out) = run(text, Format::Csv);
        assert!(r.unwrap_err().to_string().contains(msg), "{msg}");
        // Nothing is left behind: no output, no temp file, no run directory.
        let dir = out.parent().unwrap();
        assert_eq!(std::fs::read_dir(dir).unwrap().count(), 0, "{msg}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}

/// Records split across read chunks (a long quoted field, a \r\n at the boundary) parse
/// exactly as in one piece.
#[test]
fn chunk_boundaries() {
    let mut text = String::from("owner,content_hash,metadata_cid,pad\r\n");
    let mut want = Vec::new();
    let mut k = 0;
    while text.len() < 3 * READ_CHUNK {
        let pad = "p".repeat(k % 5000);
        text.push_str(&format!("{A},{H},cid{k},\"{pad}\"\"\r\n\"\r\n"));
        want.push(leaf(A, H, &format!("cid{k}")));
        k += 1;
    }
    let (r, out) = run(&text, Format::Csv);
    let r = r.unwrap();
    assert_eq!(r.error_count, 0, "{:?}", &r.errors[..1]);
    assert_eq!(r.n, want.len() as u64);
    assert_eq!(r.root, IndexedTree::build(&want, true).unwrap().root());
    assert_eq!(r.lines, 1 + 2 * want.len() as u64);
    std::fs::remove_dir_all(out.parent().unwrap()).unwrap();
}
