//! One item of a proofs body: `{"value": [...], "proof": ["0x…", …]}` → does the proof fold the
//! value's standard leaf (`keccak256(keccak256(abi.encode(types, value)))`) onto the root?
//! Values are read by the one value → ABI conversion of `nftreg-eth`; anything malformed makes
//! the item `false`, never an error.

use jiter::JsonValue;
use nftreg_eth::abi::AbiType;
use nftreg_eth::keccak::{keccak256, keccak256_32};
use nftreg_eth::value::{self, Input, Source};
use nftreg_eth::{EthError, Hash};
use nftreg_merkle::tree::process_proof;
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

    /// True when the item's proof folds its value's leaf onto the root; false when it does not
    /// or when the item is malformed in any way.
    pub fn check(&self, item: &JsonValue<'_>, s: &mut Scratch) -> bool {
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
        if value::encode_fields(&self.types, |f| Ok(Json(&value[f])), &mut s.buf).is_err() {
            return false;
        }
        let leaf = keccak256_32(&keccak256(&s.buf));
        process_proof(&leaf, &s.proof) == self.root
    }
}
