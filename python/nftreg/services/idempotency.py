"""``Idempotency-Key``: a retry gets the first response, the same key with another body is a
422, and a key whose first request is still running is a 409. The in-flight row is inserted
in its own committed transaction so concurrent requests race on the primary key, not on
application logic."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, insert, update
from sqlalchemy.exc import IntegrityError

from nftreg.db import Database, IdempotencyRecord
from nftreg.db.models import utcnow
from nftreg.services.auth import aware
from nftreg.services.errors import Conflict, ServiceError, Unprocessable

__all__ = ["fingerprint", "run_idempotent"]

# In-flight records created before this process started belong to a process that is gone
# (crash, kill -9, restart): nothing can finish them, so a retry takes them over at once.
# With several replicas sharing one database this also takes over a live replica's older
# record; that is safe because the chain write is guarded by the outbox and the contract's
# one-token-per-content-hash rule, not by this key.
_PROCESS_START = utcnow()
# Set when other server processes share the database (`Settings.shared_database`): then only
# age (`stale_after_s`) makes a record stale, as another live process may own it.
SHARED_DATABASE = False


def fingerprint(*parts: Any) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p if isinstance(p, bytes) else json.dumps(p, sort_keys=True, default=str).encode())
        h.update(b"\x00")
    return h.hexdigest()


def run_idempotent(db: Database, scope: str, key: str | None, fp: str,
                   fn: Callable[[], tuple[int, dict[str, Any]]], *,
                   stale_after_s: float = 600) -> tuple[int, dict[str, Any], bool]:
    """Run ``fn`` once per (scope, key). Returns (status, body, replayed). An in-flight record
    older than ``stale_after_s`` belongs to a process that died; the retry takes it over (the
    work itself is protected by the outbox and the content-hash constraint, not by this key)."""
    if key is None:
        status, body = fn()
        return status, body, False
    if not (1 <= len(key) <= 255):
        raise Unprocessable("Idempotency-Key must be 1 to 255 characters")
    full = f"{scope}:{key}"
    try:
        with db.write() as s:
            s.execute(insert(IdempotencyRecord).values(key=full, fingerprint=fp, state="in_flight", created_at=utcnow()))
    except IntegrityError:
        with db.read() as s:
            rec = s.get(IdempotencyRecord, full)
        if rec is None:  # the first request failed and released the key in between
            raise Conflict("a request with this Idempotency-Key just finished without a result; retry") from None
        if rec.fingerprint != fp:
            raise Unprocessable("Idempotency-Key was already used with a different request body") from None
        if rec.state != "done":
            if not _take_over_stale(db, full, stale_after_s):
                raise Conflict("a request with this Idempotency-Key is still in progress; retry later") from None
        else:
            return int(rec.status_code or 200), json.loads(rec.response or "{}"), True
    try:
        status, body = fn()
    except ServiceError as e:
        if e.status >= 500:
            _release(db, full)
            raise
        _finish(db, full, e.status, e.problem())
        raise
    except BaseException:
        # the operation may be retried safely: chain writes are guarded by the outbox and
        # the content-hash constraint, so releasing the key cannot cause a second mint
        _release(db, full)
        raise
    _finish(db, full, status, body)
    return status, body, False


def _take_over_stale(db: Database, full: str, stale_after_s: float) -> bool:
    cutoff = utcnow() - timedelta(seconds=stale_after_s)
    with db.write() as s:
        rec = s.get(IdempotencyRecord, full)
        if rec is None or rec.state != "in_flight":
            return False
        created = aware(rec.created_at)
        if created > cutoff and (SHARED_DATABASE or created >= aware(_PROCESS_START)):
            return False
        rec.created_at = utcnow()  # claimed by this request; a racing retry sees it fresh
        return True


def _finish(db: Database, full: str, status: int, body: dict[str, Any]) -> None:
    response = json.dumps(body)
    with db.write() as s:
        s.execute(update(IdempotencyRecord).where(IdempotencyRecord.key == full)
                  .values(state="done", status_code=status, response=response))


def _release(db: Database, full: str) -> None:
    with db.write() as s:
        s.execute(delete(IdempotencyRecord).where(IdempotencyRecord.key == full))
