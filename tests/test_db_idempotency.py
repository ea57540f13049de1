"""Idempotency records on a real database: replay, body mismatch, in flight, stale takeover."""

from __future__ import annotations

from datetime import timedelta

import pytest
from nftreg.db import Database, IdempotencyRecord, upgrade
from nftreg.db.models import utcnow
from nftreg.services.errors import Conflict, Unprocessable
from nftreg.services.idempotency import fingerprint, run_idempotent


@pytest.fixture
def db(tmp_path):
    d = Database(f"sqlite:///{tmp_path / 'i.sqlite3'}")
    upgrade(d)
    yield d
    d.dispose()


def test_replay_mismatch_and_in_flight(db):
    calls = []

    def fn():
        calls.append(1)
        return 201, {"n": len(calls)}

    fp = fingerprint("a", {"x": 1})
    assert run_idempotent(db, "t", "k", fp, fn) == (201, {"n": 1}, False)
    assert run_idempotent(db, "t", "k", fp, fn) == (201, {"n": 1}, True)
    assert len(calls) == 1
    with pytest.raises(Unprocessable):
        run_idempotent(db, "t", "k", fingerprint("b"), fn)
    with db.write() as s:
        s.add(IdempotencyRecord(key="t:busy", fingerprint=fp, state="in_flight"))
    with pytest.raises(Conflict, match="in progress"):
        run_idempotent(db, "t", "busy", fp, fn)
    assert len(calls) == 1


def test_stale_in_flight_key_is_taken_over(db):
    fp = fingerprint("a")
    with db.write() as s:
        s.add(IdempotencyRecord(key="t:dead", fingerprint=fp, state="in_flight",
                                created_at=utcnow() - timedelta(hours=1)))
    assert run_idempotent(db, "t", "dead", fp, lambda: (200, {"ok": True})) == (200, {"ok": True}, False)
    assert run_idempotent(db, "t", "dead", fp, lambda: (500, {})) == (200, {"ok": True}, True)


def test_client_errors_are_remembered_server_errors_are_not(db):
    fp = fingerprint("a")

    def bad():
        raise Unprocessable("nope")

    with pytest.raises(Unprocessable):
        run_idempotent(db, "t", "e", fp, bad)
    status, body, replayed = run_idempotent(db, "t", "e", fp, lambda: (201, {}))
    assert (status, replayed) == (422, True) and body["detail"] == "nope"

    def boom():
        raise RuntimeError("db down")

    with pytest.raises(RuntimeError):
        run_idempotent(db, "t", "r", fp, boom)
    assert run_idempotent(db, "t", "r", fp, lambda: (201, {"x": 1})) == (201, {"x": 1}, False)
