//! Claims files streamed into a tree file: the reader of `nftreg.claims.read_claims` (same
//! formats, same accepted claims, same line numbers for refused lines) for inputs too large
//! to hold, feeding [`Builder`].
//!
//! A claim is `(owner, content_hash, metadata_cid)` encoded `["address", "bytes32", "string"]`:
//! - CSV: a header row naming the three columns (any order, case and surrounding space
//!   ignored, extra columns ignored), then one record per row; quoting as Python's `csv`
//!   module reads it (`"` quotes, `""` inside quotes, newlines inside quotes);
//! - JSON lines: an object with the three keys, or a 3-item array, per line.
//!
//! One thread splits the input into records (CSV quoting is sequential by nature); a batch of
//! records at a time is then checked, ABI-encoded and double-hashed on all cores in keccak
//! lanes. Refused lines are reported with their 1-based line number (for a CSV record that
//! spans lines, its last line, as Python's `csv.reader.line_num`) and left out; the row index
//! of a claim is its index among the accepted ones, as in the in-memory build.

use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::sync::mpsc::sync_channel;
use std::time::Instant;

use jiter::{JsonValue, LinePosition};
use rayon::prelude::*;

use nftreg_eth::abi::{self, AbiType};
use nftreg_eth::keccak::Lanes;
use nftreg_eth::value::{self, Input, Source};
use nftreg_eth::{EthError, Hash};
use nftreg_verify::parse::{field, kind};

use crate::build::{Builder, Options};
use crate::{io_err, OocError, Result};

mod csv;
use self::csv::{csv_record, CsvRow};

pub const CLAIM_FIELDS: [&str; 3] = ["owner", "content_hash", "metadata_cid"];
pub const CLAIM_LEAF_ENCODING: [&str; 3] = ["address", "bytes32", "string"];
/// Longest metadata CID accepted, in characters (`nftreg.claims.MAX_CID_LEN`).
pub const MAX_CID_LEN: usize = 256;
/// Python's `csv.field_size_limit()` default.
pub const CSV_FIELD_LIMIT: usize = 131_072;
/// Refused lines kept with their message (all are counted).
pub const MAX_ERRORS_KEPT: usize = 1000;

const BATCH_RECORDS: usize = 1 << 15;
const READ_CHUNK: usize = 4 << 20;
/// A batch ends early past this much text (field ranges are u32; memory stays bounded).
const BATCH_TEXT: usize = 64 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Jsonl,
}

impl Format {
    /// `csv`, or `jsonl` / `ndjson` / `json` (as `read_claims` names them, or as extensions).
    pub fn parse(s: &str) -> Option<Format> {
        match s.trim_start_matches('.').to_ascii_lowercase().as_str() {
            "csv" => Some(Format::Csv),
            "jsonl" | "ndjson" | "json" => Some(Format::Jsonl),
            _ => None,
        }
    }
}

/// What a claims build did.
#[derive(Debug, Clone)]
pub struct ClaimsReport {
    pub n: u64,
    pub root: Hash,
    /// The first [`MAX_ERRORS_KEPT`] refused lines: (line, message).
    pub errors: Vec<(u64, String)>,
    pub error_count: u64,
    /// Physical lines read.
    pub lines: u64,
    pub runs: usize,
    /// Seconds spent reading and hashing, and merging and writing the tree.
    pub read_seconds: f64,
    pub write_seconds: f64,
}

/// One record found by the splitter; text ranges index the batch's `text`.
enum Body {
    /// The three claim columns and how many columns the row has.
    Csv { f: [(u32, u32); 3], cols: u32 },
    Json(u32, u32),
    Bad(String),
}

struct Rec {
    line: u64,
    body: Body,
}

#[derive(Default)]
struct Batch {
    text: Vec<u8>,
    recs: Vec<Rec>,
}

enum Outcome {
    Leaf(Hash),
    Refused(u64, String),
}

/// Python's `str.isspace` (what `str.strip()` strips): Unicode White_Space plus the ASCII
/// information separators U+001C..U+001F.
fn py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

fn py_strip(s: &str) -> &str {
    s.trim_matches(py_space)
}

/// Python's `repr` of a short string, for messages (`'abc'`).
fn py_repr(s: &str) -> String {
    let mut out = String::from("'");
    for c in s.chars() {
        match c {
            '\'' => out.push_str("\\'"),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

struct Text<'a>(&'a str);

impl Source for Text<'_> {
    fn input(&self) -> Input<'_> {
        Input::Str(self.0)
    }
    fn items(&self) -> Option<std::result::Result<Vec<Self>, EthError>> {
        None
    }
}

