"""Off-chain verification: Merkle proofs against a root, and signatures in batches (the schemes
are registered in ``nftreg.signatures.schemes``)."""

from __future__ import annotations

from typing import Any

from nftreg.claims import CLAIM_LEAF_ENCODING
from nftreg.errors import InvalidInputError
from nftreg.merkle import ProofStream, verify_many
from nftreg.services import validate
from nftreg.services.errors import Unprocessable
from nftreg.signatures.schemes import verify_items

__all__ = ["Verification"]


class Verification:
    def __init__(self, *, max_items: int):
        self.max_items = max_items

    def _limit(self, n: int) -> None:
        if n > self.max_items:
            raise Unprocessable(f"at most {self.max_items} items per request")

    def proofs(self, root: str, leaf_encoding: list[str], values: list[Any], proofs: list[Any]) -> list[bool]:
        validate.hex32(root, "root")
        self._limit(len(values))
        try:
            return verify_many(root, leaf_encoding, values, proofs)
        except InvalidInputError as e:
            raise Unprocessable(str(e)) from None

    def proof_stream(self) -> ProofStream:
        """A streaming verifier for one ``/v1/verify/proofs`` body (claims encoding by default)."""
        return ProofStream(leaf_encoding=CLAIM_LEAF_ENCODING, max_items=self.max_items)

    def signatures(self, items: list[Any]) -> list[dict[str, Any]]:
        """Each item by its scheme (``nftreg.signatures.schemes``, the one registry of schemes)."""
        self._limit(len(items))
        return [{"index": i, "valid": ok, **({"error": f"items[{i}]: {err}"} if err else {})}
                for i, (ok, err) in enumerate(verify_items(items))]
