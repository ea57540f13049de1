"""The IPFS Pinning Service API (ipfs/pinning-services-api-spec, v0.1.x): its objects, the
checks on them, and nftreg's own pin-request registry behind ``/psa/pins``.

Objects: ``Pin`` {cid, name?, origins?, meta?}; ``PinStatus`` {requestid, status, created, pin,
delegates, info?} with status queued | pinning | pinned | failed; ``PinResults`` {count,
results}; errors are ``Failure`` {"error": {"reason", "details"}}. Listing filters: cid (≤ 10),
name + match (exact | iexact | partial | ipartial), status, before / after (RFC 3339), limit
(1..1000, default 10), meta (JSON object); with no status filter only ``pinned`` is listed;
results run newest first, and ``created`` is unique so that ``before`` paginates.

The registry keeps pin requests per access token in a SQLite file next to the store (shared by
every worker process of one ``nftreg serve``); the content itself is pinned in the node's
content store. A request for content the store does not hold stays ``queued`` until the
content arrives (nftreg does not fetch from ``origins``: its embedded store is offline).
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from nftreg import _core
from nftreg.ipfs.base import ContentStore

__all__ = ["MATCHES", "STATUSES", "PinQuery", "PinRegistry", "PsaError", "check_pin", "format_time",
           "parse_query", "parse_time"]

STATUSES = ("queued", "pinning", "pinned", "failed")
MATCHES = ("exact", "iexact", "partial", "ipartial")
MAX_LIMIT = 1000


class PsaError(Exception):
    """A request the API refuses: HTTP status, machine reason, human details."""

    def __init__(self, status: int, reason: str, details: str):
        super().__init__(details)
        self.status, self.reason, self.details = status, reason, details

    def body(self) -> dict[str, Any]:
        return {"error": {"reason": self.reason, "details": self.details}}


def _bad(details: str) -> PsaError:
    return PsaError(400, "BAD_REQUEST", details)


def format_time(t: datetime) -> str:
    """RFC 3339 in UTC with microseconds: ``2026-12-03T08:40:00.123456Z``."""
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


_FRACTION = re.compile(r"(\.\d{6})\d+")


def parse_time(text: str, field: str) -> datetime:
    """An RFC 3339 timestamp (``Z`` or an offset; nanoseconds are cut to microseconds)."""
    try:
        t = datetime.fromisoformat(_FRACTION.sub(r"\1", text.strip()).replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise _bad(f"{field}: not an RFC 3339 timestamp: {text!r}") from None
    if t.tzinfo is None:
        raise _bad(f"{field}: the timestamp needs a time zone (Z or an offset): {text!r}")
    return t.astimezone(timezone.utc)


def _check_cid(cid: Any, field: str = "cid") -> str:
    if not isinstance(cid, str) or not cid:
        raise _bad(f"{field}: a CID string is required")
    try:
        _core.cid.cid_info(cid)
    except (ValueError, TypeError):
        raise _bad(f"{field}: {cid!r} is not a valid CID") from None
    return cid


def _check_strings(v: Any, field: str, max_items: int) -> list[str]:
    if v is None:
        return []
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise _bad(f"{field}: expected a list of strings")
    if len(v) > max_items:
        raise _bad(f"{field}: at most {max_items} entries, got {len(v)}")
    if len(set(v)) != len(v):
        raise _bad(f"{field}: entries must be unique")
    return list(v)


def _check_meta(v: Any, field: str = "meta") -> dict[str, str]:
    if v is None:
        return {}
    if not isinstance(v, dict) or not all(isinstance(k, str) and isinstance(x, str) for k, x in v.items()):
        raise _bad(f"{field}: expected an object of string keys and string values")
    if len(v) > 1000:
        raise _bad(f"{field}: at most 1000 keys")
    return dict(v)


def check_pin(body: Any) -> dict[str, Any]:
    """A ``Pin`` object from a request body, checked; unknown keys are refused."""
    if not isinstance(body, dict):
        raise _bad("the body must be a Pin object: {cid, name?, origins?, meta?}")
    extra = set(body) - {"cid", "name", "origins", "meta"}
    if extra:
        raise _bad(f"unknown Pin field(s): {', '.join(sorted(extra))}")
    pin: dict[str, Any] = {"cid": _check_cid(body.get("cid"))}
    name = body.get("name")
    if name is not None:
        if not isinstance(name, str) or len(name) > 255:
            raise _bad("name: a string of at most 255 characters")
        pin["name"] = name
    origins = _check_strings(body.get("origins"), "origins", 20)
    if origins:
        pin["origins"] = origins
    meta = _check_meta(body.get("meta"))
    if meta:
        pin["meta"] = meta
    return pin


@dataclass
class PinQuery:
    """The filters of ``GET /pins``."""

    cids: list[str] | None = None
    name: str | None = None
    match: str = "exact"
    statuses: list[str] | None = None
    before: datetime | None = None
    after: datetime | None = None
    limit: int = 10
    meta: dict[str, str] | None = None


def _multi(values: Sequence[str]) -> list[str]:
    """``?x=a&x=b`` (form, explode) and ``?x=a,b`` (the Go client's CSV) both mean [a, b]."""
    out: list[str] = []
    for v in values:
        out += [p for p in v.split(",") if p]
    return out


def parse_query(params: Mapping[str, Sequence[str]]) -> PinQuery:
    """``GET /pins`` query parameters (each name to all its values), checked."""
    known = {"cid", "name", "match", "status", "before", "after", "limit", "meta"}
    extra = set(params) - known
    if extra:
        raise _bad(f"unknown query parameter(s): {', '.join(sorted(extra))}")

    def one(key: str) -> str | None:
        vals = params.get(key) or []
        if len(vals) > 1:
            raise _bad(f"{key}: give it once")
        return vals[0] if vals else None

    q = PinQuery()
    if params.get("cid"):
        q.cids = [_check_cid(c) for c in _multi(params["cid"])]
        if not 1 <= len(q.cids) <= 10:
            raise _bad("cid: 1 to 10 CIDs")
    name = one("name")
    if name is not None:
        if len(name) > 255:
            raise _bad("name: at most 255 characters")
        q.name = name
    match = one("match")
    if match is not None:
        if match not in MATCHES:
            raise _bad(f"match: one of {', '.join(MATCHES)}, got {match!r}")
        q.match = match
    if params.get("status"):
        st = _multi(params["status"])
        bad = [s for s in st if s not in STATUSES]
        if bad or not st:
            raise _bad(f"status: each one of {', '.join(STATUSES)}, got {bad or st}")
        q.statuses = list(dict.fromkeys(st))
    before, after = one("before"), one("after")
    q.before = parse_time(before, "before") if before is not None else None
    q.after = parse_time(after, "after") if after is not None else None
    limit = one("limit")
    if limit is not None:
        try:
            q.limit = int(limit)
        except ValueError:
            raise _bad(f"limit: an integer from 1 to {MAX_LIMIT}, got {limit!r}") from None
        if not 1 <= q.limit <= MAX_LIMIT:
            raise _bad(f"limit: an integer from 1 to {MAX_LIMIT}, got {q.limit}")
    meta = one("meta")
    if meta is not None:
        try:
            q.meta = _check_meta(json.loads(meta))
        except ValueError:
            raise _bad("meta: a JSON object of strings") from None
    return q


_SCHEMA = """
CREATE TABLE IF NOT EXISTS psa_pins (
  requestid TEXT PRIMARY KEY,
  owner TEXT NOT NULL,
  cid TEXT NOT NULL,
  name TEXT,
  pin TEXT NOT NULL,
  status TEXT NOT NULL,
  created_us INTEGER NOT NULL UNIQUE,
  details TEXT
);
CREATE INDEX IF NOT EXISTS psa_pins_owner_created ON psa_pins(owner, created_us);
CREATE INDEX IF NOT EXISTS psa_pins_cid ON psa_pins(cid);
"""


def _us(t: datetime) -> int:
    return int((t - datetime(1970, 1, 1, tzinfo=timezone.utc)) / timedelta(microseconds=1))


def _from_us(us: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(microseconds=us)


def _name_matches(name: str | None, want: str, how: str) -> bool:
    if name is None:
        return False
    if how == "exact":
        return name == want
    if how == "iexact":
        return name.casefold() == want.casefold()
    if how == "partial":
        return want in name
    return want.casefold() in name.casefold()


class PinRegistry:
    """Pin requests per access token (``owner`` = a hash of the token), in SQLite."""

    def __init__(self, path: str | Path, store: ContentStore, *, delegates: Sequence[str]):
        self.path = str(path)
        self.store = store
        self.delegates = list(delegates)
        self._lock = threading.Lock()
        with self._db() as db:
            db.executescript(_SCHEMA)

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            yield db
        finally:
            db.close()

    def _status(self, row: tuple[Any, ...]) -> dict[str, Any]:
        requestid, _, _, _, pin, status, created_us, details = row
        out: dict[str, Any] = {"requestid": requestid, "status": status,
                               "created": format_time(_from_us(created_us)), "pin": json.loads(pin),
                               "delegates": self.delegates}
        if details:
            out["info"] = {"status_details": details}
        return out

    def _settle(self, cid: str) -> tuple[str, str | None]:
        """Pin in the store when it holds the content; else the request waits."""
        if self.store.has(cid):
            self.store.pin(cid)
            return "pinned", None
        return "queued", "waiting for the content to reach this node's store"

    def _refresh(self, db: sqlite3.Connection, rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        out = []
        for row in rows:
            if row[5] == "queued":
                status, details = self._settle(row[2])
                if status != "queued":
                    db.execute("UPDATE psa_pins SET status=?, details=? WHERE requestid=?", (status, details, row[0]))
                    row = (*row[:5], status, row[6], details)
            out.append(row)
        return out

    def add(self, owner: str, pin: dict[str, Any], *, replacing: str | None = None) -> dict[str, Any]:
        status, details = self._settle(pin["cid"])
        with self._lock, self._db() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                if replacing is not None:
                    old = db.execute("SELECT cid FROM psa_pins WHERE requestid=? AND owner=?", (replacing, owner)).fetchone()
                    if old is None:
                        raise PsaError(404, "NOT_FOUND", f"no pin request {replacing!r}")
                    db.execute("DELETE FROM psa_pins WHERE requestid=?", (replacing,))
                last = db.execute("SELECT MAX(created_us) FROM psa_pins").fetchone()[0] or 0
                created = max(_us(datetime.now(timezone.utc)), last + 1)  # unique: `before` paginates
                rid = uuid.uuid4().hex
                db.execute("INSERT INTO psa_pins VALUES (?,?,?,?,?,?,?,?)",
                           (rid, owner, pin["cid"], pin.get("name"), json.dumps(pin), status, created, details))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        if replacing is not None:
            self._unpin_if_unreferenced(old[0])
        return self._status((rid, owner, pin["cid"], pin.get("name"), json.dumps(pin), status, created, details))

    def get(self, owner: str, requestid: str) -> dict[str, Any]:
        with self._db() as db:
            row = db.execute("SELECT * FROM psa_pins WHERE requestid=? AND owner=?", (requestid, owner)).fetchone()
            if row is None:
                raise PsaError(404, "NOT_FOUND", f"no pin request {requestid!r}")
            return self._status(self._refresh(db, [row])[0])

    def remove(self, owner: str, requestid: str) -> None:
        with self._lock, self._db() as db:
            row = db.execute("SELECT cid FROM psa_pins WHERE requestid=? AND owner=?", (requestid, owner)).fetchone()
            if row is None:
                raise PsaError(404, "NOT_FOUND", f"no pin request {requestid!r}")
            db.execute("DELETE FROM psa_pins WHERE requestid=?", (requestid,))
        self._unpin_if_unreferenced(row[0])

    def _unpin_if_unreferenced(self, cid: str) -> None:
        """The store's pin goes when no request (of any token) still asks for the CID."""
        with self._db() as db:
            left = db.execute("SELECT COUNT(*) FROM psa_pins WHERE cid=? AND status='pinned'", (cid,)).fetchone()[0]
        if not left and self.store.is_pinned(cid):
            self.store.unpin(cid)

    def list(self, owner: str, q: PinQuery) -> dict[str, Any]:
        sql = ["SELECT * FROM psa_pins WHERE owner=?"]
        args: list[Any] = [owner]
        if q.cids:
            sql.append(f"AND cid IN ({','.join('?' * len(q.cids))})")
            args += q.cids
        if q.before is not None:
            sql.append("AND created_us < ?")
            args.append(_us(q.before))
        if q.after is not None:
            sql.append("AND created_us > ?")
            args.append(_us(q.after))
        sql.append("ORDER BY created_us DESC")
        statuses = q.statuses or ["pinned"]
        with self._db() as db:
            rows = self._refresh(db, db.execute(" ".join(sql), args).fetchall())
        hits = []
        for row in rows:
            if row[5] not in statuses:
                continue
            if q.name is not None and not _name_matches(row[3], q.name, q.match):
                continue
            if q.meta:
                meta = json.loads(row[4]).get("meta", {})
                if any(meta.get(k) != v for k, v in q.meta.items()):
                    continue
            hits.append(row)
        return {"count": len(hits), "results": [self._status(r) for r in hits[: q.limit]]}
