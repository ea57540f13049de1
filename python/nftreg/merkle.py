"""Merkle trees byte-compatible with ``@openzeppelin/merkle-tree`` 1.0.x.

The API mirrors the npm library with Python names: ``StandardMerkleTree.of``, ``.root``,
``get_proof``, ``get_multiproof``, ``verify``, ``verify_multiproof``, ``dump``/``load``
(the ``standard-v1`` / ``simple-v1`` JSON objects) and ``render``. Hashing, tree building and
proof generation run in Rust (``nftreg._core``) with the GIL released.

Leaf values are lists (or tuples) with one entry per type of the leaf encoding. Accepted forms,
as in the npm library: addresses as ``0x`` + 40 hex digits (mixed case must be a valid EIP-55
checksum) or 20 raw bytes; integers as Python ``int`` or decimal / ``0x``-hex strings;
``bytesN`` / ``bytes`` as ``0x``-hex strings or ``bytes``; ``string`` as ``str``; arrays as lists.
``dump()`` writes Python ints as decimal strings and bytes as ``0x``-hex so that JavaScript reads
them without loss.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Generic, TypeVar

from nftreg import _core
from nftreg.errors import InvalidInputError

__all__ = [
    "MultiProof",
    "ProofStream",
    "SimpleMerkleTree",
    "StandardMerkleTree",
    "abi_encode",
    "keccak256",
    "leaf_hash",
    "verify_many",
    "verify_many_json",
]

MultiProof = dict[str, Any]
"""``{"leaves": [...], "proof": [...], "proof_flags": [...]}``."""

T = TypeVar("T")


class _hybridmethod(Generic[T]):
    """A method that is static when called on the class and bound when called on an instance
    (the npm library has both ``StandardMerkleTree.verify(root, ...)`` and ``tree.verify(...)``)."""

    def __init__(self, on_class: Callable[..., T], on_instance: Callable[..., T]):
        self.on_class = on_class
        self.on_instance = on_instance
        self.__doc__ = on_instance.__doc__

    def __get__(self, obj: Any, owner: type | None = None) -> Callable[..., T]:
        if obj is None:
            return self.on_class
        return self.on_instance.__get__(obj, owner)


def _hex(b: bytes) -> str:
    return "0x" + b.hex()


def _jsonable(v: Any) -> Any:
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return v
    if isinstance(v, int):
        return str(v)
    if isinstance(v, (bytes, bytearray, memoryview)):
        return _hex(bytes(v))
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    raise InvalidInputError(f"cannot serialise value of type {type(v).__name__}")


def _proof_flags(multiproof: Mapping[str, Any]) -> list[bool]:
    flags = multiproof.get("proof_flags", multiproof.get("proofFlags"))
    if flags is None:
        raise InvalidInputError("multiproof needs 'proof_flags' (or 'proofFlags')")
    if not all(isinstance(f, bool) for f in flags):
        raise InvalidInputError("multiproof proof_flags must be booleans")
    return list(flags)


def _multiproof_parts(multiproof: Mapping[str, Any]) -> tuple[list[Any], list[Any], list[bool]]:
    if not isinstance(multiproof, Mapping):
        raise InvalidInputError("multiproof must be a mapping with leaves, proof and proof_flags")
    try:
        leaves, proof = multiproof["leaves"], multiproof["proof"]
    except KeyError as e:
        raise InvalidInputError(f"multiproof is missing {e.args[0]!r}") from None
    return list(leaves), list(proof), _proof_flags(multiproof)


def _root_bytes(root: str | bytes) -> bytes:
    if isinstance(root, str):
        if not root.startswith("0x") or len(root) != 66:
            raise InvalidInputError(f"root must be 0x + 64 hex digits, got {root!r}")
        try:
            return bytes.fromhex(root[2:])
        except ValueError:
            raise InvalidInputError(f"root is not valid hex: {root!r}") from None
    if len(root) != 32:
        raise InvalidInputError(f"root must be 32 bytes, got {len(root)}")
    return bytes(root)


def _proves(root: bytes, leaf: bytes, proof: Sequence[str | bytes]) -> bool:
    return bytes(_core.merkle.process_proof(leaf, list(proof))) == root


def _multiproves(root: bytes, hashes: list[bytes], multiproof: Mapping[str, Any]) -> bool:
    """Does the multiproof (leaves already hashed) reach ``root``? Malformed is simply False."""
    _, proof, flags = _multiproof_parts(multiproof)
    try:
        return bytes(_core.merkle.process_multiproof(hashes, proof, flags)) == root
    except InvalidInputError:
        return False


def _simple_leaf(value: str | bytes) -> bytes:
    """A SimpleMerkleTree leaf is the bytes32 value itself (validated by the ABI encoder)."""
    return bytes(_core.merkle.abi_encode(["bytes32"], [value]))


def leaf_hash(leaf_encoding: Sequence[str], value: Sequence[Any]) -> str:
    """``keccak256(keccak256(abi.encode(leaf_encoding, value)))`` as 0x-hex."""
    return _hex(_core.merkle.standard_leaf_hash(list(leaf_encoding), value))


def abi_encode(types: Sequence[str], values: Sequence[Any]) -> bytes:
    """``abi.encode(types..., values...)``."""
    return _core.merkle.abi_encode(list(types), values)


def keccak256(data: bytes | str) -> str:
    """Ethereum keccak-256 of bytes (or 0x-hex) as 0x-hex."""
    return _hex(_core.merkle.keccak(data))


def verify_many(
    root: str | bytes,
    leaf_encoding: Sequence[str],
    values: Sequence[Sequence[Any]],
    proofs: Sequence[Sequence[str | bytes]],
) -> list[bool]:
    """Verify ``proofs[i]`` for ``values[i]`` against ``root``, in parallel on all cores with the
    GIL released. A malformed value or proof gives ``False`` for that item only; mismatched
    lengths or a bad root/encoding raise ``InvalidInputError``."""
    return _core.merkle.verify_many(root, list(leaf_encoding), values, proofs)


def verify_many_json(body: bytes, *, leaf_encoding: Sequence[str], max_items: int = 1 << 62) -> list[bool]:
    """Verify a whole JSON proofs document in one call, without building Python objects:
    ``{"root": "0x…", "leaf_encoding": [...] (optional, else ``leaf_encoding``), "items":
    [{"value": [...], "proof": ["0x…", …]}, …]}`` (the body of ``POST /v1/verify/proofs``).
    Parsing, hashing and folding run in Rust on all cores with the GIL released. A malformed
    item gives ``False``; a malformed document, root or encoding, or more than ``max_items``
    items, raises ``InvalidInputError``."""
    return _core.merkle.verify_proofs_json(body, list(leaf_encoding), max_items)


class ProofStream:
    """:func:`verify_many_json` while the body is still arriving: :meth:`feed` the body in
    chunks of any size (full batches of items are parsed, hashed and folded on all cores in the
    background, with the GIL released), then :meth:`finish` for one bool per item. Results and
    errors are exactly those of :func:`verify_many_json` on the whole body, however it is split;
    :meth:`finish` raises ``InvalidInputError`` for a malformed document, root or encoding, or
    more than ``max_items`` items. Use each stream for one body only."""

    __slots__ = ("_inner",)

    def __init__(self, *, leaf_encoding: Sequence[str], max_items: int = 1 << 62) -> None:
        self._inner = _core.merkle.ProofStream(list(leaf_encoding), max_items)

    def feed(self, chunk: bytes | bytearray | memoryview) -> None:
        """Append the next chunk of the body."""
        self._inner.feed(chunk)

    def finish(self) -> list[bool]:
        """End of body: one bool per item, in order."""
        return self._inner.finish()


class _TreeBase:
    _core: Any
    _values: list[Any]

    def __len__(self) -> int:
        return len(self._values)

    @property
    def root(self) -> str:
        """The root as 0x-hex."""
        return _hex(self._core.root)

    def at(self, index: int) -> Any:
        """The value at ``index`` (negative counts from the end), or ``None``."""
        try:
            return self._values[index]
        except IndexError:
            return None

    def entries(self) -> Iterator[tuple[int, Any]]:
        return iter(enumerate(self._values))

    def render(self) -> str:
        """ASCII drawing of the node array, identical to the npm library's ``render()``."""
        return self._core.render()

    def _leaf_hash(self, value: Any) -> bytes:
        raise NotImplementedError

    def leaf_lookup(self, value: Any) -> int:
        """Index of ``value`` in the tree's values; ``InvalidInputError`` if absent."""
        found = self._core.lookup(self._leaf_hash(value))
        if found is None:
            raise InvalidInputError("leaf is not in tree")
        return found

    def _index(self, index_or_value: Any) -> int:
        if isinstance(index_or_value, int) and not isinstance(index_or_value, bool):
            if not 0 <= index_or_value < len(self._values):
                raise InvalidInputError(
                    f"index {index_or_value} out of bounds (tree has {len(self._values)} values)"
                )
            return index_or_value
        return self.leaf_lookup(index_or_value)

    def _leaf_for(self, index_or_value: Any) -> bytes:
        if isinstance(index_or_value, int) and not isinstance(index_or_value, bool):
            return bytes(self._core.leaf(self._index(index_or_value)))
        return self._leaf_hash(index_or_value)

    def get_proof(self, index_or_value: Any) -> list[str]:
        """Sibling hashes (0x-hex) proving one value, by index or by value."""
        return self._core.proof(self._index(index_or_value))

    def get_multiproof(self, indices_or_values: Sequence[Any]) -> MultiProof:
        """A multiproof of several values: ``{leaves, proof, proof_flags}`` (leaves are values,
        in the order ``MerkleProof.multiProofVerify`` consumes them). Duplicates are refused."""
        idx = [self._index(x) for x in indices_or_values]
        order, proof, flags = self._core.multiproof(idx)
        return {"leaves": [self._values[i] for i in order], "proof": proof, "proof_flags": flags}

    def _verify_instance(self, index_or_value: Any, proof: Sequence[str | bytes]) -> bool:
        """Does ``proof`` prove this value (or the value at this index) against this root?"""
        return _proves(self._core.root, self._leaf_for(index_or_value), proof)

    def _verify_multiproof_instance(self, multiproof: Mapping[str, Any]) -> bool:
        leaves, _, _ = _multiproof_parts(multiproof)
        return _multiproves(self._core.root, [self._leaf_for(x) for x in leaves], multiproof)

    def all_proofs(self) -> Any:
        """Every value's proof at once, computed in parallel in Rust: a ``ProofSet`` where
        ``proofs[i]`` is the proof of value ``i`` (also ``proof_bytes(i)``, ``to_bytes()``)."""
        return self._core.all_proofs()

    def _check_leaves(self, flat: bytes) -> None:
        bad = self._core.first_leaf_mismatch(flat)
        if bad is not None:
            raise InvalidInputError(
                f"values[{bad}]: the tree does not contain the expected value "
                f"(its leaf hash differs from tree[{self._core.position_of(bad)}])"
            )

    def validate(self) -> None:
        """Recheck every node and every value's leaf; raises on any inconsistency."""
        if not self._core.is_valid():
            raise InvalidInputError("Merkle tree is invalid: a node differs from the hash of its children")
        self._check_leaves(self._all_leaf_hashes())

    def _all_leaf_hashes(self) -> bytes:
        raise NotImplementedError