/// `nftreg.claims._normalise` on three strings: strip, check the CID, check owner and content
/// hash with the shared ABI rules; then the leaf's ABI encoding is appended to `out`.
fn encode_claim(types: &[AbiType], vals: [&str; 3], out: &mut Vec<u8>) -> std::result::Result<(), String> {
    let [owner, hash, cid] = vals.map(py_strip);
    if cid.is_empty() || cid.chars().count() > MAX_CID_LEN || cid.chars().any(py_space) {
        return Err(format!("metadata_cid: not a CID: {}", py_repr(cid)));
    }
    let vals = [owner, hash, cid];
    value::encode_fields(types, |f| Ok(Text(vals[f])), out).map_err(|(f, e)| {
        let name = CLAIM_FIELDS.get(f).copied().unwrap_or("claim");
        match e {
            EthError::BadValue { msg, .. } => format!("{name}: {msg}"),
            other => format!("{name}: {other}"),
        }
    })
}

/// A JSON line as `_normalise` reads it.
fn json_claim(types: &[AbiType], line: &[u8], out: &mut Vec<u8>) -> std::result::Result<(), String> {
    let v = match JsonValue::parse(line, true) {
        Ok(v) => v,
        Err(e) => {
            let pos = LinePosition::find(line, e.index);
            return Err(format!("malformed JSON: {} at column {}", e.error_type, pos.column));
        }
    };
    let vals: Vec<&JsonValue<'_>> = match &v {
        JsonValue::Object(_) => {
            let got: Vec<Option<&JsonValue<'_>>> = CLAIM_FIELDS.iter().map(|f| field(&v, f)).collect();
            let missing: Vec<&str> = CLAIM_FIELDS.iter().zip(&got).filter(|(_, g)| g.is_none()).map(|(f, _)| *f).collect();
            if !missing.is_empty() {
                return Err(format!("missing field(s): {}", missing.join(", ")));
            }
            got.into_iter().flatten().collect()
        }
        JsonValue::Array(a) => {
            if a.len() != 3 {
                return Err(format!("expected 3 fields (owner, content_hash, metadata_cid), got {}", a.len()));
            }
            a.iter().collect()
        }
        _ => return Err("expected an object or a 3-item array".into()),
    };
    let mut strs = [""; 3];
    for (k, (name, v)) in CLAIM_FIELDS.iter().zip(&vals).enumerate() {
        match v {
            JsonValue::Str(s) => strs[k] = s.as_ref(),
            other => return Err(format!("{name}: expected a string, got {}", kind(other))),
        }
    }
    encode_claim(types, strs, out)
}

fn check_record(types: &[AbiType], text: &[u8], rec: &Rec, header_cols: u32, out: &mut Vec<u8>) -> std::result::Result<(), String> {
    let s = |(a, b): (u32, u32)| std::str::from_utf8(&text[a as usize..b as usize]).map_err(|_| "not valid UTF-8 text".to_string());
    match &rec.body {
        Body::Bad(m) => Err(m.clone()),
        Body::Csv { cols, .. } if *cols < header_cols => Err(format!("expected {header_cols} columns, got {cols}")),
        Body::Csv { f, .. } => encode_claim(types, [s(f[0])?, s(f[1])?, s(f[2])?], out),
        Body::Json(a, b) => {
            if std::str::from_utf8(&text[*a as usize..*b as usize]).is_err() {
                return Err("not valid UTF-8 text".into());
            }
            json_claim(types, &text[*a as usize..*b as usize], out)
        }
    }
}

/// Check, encode and hash one batch on all cores; outcomes in record order.
fn hash_batch(types: &[AbiType], lanes: Lanes, batch: &Batch, header_cols: u32) -> Vec<Outcome> {
    let parts: Vec<Vec<Outcome>> = batch
        .recs
        .par_chunks(512)
        .map(|recs| {
            let mut enc: Vec<u8> = Vec::with_capacity(recs.len() * 192);
            let mut spans: Vec<(usize, usize)> = Vec::with_capacity(recs.len());
            let mut outcomes: Vec<Option<Outcome>> = Vec::with_capacity(recs.len());
            for rec in recs {
                let start = enc.len();
                match check_record(types, &batch.text, rec, header_cols, &mut enc) {
                    Ok(()) => {
                        spans.push((start, enc.len()));
                        outcomes.push(None);
                    }
                    Err(msg) => {
                        enc.truncate(start);
                        outcomes.push(Some(Outcome::Refused(rec.line, msg)));
                    }
                }
            }
            let inputs: Vec<&[u8]> = spans.iter().map(|&(a, b)| &enc[a..b]).collect();
            let mut hashes = vec![[0u8; 32]; inputs.len()];
            lanes.double(&inputs, &mut hashes);
            let mut it = hashes.into_iter();
            outcomes
                .into_iter()
                .map(|o| o.unwrap_or_else(|| Outcome::Leaf(it.next().unwrap_or([0u8; 32]))))
                .collect::<Vec<_>>()
        })
        .collect();
    parts.into_iter().flatten().collect()
}

