//! `_core.merkle`: binding for `nftreg-merkle` (trees, proofs) and keccak. Python leaf values
//! are read under the GIL ([`values`], errors naming the value index and field) while our own
//! threads encode and hash them ([`pipeline`]); trees are built and proofs computed with the
//! GIL released. The request verifier's binding (`crate::verify`) joins this submodule.

use std::collections::HashMap;
use std::sync::OnceLock;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PySequence, PyString};

use nftreg_eth::abi::{self, AbiType};
use nftreg_eth::keccak::{keccak256, Lanes};
use nftreg_eth::value::is_scalar;
use nftreg_merkle::MerkleError;
use nftreg_eth::Hash;
use nftreg_merkle::tree::{self, IndexedTree};

use crate::errors::{invalid, Result};

mod pipeline;
pub(crate) mod values;

use pipeline::{leaf_hashes_pipelined, standard_leaf, ProofSource};
use values::{encode_leaf, hash32, hashes, raw_bytes};

fn parse_types(types: &[String]) -> Result<Vec<AbiType>> {
    Ok(abi::parse_types(types)?)
}

fn hex0x(h: &Hash) -> String {
    let mut s = String::with_capacity(66);
    s.push_str("0x");
    s.push_str(&hex::encode(h));
    s
}

/// A built tree: node array, per-value tree positions, and a lazily built hash → value index.
#[pyclass(module = "nftreg._core.merkle", frozen)]
pub struct MerkleCore {
    inner: IndexedTree,
    lookup: OnceLock<HashMap<Hash, usize>>,
}

impl MerkleCore {
    fn new(inner: IndexedTree) -> Self {
        MerkleCore { inner, lookup: OnceLock::new() }
    }
    fn position(&self, value_index: usize) -> Result<usize> {
        self.inner
            .positions
            .get(value_index)
            .copied()
            .ok_or_else(|| invalid(format!("index {value_index} out of bounds (tree has {} values)", self.inner.positions.len())))
    }
    fn lookup_map(&self) -> &HashMap<Hash, usize> {
        self.lookup.get_or_init(|| {
            let mut m = HashMap::with_capacity(self.inner.positions.len());
            for (v, &p) in self.inner.positions.iter().enumerate() {
                m.insert(self.inner.tree[p], v); // later duplicates win, as in the npm library
            }
            m
        })
    }
}

#[pymethods]
impl MerkleCore {
    #[getter]
    fn root<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.root())
    }
    fn __len__(&self) -> usize {
        self.inner.positions.len()
    }
    fn node_count(&self) -> usize {
        self.inner.tree.len()
    }
    fn tree_hex(&self) -> Vec<String> {
        self.inner.tree.iter().map(hex0x).collect()
    }
    fn positions(&self) -> Vec<usize> {
        self.inner.positions.clone()
    }
    fn position_of(&self, value_index: usize) -> Result<usize> {
        self.position(value_index)
    }
    fn leaf<'py>(&self, py: Python<'py>, value_index: usize) -> Result<Bound<'py, PyBytes>> {
        let p = self.position(value_index)?;
        Ok(PyBytes::new(py, &self.inner.tree[p]))
    }
    fn lookup(&self, py: Python<'_>, leaf_hash: &Bound<'_, PyAny>) -> Result<Option<usize>> {
        let h = hash32(leaf_hash, "leaf hash")?;
        Ok(py.allow_threads(|| self.lookup_map().get(&h).copied()))
    }
    fn proof(&self, value_index: usize) -> Result<Vec<String>> {
        let p = self.position(value_index)?;
        Ok(tree::get_proof(&self.inner.tree, p).map_err(crate::errors::Error::from)?.iter().map(hex0x).collect())
    }
    /// Returns (value indices of the proven leaves in proof order, proof, proof_flags).
    fn multiproof(&self, py: Python<'_>, value_indices: Vec<usize>) -> Result<(Vec<usize>, Vec<String>, Vec<bool>)> {
        let positions = value_indices.iter().map(|&v| self.position(v)).collect::<Result<Vec<_>>>()?;
        let mp = tree::get_multiproof(&self.inner.tree, &positions).map_err(crate::errors::Error::from)?;
        let map = py.allow_threads(|| self.lookup_map());
        let leaves = mp.leaves.iter().map(|&p| map[&self.inner.tree[p]]).collect();
        Ok((leaves, mp.proof.iter().map(hex0x).collect(), mp.proof_flags))
    }
    /// Every value's proof at once, computed in parallel with the GIL released.
    fn all_proofs(&self, py: Python<'_>) -> Result<ProofSet> {
        let (flat, offsets) = py
            .allow_threads(|| tree::all_proofs(&self.inner.tree, &self.inner.positions))
            .map_err(crate::errors::Error::from)?;
        Ok(ProofSet { flat, offsets })
    }
    /// First value index whose leaf (32-byte slice of `flat`) differs from the tree, if any.
    fn first_leaf_mismatch(&self, py: Python<'_>, flat: &[u8]) -> Result<Option<usize>> {
        if flat.len() != 32 * self.inner.positions.len() {
            return Err(invalid("leaf hash buffer does not match the number of values"));
        }
        Ok(py.allow_threads(|| {
            self.inner
                .positions
                .iter()
                .enumerate()
                .position(|(v, &p)| self.inner.tree[p][..] != flat[32 * v..32 * v + 32])
        }))
    }
    fn render(&self) -> Result<String> {
        tree::render(&self.inner.tree).map_err(crate::errors::Error::from)
    }
    fn is_valid(&self, py: Python<'_>) -> bool {
        py.allow_threads(|| tree::is_valid_tree(&self.inner.tree))
    }
}