def _load_values(data: Mapping[str, Any]) -> tuple[list[Any], list[int]]:
    raw = data.get("values")
    if not isinstance(raw, list) or not raw:
        raise InvalidInputError("dump has no 'values' list")
    values, positions = [], []
    for i, entry in enumerate(raw):
        if not isinstance(entry, Mapping) or "value" not in entry or "treeIndex" not in entry:
            raise InvalidInputError(f"values[{i}]: expected {{value, treeIndex}}")
        ti = entry["treeIndex"]
        if not isinstance(ti, int) or isinstance(ti, bool) or ti < 0:
            raise InvalidInputError(f"values[{i}].treeIndex: expected a non-negative integer")
        values.append(entry["value"])
        positions.append(ti)
    return values, positions


def _load_core(data: Mapping[str, Any], positions: list[int]) -> Any:
    tree = data.get("tree")
    if not isinstance(tree, list) or not tree:
        raise InvalidInputError("dump has no 'tree' list")
    if len(tree) != 2 * len(positions) - 1:
        raise InvalidInputError(
            f"dump's tree has {len(tree)} nodes; {len(positions)} values need {2 * len(positions) - 1}"
        )
    if len(set(positions)) != len(positions):
        raise InvalidInputError("dump's values share a treeIndex")
    return _core.merkle.core_from_dump(tree, positions)


