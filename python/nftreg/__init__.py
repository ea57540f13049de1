"""nftreg: an NFT asset-ownership registry.

The public Python API. Everything here is re-exported from one place with an explicit
``__all__``; ``nftreg._core`` (the Rust extension) is private.
"""

from __future__ import annotations

from nftreg import errors
from nftreg._core import __version__
from nftreg.cid import cid_of, content_hash, content_hash_hex
from nftreg.errors import InvalidInputError, InvariantError, NftregError
from nftreg.merkle import SimpleMerkleTree, StandardMerkleTree, verify_many
from nftreg.metadata import build_metadata, canonical_json
from nftreg.signatures import (
    eip712_digest,
    personal_sign_digest,
    recover_addresses,
    recover_addresses_packed,
    verify_ed25519,
    verify_personal_sign,
    verify_typed_data,
)

__all__ = [
    "AsyncClient",
    "Client",
    "InvalidInputError",
    "InvariantError",
    "NftregError",
    "SimpleMerkleTree",
    "StandardMerkleTree",
    "__version__",
    "build_metadata",
    "canonical_json",
    "cid_of",
    "content_hash",
    "content_hash_hex",
    "eip712_digest",
    "errors",
    "personal_sign_digest",
    "recover_addresses",
    "recover_addresses_packed",
    "verify_ed25519",
    "verify_many",
    "verify_personal_sign",
    "verify_typed_data",
]


def __getattr__(name: str) -> object:
    # the REST client pulls in httpx and eth-account: loaded on first use
    if name in ("Client", "AsyncClient"):
        from nftreg import client

        return getattr(client, name)
    raise AttributeError(f"module 'nftreg' has no attribute {name!r}")

# The chain, IPFS and service layers pull in web3 / ipfshttpclient / FastAPI: import them from
# their modules (`nftreg.chain`, `nftreg.ipfs`, `nftreg.api`) so `import nftreg` stays light.
