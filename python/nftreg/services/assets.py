"""The asset index: one row per registered content hash, read by token id, content hash or
owner. A row that is minted but not final is checked against the chain before it is shown."""

from __future__ import annotations

from datetime import datetime, timezone
from types import SimpleNamespace
from typing import Any

from sqlalchemy import select

from nftreg.db import Asset, Database
from nftreg.services import validate
from nftreg.services.auth import aware
from nftreg.services.errors import NotFound
from nftreg.services.logfeed import LogFeed
from nftreg.services.outbox import Outbox

__all__ = ["Assets", "asset_view", "new_row_view"]


def asset_view(a: Asset | SimpleNamespace, log_index: int | None = None, anchored_size: int = 0) -> dict[str, Any]:
    """The asset as the API shows it. An off-chain registration's status is ``logging`` (accepted,
    not yet in a published checkpoint), ``logged`` (its receipt is available) or ``anchored`` (a
    checkpoint covering it is anchored on-chain: it can be minted with its log proof)."""
    status = a.status
    if status == "offchain":
        status = "logging" if log_index is None else "anchored" if anchored_size > log_index else "logged"
    return {"token_id": a.token_id, "owner": a.owner, "content_hash": a.content_hash, "asset_cid": a.asset_cid,
            "metadata_cid": a.metadata_cid, "token_uri": f"ipfs://{a.metadata_cid}", "media_type": a.media_type,
            "size": a.size, "status": status, "final": bool(a.final), "tx_hash": a.tx_hash,
            "block_number": a.block_number, "onchain": a.status != "offchain", "log_index": log_index,
            "receipt": f"/v1/assets/{a.content_hash}/receipt",
            "registered_at": _utc_text(a.created_at)}


def new_row_view(row: dict[str, Any]) -> dict[str, Any]:
    """``asset_view`` of an asset row just inserted from ``row`` (its column values), without
    building an ORM object (the batch registration path shows hundreds at a time)."""
    return asset_view(SimpleNamespace(token_id=None, tx_hash=None, block_number=None, **row))


def _utc_text(dt: datetime | None) -> str | None:
    """RFC 3339 in UTC, written as the API's models write it (``Z``), so a response built from
    this dict and one validated through ``Asset`` carry the same text."""
    return None if dt is None else aware(dt).astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


class Assets:
    def __init__(self, db: Database, outbox: Outbox, logfeed: LogFeed | None = None):
        self.db, self.outbox, self.logfeed = db, outbox, logfeed

    def view(self, a: Asset) -> dict[str, Any]:
        if self.logfeed is None:
            return asset_view(a)
        idx = self.logfeed.registration_index(a.content_hash)
        return asset_view(a, idx, self.logfeed.anchored_size() if a.status == "offchain" and idx is not None else 0)

    def _recheck(self, a: Asset) -> bool:
        """So that a mint whose block a reorg or devnet restart dropped reads as pending at once."""
        if a.status != "minted" or a.final or a.outbox_id is None:
            return False
        return self.outbox.recheck(a.outbox_id)

    def _one(self, cond: Any, missing: str, fresh: bool) -> dict[str, Any]:
        for _ in range(2):
            with self.db.read() as s:
                a = s.scalars(select(Asset).where(cond)).one_or_none()
            if a is None:
                raise NotFound(missing)
            if not (fresh and self._recheck(a)):
                break
            fresh = False
        assert a is not None
        return self.view(a)

    def by_hash(self, ch: str, *, fresh: bool = True) -> dict[str, Any]:
        return self._one(Asset.content_hash == ch, f"no asset with content hash {ch}", fresh)

    def by_token(self, token_id: int) -> dict[str, Any]:
        missing = f"no token {token_id} in the index"
        return self._one(Asset.token_id == validate.token_id(token_id, missing), missing, True)

    def list(self, *, owner: str | None, content_hash: str | None, after: int, limit: int) -> list[dict[str, Any]]:
        q = select(Asset).where(Asset.status == "minted", Asset.token_id > max(-1, min(after, validate.INT64 - 1)))
        if owner:
            q = q.where(Asset.owner == validate.address(owner))
        if content_hash:
            q = q.where(Asset.content_hash == validate.hex32(content_hash, "content_hash"))
        with self.db.read() as s:
            return [asset_view(a) for a in s.scalars(q.order_by(Asset.token_id).limit(limit))]