class StandardMerkleTree(_TreeBase):
    """OpenZeppelin's ``StandardMerkleTree``: leaves are ABI-encoded values, double-hashed."""

    def __init__(self, core: Any, values: list[Any], leaf_encoding: list[str]):
        self._core = core
        self._values = values
        self._leaf_encoding = leaf_encoding

    @classmethod
    def of(
        cls,
        values: Sequence[Sequence[Any]],
        leaf_encoding: Sequence[str],
        *,
        sort_leaves: bool = True,
    ) -> StandardMerkleTree:
        """Build a tree of ``values`` encoded as ``leaf_encoding`` (e.g. ``["address", "uint256"]``)."""
        if isinstance(leaf_encoding, str):
            raise InvalidInputError("leaf_encoding must be a list of type names, not a string")
        values = list(values)
        core = _core.merkle.build_standard(list(leaf_encoding), values, sort_leaves)
        return cls(core, values, list(leaf_encoding))

    @property
    def leaf_encoding(self) -> list[str]:
        return list(self._leaf_encoding)

    def leaf_hash(self, value: Sequence[Any]) -> str:
        return _hex(self._leaf_hash(value))

    def _leaf_hash(self, value: Any) -> bytes:
        return bytes(_core.merkle.standard_leaf_hash(self._leaf_encoding, value))

    def _all_leaf_hashes(self) -> bytes:
        return bytes(_core.merkle.standard_leaf_hashes(self._leaf_encoding, self._values))

    @staticmethod
    def _verify_static(root: str | bytes, leaf_encoding: Sequence[str], value: Sequence[Any], proof: Sequence[str | bytes]) -> bool:
        """``StandardMerkleTree.verify(root, leaf_encoding, value, proof)``."""
        return _proves(_root_bytes(root), _core.merkle.standard_leaf_hash(list(leaf_encoding), value), proof)

    @staticmethod
    def _verify_multiproof_static(root: str | bytes, leaf_encoding: Sequence[str], multiproof: Mapping[str, Any]) -> bool:
        """``StandardMerkleTree.verify_multiproof(root, leaf_encoding, multiproof)``."""
        leaves, _, _ = _multiproof_parts(multiproof)
        hashes = [_core.merkle.standard_leaf_hash(list(leaf_encoding), v) for v in leaves]
        return _multiproves(_root_bytes(root), hashes, multiproof)

    verify = _hybridmethod(_verify_static, _TreeBase._verify_instance)
    verify_multiproof = _hybridmethod(_verify_multiproof_static, _TreeBase._verify_multiproof_instance)

    def dump(self) -> dict[str, Any]:
        """The ``standard-v1`` object, exactly as the npm library writes it."""
        positions = self._core.positions()
        return {
            "format": "standard-v1",
            "leafEncoding": list(self._leaf_encoding),
            "tree": self._core.tree_hex(),
            "values": [{"value": _jsonable(v), "treeIndex": p} for v, p in zip(self._values, positions)],
        }

    @classmethod
    def load(cls, data: Mapping[str, Any]) -> StandardMerkleTree:
        """Load and fully validate a ``standard-v1`` dump (from nftreg or the npm library)."""
        if not isinstance(data, Mapping):
            raise InvalidInputError("dump must be a JSON object")
        if data.get("format") != "standard-v1":
            raise InvalidInputError(f"unknown format {data.get('format')!r} (expected 'standard-v1')")
        enc = data.get("leafEncoding")
        if not isinstance(enc, list) or not enc or not all(isinstance(t, str) for t in enc):
            raise InvalidInputError("dump needs 'leafEncoding', a list of type names")
        values, positions = _load_values(data)
        tree = cls(_load_core(data, positions), values, list(enc))
        tree._check_leaves(tree._all_leaf_hashes())
        return tree


