"""Build a claim batch, prove one claim, and check it the way the contract will.

Run: .venv/bin/python examples/merkle_batch.py
"""

from nftreg import StandardMerkleTree, verify_many
from nftreg.cid import cid_of, content_hash
from nftreg.metadata import build_metadata, canonical_json

# Each claim: (owner, SHA-256 of the asset, CID of its ERC-721 metadata).
assets = [("0x1111111111111111111111111111111111111111", b"design A", "ภูเก็ตเมืองอัจฉริยะ"),
          ("0x2222222222222222222222222222222222222222", b"design B", "Smart city plan")]
claims = []
for owner, data, title in assets:
    meta = build_metadata(name=title, image="ipfs://" + cid_of(data))
    claims.append([owner, "0x" + content_hash(data).hex(), cid_of(canonical_json(meta))])

tree = StandardMerkleTree.of(claims, ["address", "bytes32", "string"])
proof = tree.get_proof(0)
assert StandardMerkleTree.verify(tree.root, ["address", "bytes32", "string"], claims[0], proof)
assert verify_many(tree.root, tree.leaf_encoding, claims, tree.all_proofs()) == [True, True]
print("root", tree.root)
print("proof of claim 0", proof)