/// Splits a byte stream into records, batch by batch, keeping the physical line count.
struct Splitter<R: Read> {
    src: R,
    fmt: Format,
    buf: Vec<u8>,
    /// Start of unconsumed data in `buf`.
    at: usize,
    eof: bool,
    line: u64,
    first: bool,
    /// CSV: index of each claim column in the header, and the header's width.
    idx: [usize; 3],
    header_cols: u32,
}

/// The end of the physical line starting at `i`: (index after the terminator, terminator found).
fn line_end(b: &[u8], i: usize) -> (usize, usize, bool) {
    let mut k = i;
    while k < b.len() {
        match b[k] {
            b'\n' => return (k, k + 1, true),
            b'\r' => {
                if k + 1 < b.len() {
                    return (k, if b[k + 1] == b'\n' { k + 2 } else { k + 1 }, true);
                }
                return (k, k + 1, false); // may be the first half of \r\n: need more input
            }
            _ => k += 1,
        }
    }
    (k, k, false)
}

impl<R: Read> Splitter<R> {
    fn new(src: R, fmt: Format) -> Splitter<R> {
        Splitter { src, fmt, buf: Vec::new(), at: 0, eof: false, line: 0, first: true, idx: [0, 1, 2], header_cols: 3 }
    }

    /// Read more input, keeping the unconsumed tail.
    fn fill(&mut self) -> Result<()> {
        if self.at > 0 {
            self.buf.drain(..self.at);
            self.at = 0;
        }
        let old = self.buf.len();
        let want = READ_CHUNK.max(old); // a record longer than a chunk doubles the buffer
        self.buf.resize(old + want, 0);
        let mut got = 0;
        while got < want {
            match self.src.read(&mut self.buf[old + got..]) {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(k) => got += k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(io_err("reading claims", e)),
            }
        }
        self.buf.truncate(old + got);
        if self.first && self.buf.len() >= 3 || self.eof {
            if self.first && self.buf.starts_with(b"\xef\xbb\xbf") {
                self.at = 3; // a byte-order mark some editors write
            }
            self.first = false;
        }
        Ok(())
    }

    /// CSV: read the header row and find the claim columns; false for an empty file.
    fn header(&mut self) -> Result<bool> {
        if self.buf.is_empty() && !self.eof {
            self.fill()?;
        }
        loop {
            if self.at >= self.buf.len() && self.eof {
                return Ok(false);
            }
            let (mut text, mut ranges) = (Vec::new(), Vec::new());
            match csv_record(&self.buf, self.at, self.eof, None, &mut text, &mut ranges) {
                CsvRow::NeedMore => self.fill()?,
                CsvRow::Bad(m, _, _) => return Err(OocError::Invalid(format!("CSV header (line 1) is malformed: {m}"))),
                CsvRow::Row(next, lines, _) => {
                    self.at = next;
                    self.line += lines;
                    let header: Vec<String> =
                        ranges.iter().map(|&(a, b)| py_strip(&String::from_utf8_lossy(&text[a..b])).to_lowercase()).collect();
                    let missing: Vec<&str> = CLAIM_FIELDS.iter().filter(|f| !header.iter().any(|h| h == *f)).copied().collect();
                    if !missing.is_empty() {
                        return Err(OocError::Invalid(format!(
                            "CSV header must name {}; missing {}",
                            CLAIM_FIELDS.join(", "),
                            missing.join(", ")
                        )));
                    }
                    for (k, f) in CLAIM_FIELDS.iter().enumerate() {
                        self.idx[k] = header.iter().position(|h| h == f).unwrap_or(k);
                    }
                    self.header_cols = header.len() as u32;
                    return Ok(true);
                }
            }
        }
    }