/// All proofs of a tree in one flat buffer; `proofs[i]` is value i's proof.
#[pyclass(module = "nftreg._core.merkle", frozen, sequence)]
pub struct ProofSet {
    pub(crate) flat: Vec<Hash>,
    pub(crate) offsets: Vec<usize>,
}

#[pymethods]
impl ProofSet {
    fn __len__(&self) -> usize {
        self.offsets.len() - 1
    }
    fn __getitem__(&self, i: isize) -> Result<Vec<String>> {
        let n = self.__len__() as isize;
        let j = if i < 0 { i + n } else { i };
        if j < 0 || j >= n {
            return Err(crate::errors::Error::IndexOutOfRange("proof index out of range".into()));
        }
        let j = j as usize;
        Ok(self.flat[self.offsets[j]..self.offsets[j + 1]].iter().map(hex0x).collect())
    }
    /// Value i's proof as concatenated 32-byte hashes.
    fn proof_bytes<'py>(&self, py: Python<'py>, i: usize) -> Result<Bound<'py, PyBytes>> {
        if i >= self.__len__() {
            return Err(invalid(format!("index {i} out of bounds")));
        }
        Ok(PyBytes::new(py, self.flat[self.offsets[i]..self.offsets[i + 1]].as_flattened()))
    }
    /// All proofs concatenated (32 bytes per hash); slice with `offsets()` (in hashes).
    fn to_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.flat.as_flattened())
    }
    fn offsets(&self) -> Vec<usize> {
        self.offsets.clone()
    }
    #[getter]
    fn nbytes(&self) -> usize {
        self.flat.len() * 32
    }
}

#[pyfunction]
#[pyo3(signature = (leaf_encoding, values, sort_leaves = true, *, convert_in_parallel = true))]
fn build_standard(
    py: Python<'_>,
    leaf_encoding: Vec<String>,
    values: &Bound<'_, PyAny>,
    sort_leaves: bool,
    convert_in_parallel: bool,
) -> Result<MerkleCore> {
    let types = parse_types(&leaf_encoding)?;
    let (leaves, _) = leaf_hashes_pipelined(py, values, &types, false, None, convert_in_parallel)?;
    if leaves.is_empty() {
        return Err(invalid("expected a non-zero number of values"));
    }
    let tree = py.allow_threads(move || IndexedTree::build(&leaves, sort_leaves));
    Ok(MerkleCore::new(tree.map_err(crate::errors::Error::from)?))
}

/// Why a 32-byte ABI word is not the canonical encoding of a static scalar type, if it is not.
fn noncanonical(t: &AbiType, w: &[u8]) -> Option<&'static str> {
    let zero_until = |n: usize| w[..n].iter().all(|b| *b == 0);
    match t {
        AbiType::Address => (!zero_until(12)).then_some("address with nonzero upper 12 bytes"),
        AbiType::Bool => (!zero_until(31) || w[31] > 1).then_some("bool other than 0 or 1"),
        AbiType::Uint(bits) => (!zero_until(32 - *bits as usize / 8)).then_some("uint out of range"),
        AbiType::Int(bits) => {
            let top = 32 - *bits as usize / 8;
            let fill = if w[top] & 0x80 != 0 { 0xff } else { 0 };
            (!w[..top].iter().all(|b| *b == fill)).then_some("int not sign-extended")
        }
        AbiType::FixedBytes(n) => (!w[*n as usize..].iter().all(|b| *b == 0)).then_some("bytesN with nonzero padding"),
        _ => Some("not a static scalar type"),
    }
}

