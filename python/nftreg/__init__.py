"""nftreg: an NFT asset-ownership registry.

The public Python API. Everything here is re-exported from one place with an explicit
``__all__``; ``nftreg._core`` (the Rust extension) is private.
"""

from __future__ import annotations

from nftreg import errors
from nftreg._core import __version__
from nftreg.errors import InvalidInputError, InvariantError, NftregError
from nftreg.merkle import SimpleMerkleTree, StandardMerkleTree, verify_many

__all__ = [
    "__version__",
    "errors",
    "NftregError",
    "InvalidInputError",
    "InvariantError",
    "StandardMerkleTree",
    "SimpleMerkleTree",
    "verify_many",
]