    /// The next batch of records; empty at the end of input.
    fn next_batch(&mut self) -> Result<Batch> {
        let mut batch = Batch::default();
        let mut ranges: Vec<(usize, usize)> = Vec::with_capacity(8);
        while batch.recs.len() < BATCH_RECORDS && batch.text.len() < BATCH_TEXT {
            if self.at >= self.buf.len() {
                if self.eof {
                    break;
                }
                self.fill()?;
                continue;
            }
            match self.fmt {
                Format::Jsonl => {
                    let (end, next, found) = line_end(&self.buf, self.at);
                    if !found && !self.eof {
                        self.fill()?;
                        continue;
                    }
                    self.line += 1;
                    let line = &self.buf[self.at..end];
                    self.at = next;
                    if line.iter().all(|b| b.is_ascii_whitespace() || (0x1c..=0x1f).contains(b) || *b == 0x0b) {
                        continue;
                    }
                    let a = batch.text.len() as u32;
                    batch.text.extend_from_slice(line);
                    batch.recs.push(Rec { line: self.line, body: Body::Json(a, batch.text.len() as u32) });
                }
                Format::Csv => match csv_record(&self.buf, self.at, self.eof, Some(&self.idx), &mut batch.text, &mut ranges) {
                    CsvRow::NeedMore => self.fill()?,
                    CsvRow::Bad(m, next, lines) => {
                        self.at = next;
                        self.line += lines;
                        batch.recs.push(Rec { line: self.line, body: Body::Bad(m) });
                    }
                    CsvRow::Row(next, lines, content) => {
                        self.at = next;
                        self.line += lines;
                        // A row of nothing but whitespace is skipped, as `read_claims` does.
                        if !content {
                            continue;
                        }
                        let mut f = [(0u32, 0u32); 3];
                        for (k, &col) in self.idx.iter().enumerate() {
                            let (a, b) = ranges.get(col).copied().unwrap_or((0, 0));
                            f[k] = (a as u32, b as u32);
                        }
                        batch.recs.push(Rec { line: self.line, body: Body::Csv { f, cols: ranges.len() as u32 } });
                    }
                },
            }
        }
        Ok(batch)
    }
}

/// Read a claims file (streamed), build its tree file at `out`. Refused lines are reported and
/// left out; a file with no valid claim, or a CSV header without the claim columns, is an error.
pub fn build_claims_file(input: &Path, fmt: Format, out: &Path, opts: &Options) -> Result<ClaimsReport> {
    let f = File::open(input).map_err(|e| io_err(input.display(), e))?;
    build_claims(f, fmt, out, opts)
}

/// [`build_claims_file`] from any reader.
pub fn build_claims<R: Read + Send>(src: R, fmt: Format, out: &Path, opts: &Options) -> Result<ClaimsReport> {
    let t0 = Instant::now();
    let types = abi::parse_types(&CLAIM_LEAF_ENCODING).map_err(|e| OocError::Invariant(e.to_string()))?;
    let mut builder = Builder::new(out, CLAIM_LEAF_ENCODING.iter().map(|s| s.to_string()).collect(), opts)?;
    let lanes = Lanes::active();
    let mut splitter = Splitter::new(src, fmt);
    if fmt == Format::Csv && !splitter.header()? {
        return Err(OocError::Invalid("no valid claims to build a tree from (the file is empty)".into()));
    }
    let header_cols = splitter.header_cols;
    let mut errors: Vec<(u64, String)> = Vec::new();
    let mut error_count = 0u64;
    let mut leaves: Vec<Hash> = Vec::with_capacity(BATCH_RECORDS);
    let lines = std::thread::scope(|scope| -> Result<u64> {
        let (tx, rx) = sync_channel::<Result<Batch>>(2);
        let reader = scope.spawn(move || {
            loop {
                let b = splitter.next_batch();
                let stop = b.as_ref().map(|b| b.recs.is_empty()).unwrap_or(true);
                if tx.send(b).is_err() || stop {
                    break;
                }
            }
            splitter.line
        });
        let mut result = Ok(());
        for batch in rx.iter() {
            let batch = match batch {
                Ok(b) if b.recs.is_empty() => break,
                Ok(b) => b,
                Err(e) => {
                    result = Err(e);
                    break;
                }
            };
            leaves.clear();
            for o in hash_batch(&types, lanes, &batch, header_cols) {
                match o {
                    Outcome::Leaf(h) => leaves.push(h),
                    Outcome::Refused(line, msg) => {
                        error_count += 1;
                        if errors.len() < MAX_ERRORS_KEPT {
                            errors.push((line, msg));
                        }
                    }
                }
            }
            if let Err(e) = builder.push_many(&leaves) {
                result = Err(e);
                break;
            }
        }
        drop(rx); // lets the reader stop if we broke off early
        let lines = reader.join().map_err(|_| OocError::Invariant("the claims reader thread panicked".into()))?;
        result.map(|_| lines)
    })?;
    if builder.is_empty() {
        let first = errors.first().map(|(l, m)| format!("; line {l}: {m}")).unwrap_or_default();
        return Err(OocError::Invalid(format!("no valid claims to build a tree from ({error_count} lines refused{first})")));
    }
    let read_seconds = t0.elapsed().as_secs_f64();
    let t1 = Instant::now();
    let built = builder.finish()?;
    Ok(ClaimsReport {
        n: built.n,
        root: built.root,
        errors,
        error_count,
        lines,
        runs: built.runs,
        read_seconds,
        write_seconds: t1.elapsed().as_secs_f64(),
    })
}

#[cfg(test)]
mod tests;