class SimpleMerkleTree(_TreeBase):
    """OpenZeppelin's ``SimpleMerkleTree``: leaves are bytes32 values used as-is."""

    def __init__(self, core: Any, values: list[Any]):
        self._core = core
        self._values = values

    @classmethod
    def of(cls, values: Sequence[str | bytes], *, sort_leaves: bool = True) -> SimpleMerkleTree:
        values = list(values)
        return cls(_core.merkle.build_simple(values, sort_leaves), values)

    def leaf_hash(self, value: str | bytes) -> str:
        return _hex(self._leaf_hash(value))

    def _leaf_hash(self, value: Any) -> bytes:
        return _simple_leaf(value)

    def _all_leaf_hashes(self) -> bytes:
        return b"".join(self._leaf_hash(v) for v in self._values)

    @staticmethod
    def _verify_static(root: str | bytes, leaf: str | bytes, proof: Sequence[str | bytes]) -> bool:
        """``SimpleMerkleTree.verify(root, leaf, proof)``."""
        return _proves(_root_bytes(root), _simple_leaf(leaf), proof)

    @staticmethod
    def _verify_multiproof_static(root: str | bytes, multiproof: Mapping[str, Any]) -> bool:
        leaves, _, _ = _multiproof_parts(multiproof)
        return _multiproves(_root_bytes(root), [_simple_leaf(v) for v in leaves], multiproof)

    verify = _hybridmethod(_verify_static, _TreeBase._verify_instance)
    verify_multiproof = _hybridmethod(_verify_multiproof_static, _TreeBase._verify_multiproof_instance)

    def dump(self) -> dict[str, Any]:
        """The ``simple-v1`` object, exactly as the npm library writes it."""
        positions = self._core.positions()
        return {
            "format": "simple-v1",
            "tree": self._core.tree_hex(),
            "values": [{"value": _hex(self._leaf_hash(v)), "treeIndex": p} for v, p in zip(self._values, positions)],
        }

    @classmethod
    def load(cls, data: Mapping[str, Any]) -> SimpleMerkleTree:
        if not isinstance(data, Mapping):
            raise InvalidInputError("dump must be a JSON object")
        if data.get("format") != "simple-v1":
            raise InvalidInputError(f"unknown format {data.get('format')!r} (expected 'simple-v1')")
        if data.get("hash") == "custom":
            raise InvalidInputError("dump expects a custom node hash; nftreg supports only the standard one")
        values, positions = _load_values(data)
        tree = cls(_load_core(data, positions), values)
        tree._check_leaves(tree._all_leaf_hashes())
        return tree