/// A StandardMerkleTree from packed `abi.encode` bytes: `data` is every value's encoding
/// concatenated (32 bytes per type, static scalar types only), so no Python object is touched
/// per leaf; checking, both leaf hashes (in keccak lanes) and the tree run in parallel with the
/// GIL released. Same tree as `build_standard` on the decoded values.
#[pyfunction]
#[pyo3(signature = (leaf_encoding, data, sort_leaves = true))]
fn build_standard_packed(py: Python<'_>, leaf_encoding: Vec<String>, data: &Bound<'_, PyAny>, sort_leaves: bool) -> Result<MerkleCore> {
    use rayon::prelude::*;
    let types = parse_types(&leaf_encoding)?;
    if let Some(t) = types.iter().find(|t| !is_scalar(t) || t.is_dynamic()) {
        return Err(invalid(format!("build_standard_packed: {} is not a static scalar type", t.name())));
    }
    let stride = 32 * types.len();
    let data = crate::buffers::bytes_view(data, "data")?;
    if stride == 0 || data.is_empty() || data.len() % stride != 0 {
        return Err(invalid(format!("data: expected a non-zero multiple of {stride} bytes, got {}", data.len())));
    }
    let n = data.len() / stride;
    let tree = py.allow_threads(|| -> std::result::Result<IndexedTree, MerkleError> {
        if let Some((i, why)) = data.par_chunks(stride).enumerate().find_map_first(|(i, leaf)| {
            types.iter().zip(leaf.chunks_exact(32)).find_map(|(t, w)| noncanonical(t, w)).map(|why| (i, why))
        }) {
            return Err(MerkleError::InvalidInput(format!("data: value {i}: {why}")));
        }
        let lanes = Lanes::active();
        let mut leaves = vec![[0u8; 32]; n];
        leaves.par_chunks_mut(4096).enumerate().for_each(|(k, out)| {
            let first = k * 4096;
            let enc: Vec<&[u8]> = (first..first + out.len()).map(|i| &data[i * stride..(i + 1) * stride]).collect();
            lanes.double(&enc, out);
        });
        IndexedTree::build(&leaves, sort_leaves)
    });
    Ok(MerkleCore::new(tree?))
}

#[pyfunction]
#[pyo3(signature = (leaves, sort_leaves = true))]
fn build_simple(py: Python<'_>, leaves: &Bound<'_, PyAny>, sort_leaves: bool) -> Result<MerkleCore> {
    let leaves = hashes(leaves, "values")?;
    if leaves.is_empty() {
        return Err(invalid("expected a non-zero number of values"));
    }
    let tree = py.allow_threads(|| IndexedTree::build(&leaves, sort_leaves));
    Ok(MerkleCore::new(tree.map_err(crate::errors::Error::from)?))
}

/// Rebuild from a dump's `tree` and the values' `treeIndex`es; checks the node structure.
#[pyfunction]
fn core_from_dump(py: Python<'_>, tree: &Bound<'_, PyAny>, positions: Vec<usize>) -> Result<MerkleCore> {
    let nodes = hashes(tree, "tree")?;
    let inner = py.allow_threads(|| IndexedTree::from_parts(nodes, positions)).map_err(crate::errors::Error::from)?;
    Ok(MerkleCore::new(inner))
}

/// keccak256(keccak256(abi.encode(leaf_encoding, value))): the StandardMerkleTree leaf hash.
#[pyfunction]
fn standard_leaf_hash<'py>(py: Python<'py>, leaf_encoding: Vec<String>, value: &Bound<'py, PyAny>) -> Result<Bound<'py, PyBytes>> {
    let types = parse_types(&leaf_encoding)?;
    let mut buf = Vec::new();
    encode_leaf(value, &types, 0, &mut buf).map_err(crate::errors::Error::from)?;
    Ok(PyBytes::new(py, &standard_leaf(&buf)))
}

/// abi.encode(types, values) as bytes.
#[pyfunction]
fn abi_encode<'py>(py: Python<'py>, types: Vec<String>, values: &Bound<'py, PyAny>) -> Result<Bound<'py, PyBytes>> {
    let t = parse_types(&types)?;
    let mut buf = Vec::new();
    encode_leaf(values, &t, 0, &mut buf).map_err(crate::errors::Error::from)?;
    Ok(PyBytes::new(py, &buf))
}

/// Leaf hashes of many values, concatenated (32 bytes each), hashed in parallel.
#[pyfunction]
fn standard_leaf_hashes<'py>(py: Python<'py>, leaf_encoding: Vec<String>, values: &Bound<'py, PyAny>) -> Result<Bound<'py, PyBytes>> {
    let types = parse_types(&leaf_encoding)?;
    let (flat, _) = leaf_hashes_pipelined(py, values, &types, false, None, true)?;
    Ok(PyBytes::new(py, flat.as_flattened()))
}

