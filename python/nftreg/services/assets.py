"""The asset index: one row per registered content hash, read by token id, content hash or
owner. A row that is minted but not final is checked against the chain before it is shown."""

from __future__ import annotations

from datetime import datetime, timezone
from types import SimpleNamespace
from typing import Any

from sqlalchemy import literal, select

from nftreg.db import Asset, Database, LogRecord
from nftreg.services import validate
from nftreg.services.auth import aware
from nftreg.services.errors import NotFound, Unprocessable
from nftreg.services.logfeed import LogFeed
from nftreg.services.outbox import Outbox

__all__ = ["LIST_STATUSES", "Assets", "asset_view", "new_row_view"]

# what GET /v1/assets can filter by: the statuses assets are shown with (``offchain``: any of the
# three off-chain ones); a listing without a filter shows every status but ``failed``
LIST_STATUSES = ("pending", "minted", "failed", "offchain", "logging", "logged", "anchored")


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

    def list(self, *, owner: str | None, content_hash: str | None, status: str | None = None, after: int = 0,
             limit: int = 100) -> list[dict[str, Any]]:
        """Registrations in the order the registry recorded them (row id, after ``after``):
        minted, pending and off-chain alike, each with its status as ``view`` shows it; a mint
        that failed only when ``status`` asks for ``failed``. ``status`` filters by the status
        shown (``offchain``: any of logging, logged, anchored)."""
        if status is not None and status not in LIST_STATUSES:
            raise Unprocessable(f"status: one of {', '.join(LIST_STATUSES)}")
        private_idx = (select(LogRecord.log_index).where(LogRecord.key == literal("private:") + Asset.content_hash)
                       .scalar_subquery())
        q = select(Asset, private_idx).where(Asset.id > max(0, min(after, validate.INT64 - 1)))
        if owner:
            q = q.where(Asset.owner == validate.address(owner))
        if content_hash:
            q = q.where(Asset.content_hash == validate.hex32(content_hash, "content_hash"))
        anchored = self.logfeed.anchored_size() if self.logfeed is not None else 0
        if status in (None, "offchain"):
            q = q.where(Asset.status != "failed") if status is None else q.where(Asset.status == "offchain")
        elif status in ("pending", "minted", "failed"):
            q = q.where(Asset.status == status)
        else:
            q = q.where(Asset.status == "offchain")
            q = q.where(private_idx.is_(None) if status == "logging"
                        else private_idx >= anchored if status == "logged" else private_idx < anchored)
        with self.db.read() as s:
            rows = list(s.execute(q.order_by(Asset.id).limit(limit)).all())
            others = [a.content_hash for a, _ in rows if a.status != "offchain"]
            minted_idx: dict[str, Any] = dict(s.execute(select(LogRecord.key, LogRecord.log_index).where(
                LogRecord.key.in_([f"reg:{h}" for h in others]))).all()) if others and self.logfeed else {}
        out = []
        for a, pidx in rows:
            idx = pidx if pidx is not None or a.status == "offchain" else minted_idx.get(f"reg:{a.content_hash}")
            out.append({**asset_view(a, None if idx is None else int(idx), anchored), "row_id": a.id})
        return out
