//! One item of a proofs body: `{"value": [...], "proof": ["0x…", …]}` → does the proof fold the
//! value's standard leaf (`keccak256(keccak256(abi.encode(types, value)))`) onto the root?
//! Values are read by the one value → ABI conversion of `nftreg-eth`; anything malformed makes
//! the item `false`, never an error.
//!
//! Two ways to the same answer: [`Ctx::check`] hashes one item at a time in one lane (the tests'
//! reference), and a [`Group`] gathers up to [`GROUP`] items and computes both leaf hashes and
//! the proof folds of all of them in keccak lanes (what the verifier runs).

use jiter::JsonValue;
use nftreg_eth::abi::AbiType;
use nftreg_eth::keccak::{keccak256, keccak256_32, Lanes};
use nftreg_eth::value::{self, Input, Source};
use nftreg_eth::{EthError, Hash};
use nftreg_merkle::tree::{process_proof, process_proofs_with};
use num_bigint::Sign;

use crate::parse::{field, kind};

/// A JSON value (as jiter parsed it) seen by the shared conversion.
struct Json<'a, 'j>(&'a JsonValue<'j>);

fn int_input(negative: bool, magnitude_or_twos: &[u8]) -> Input<'static> {
    if magnitude_or_twos.len() > 32 {
        return Input::Int { word: None, negative };
    }
    let mut w = if negative { [0xff; 32] } else { [0; 32] };
    w[32 - magnitude_or_twos.len()..].copy_from_slice(magnitude_or_twos);
    Input::Int { word: Some(w), negative }
}

impl<'a, 'j> Source for Json<'a, 'j> {
    fn input(&self) -> Input<'_> {
        match self.0 {
            JsonValue::Str(s) => Input::Str(s),
            JsonValue::Bool(b) => Input::Bool(*b),
            JsonValue::Int(i) => int_input(*i < 0, &i.to_be_bytes()),
            JsonValue::BigInt(b) if b.sign() == Sign::Minus => int_input(true, &b.to_signed_bytes_be()),
            JsonValue::BigInt(b) => int_input(false, &b.to_bytes_be().1),
            other => Input::Other(kind(other)),
        }
    }
    fn items(&self) -> Option<Result<Vec<Self>, EthError>> {
        match self.0 {
            JsonValue::Array(a) => Some(Ok(a.iter().map(Json).collect())),
            _ => None,
        }
    }
}

/// Per-thread buffers reused across items.
#[derive(Default)]
pub struct Scratch {
    buf: Vec<u8>,
    proof: Vec<Hash>,
}

/// What every item of one body is checked against.
pub struct Ctx {
    types: Vec<AbiType>,
    root: Hash,
}

impl Ctx {
    pub fn new(types: Vec<AbiType>, root: Hash) -> Ctx {
        Ctx { types, root }
    }

    pub fn types(&self) -> &[AbiType] {
        &self.types
    }

    /// Read one item's proof into `s.proof` and `abi.encode` its value into `s.buf`; false when
    /// the item is malformed in any way (then the item is `false`).
    fn prepare(&self, item: &JsonValue<'_>, s: &mut Scratch) -> bool {
        let (Some(JsonValue::Array(value)), Some(JsonValue::Array(proof))) = (field(item, "value"), field(item, "proof")) else {
            return false;
        };
        s.proof.clear();
        for p in proof.iter() {
            let JsonValue::Str(p) = p else { return false };
            let Some(h) = p.strip_prefix("0x") else { return false };
            let mut out = [0u8; 32];
            if !nftreg_eth::abi::decode_hex_exact(h.as_bytes(), &mut out).0 {
                return false;
            }
            s.proof.push(out);
        }
        if value.len() != self.types.len() {
            return false;
        }
        s.buf.clear();
        value::encode_fields(&self.types, |f| Ok(Json(&value[f])), &mut s.buf).is_ok()
    }

    /// True when the item's proof folds its value's leaf onto the root; false when it does not
    /// or when the item is malformed in any way. One item, one lane: the reference a
    /// [`Group`] must match.
    pub fn check(&self, item: &JsonValue<'_>, s: &mut Scratch) -> bool {
        if !self.prepare(item, s) {
            return false;
        }
        let leaf = keccak256_32(&keccak256(&s.buf));
        process_proof(&leaf, &s.proof) == self.root
    }
}

/// Items per [`Group`]: enough to keep eight lanes busy through the leaf hashes and the proof
/// folds (proofs of different depths drop out of the fold as they finish), small enough that a
/// rayon task of one group stays cache-resident.
pub const GROUP: usize = 256;

/// Items gathered to be hashed together: their encoded values and proofs, flat, then both leaf
/// hashes ([`Lanes::double`]) and the proof folds ([`process_proofs_with`]) in keccak lanes.
/// Gives exactly [`Ctx::check`]'s answer for each item.
pub struct Group {
    scratch: Scratch,
    enc: Vec<u8>,
    enc_offs: Vec<usize>,
    proofs: Vec<Hash>,
    proof_offs: Vec<usize>,
    ok: Vec<bool>,
    leaves: Vec<Hash>,
    roots: Vec<Hash>,
}

impl Default for Group {
    fn default() -> Self {
        Group {
            scratch: Scratch::default(),
            enc: Vec::with_capacity(GROUP * 64),
            enc_offs: vec![0],
            proofs: Vec::with_capacity(GROUP * 20),
            proof_offs: vec![0],
            ok: Vec::with_capacity(GROUP),
            leaves: Vec::with_capacity(GROUP),
            roots: Vec::with_capacity(GROUP),
        }
    }
}

impl Group {
    /// Items pushed since the last [`Group::finish`].
    pub fn len(&self) -> usize {
        self.ok.len()
    }

    /// Add one item (`None`: valid JSON that is not an item at all, which is just `false`).
    pub fn push(&mut self, ctx: &Ctx, item: Option<&JsonValue<'_>>) {
        let good = item.is_some_and(|it| ctx.prepare(it, &mut self.scratch));
        if good {
            self.enc.extend_from_slice(&self.scratch.buf);
            self.proofs.extend_from_slice(&self.scratch.proof);
        }
        self.enc_offs.push(self.enc.len());
        self.proof_offs.push(self.proofs.len());
        self.ok.push(good);
    }

    /// Append one answer per pushed item to `out`, in order; the group is then empty again.
    pub fn finish(&mut self, lanes: Lanes, ctx: &Ctx, out: &mut Vec<bool>) {
        let n = self.ok.len();
        if n == 0 {
            return;
        }
        let encoded: Vec<&[u8]> = self.enc_offs.windows(2).map(|w| &self.enc[w[0]..w[1]]).collect();
        self.leaves.clear();
        self.leaves.resize(n, [0u8; 32]);
        lanes.double(&encoded, &mut self.leaves);
        self.roots.clear();
        self.roots.resize(n, [0u8; 32]);
        let (proofs, offs) = (&self.proofs, &self.proof_offs);
        process_proofs_with(lanes, &self.leaves, |i| &proofs[offs[i]..offs[i + 1]], &mut self.roots);
        out.extend(self.ok.iter().zip(&self.roots).map(|(ok, r)| *ok && *r == ctx.root));
        self.enc.clear();
        self.enc_offs.truncate(1);
        self.proofs.clear();
        self.proof_offs.truncate(1);
        self.ok.clear();
    }
}