#[pyfunction]
fn process_proof<'py>(py: Python<'py>, leaf: &Bound<'py, PyAny>, proof: &Bound<'py, PyAny>) -> Result<Bound<'py, PyBytes>> {
    let l = hash32(leaf, "leaf")?;
    let p = hashes(proof, "proof")?;
    Ok(PyBytes::new(py, &tree::process_proof(&l, &p)))
}

#[pyfunction]
fn process_multiproof<'py>(
    py: Python<'py>,
    leaves: &Bound<'py, PyAny>,
    proof: &Bound<'py, PyAny>,
    proof_flags: Vec<bool>,
) -> Result<Bound<'py, PyBytes>> {
    let l = hashes(leaves, "leaves")?;
    let p = hashes(proof, "proof")?;
    let root = tree::process_multiproof(&l, &p, &proof_flags).map_err(crate::errors::Error::from)?;
    Ok(PyBytes::new(py, &root))
}

/// Verify many (value, proof) pairs against one root. Conversion (GIL held) overlaps with
/// hashing on the other cores. `proofs` is a list of proofs (0x-hex or bytes) or a `ProofSet`.
/// A malformed value or proof gives `False` for that item; only batch-shape errors raise.
#[pyfunction]
fn verify_many(
    py: Python<'_>,
    root: &Bound<'_, PyAny>,
    leaf_encoding: Vec<String>,
    values: &Bound<'_, PyAny>,
    proofs: &Bound<'_, PyAny>,
) -> Result<Vec<bool>> {
    let root = hash32(root, "root")?;
    let types = parse_types(&leaf_encoding)?;
    let n_values = values.len().map_err(|_| invalid("values must be a list or tuple"))?;
    let set_ref;
    let seq_ref;
    let source = if let Ok(set) = proofs.downcast::<ProofSet>() {
        set_ref = set.get();
        ProofSource::Set(set_ref)
    } else {
        if proofs.is_instance_of::<PyString>() || proofs.is_instance_of::<PyBytes>() {
            return Err(invalid("proofs must be a list of proofs or a ProofSet"));
        }
        seq_ref = proofs.downcast::<PySequence>().map_err(|_| invalid("proofs must be a list of proofs or a ProofSet"))?.clone();
        ProofSource::Lists(&seq_ref)
    };
    let n_proofs = proofs.len()?;
    if n_proofs != n_values {
        return Err(invalid(format!("values and proofs differ in length: {n_values} values, {n_proofs} proofs")));
    }
    let (implied, ok) = leaf_hashes_pipelined(py, values, &types, true, Some(&source), true)?;
    Ok(implied.iter().zip(ok).map(|(h, good)| good && *h == root).collect())
}

#[pyfunction]
fn keccak<'py>(py: Python<'py>, data: &Bound<'py, PyAny>) -> Result<Bound<'py, PyBytes>> {
    let d = crate::buffers::bytes_like(data, "data")?;
    Ok(PyBytes::new(py, &keccak256(&d)))
}

/// Run `n` bare keccak-f[1600] permutations on one core (benchmark ceiling); returns a
/// state word so the work cannot be optimised away.
#[pyfunction]
fn keccak_permutations(py: Python<'_>, n: u64) -> u64 {
    py.allow_threads(|| nftreg_eth::keccak::permute_n(n))
}

/// EIP-55 checksum of a 20-byte address.
#[pyfunction]
fn to_checksum_address(address: &Bound<'_, PyAny>) -> Result<String> {
    let raw = raw_bytes(address).map_err(|e| invalid(format!("address: {e}")))?;
    if raw.len() != 20 {
        return Err(invalid(format!("address: expected 20 bytes, got {}", raw.len())));
    }
    Ok(abi::to_checksum(&raw))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<MerkleCore>()?;
    m.add_class::<ProofSet>()?;
    m.add_function(wrap_pyfunction!(build_standard, m)?)?;
    m.add_function(wrap_pyfunction!(build_simple, m)?)?;
    m.add_function(wrap_pyfunction!(build_standard_packed, m)?)?;
    m.add_function(wrap_pyfunction!(core_from_dump, m)?)?;
    m.add_function(wrap_pyfunction!(standard_leaf_hash, m)?)?;
    m.add_function(wrap_pyfunction!(abi_encode, m)?)?;
    m.add_function(wrap_pyfunction!(standard_leaf_hashes, m)?)?;
    m.add_function(wrap_pyfunction!(process_proof, m)?)?;
    m.add_function(wrap_pyfunction!(process_multiproof, m)?)?;
    m.add_function(wrap_pyfunction!(verify_many, m)?)?;
    m.add_function(wrap_pyfunction!(keccak, m)?)?;
    m.add_function(wrap_pyfunction!(keccak_permutations, m)?)?;
    m.add_function(wrap_pyfunction!(to_checksum_address, m)?)?;
    Ok(())
}
