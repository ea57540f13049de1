"""Ownership: single-use challenges a holder answers with a personal_sign signature, and
EIP-712 mint vouchers signed by the service's key for a recipient to redeem on-chain."""

from __future__ import annotations

import json
import secrets
import time
from datetime import timedelta
from typing import Any

from nftreg.chain import Chain, Registry, Voucher
from nftreg.db import Database, OwnershipChallenge
from nftreg.db.models import utcnow
from nftreg.errors import ContractRevert
from nftreg.services import validate
from nftreg.services.auth import aware
from nftreg.services.errors import NotFound, Unprocessable
from nftreg.signatures import personal_sign_digest, recover_addresses

__all__ = ["Ownership"]

VOUCHER_TTL_S = 86400  # a voucher's deadline when the request names none


class Ownership:
    def __init__(self, db: Database, chain: Chain, registry: Registry, *, challenge_ttl_s: int):
        self.db, self.chain, self.registry = db, chain, registry
        self.challenge_ttl_s = challenge_ttl_s

    def owner_of(self, token_id: int) -> str:
        missing = f"token {token_id} does not exist on chain {self.chain.chain_id}"
        validate.token_id(token_id, missing)
        try:
            with self.chain.serialized():
                return self.registry.owner_of(token_id)
        except ContractRevert as e:
            if e.name == "ERC721NonexistentToken":
                raise NotFound(missing) from None
            raise

    def challenge(self, token_id: int) -> dict[str, Any]:
        self.owner_of(token_id)
        nonce = secrets.token_hex(16)
        expires = utcnow() + timedelta(seconds=self.challenge_ttl_s)
        message = (f"nftreg ownership challenge\nChain ID: {self.chain.chain_id}\nContract: {self.registry.address}\n"
                   f"Token ID: {token_id}\nNonce: {nonce}\nExpires: {expires.isoformat()}")
        with self.db.write() as s:
            s.add(OwnershipChallenge(nonce=nonce, token_id=token_id, message=message, expires_at=expires))
        return {"nonce": nonce, "token_id": token_id, "message": message, "expires_at": expires.isoformat()}

    def verify(self, nonce: str, signature: str) -> dict[str, Any]:
        try:
            sig = bytes.fromhex(signature.removeprefix("0x"))
        except ValueError:
            raise Unprocessable("signature: expected 0x-hex") from None
        with self.db.write() as s:
            challenge = s.get(OwnershipChallenge, nonce)
            if challenge is None or challenge.used:
                raise NotFound("challenge unknown or already used; request a new one")
            challenge.used = True  # single use even when the answer is wrong
            expired = aware(challenge.expires_at) <= utcnow()
            token_id, message = challenge.token_id, challenge.message
        if expired:
            raise Unprocessable("challenge expired; request a new one")
        signer = recover_addresses([personal_sign_digest(message.encode())], [sig])[0]
        owner = self.owner_of(token_id)
        return {"token_id": token_id, "owner": owner, "signer": signer, "verified": signer == owner}

    def issue_voucher(self, *, to: str, content_hash: str, metadata_cid: str, deadline: int | None) -> dict[str, Any]:
        v = Voucher(validate.address(to, "to"), bytes.fromhex(validate.hex32(content_hash, "content_hash")[2:]),
                    validate.cid(metadata_cid, "metadata_cid"), secrets.randbits(128),
                    deadline if deadline is not None else int(time.time()) + VOUCHER_TTL_S)
        with self.chain.serialized():
            sig = self.registry.sign_voucher(v, self.chain.signer)
            typed = self.registry.voucher_typed_data(v)
        return {"voucher": {"to": v.to, "content_hash": content_hash.lower(), "metadata_cid": v.metadata_cid,
                            "uid": str(v.uid), "deadline": v.deadline},
                "signature": "0x" + sig.hex(), "signer": self.chain.address,
                "typed_data": json.loads(json.dumps(typed, default=lambda o: "0x" + o.hex()))}
