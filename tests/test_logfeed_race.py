"""LogFeed.record / record_many under concurrency: two transactions recording the same event at
once (the event sync and the outbox's final write both seeing a mint) add exactly one log entry,
and neither transaction fails. Real PostgreSQL (the second transaction really waits on the
first's uncommitted row: seen in pg_stat_activity) and SQLite (two connection pools on one file,
as two worker processes have)."""

from __future__ import annotations

import os
import threading
import time

import pytest
import sqlalchemy as sa
from nftreg.chain import Chain
from nftreg.db import Database, LogRecord
from nftreg.log.entry import EntryKind
from nftreg.services import RegistryService
from nftreg.settings import Settings
from plugin_postgres import own_database
from sqlalchemy import func, select


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def service(request, tmp_path_factory):
    url = own_database(request.getfixturevalue("postgres"), "lograce") if request.param == "postgres" else None
    settings = Settings(data_dir=tmp_path_factory.mktemp("lograce"), rpc_url="tester://", env="test",
                        admin_api_key="test-admin-key-0123456789", database_url=url)
    svc = RegistryService(settings, chain=Chain.connect("tester://"))
    yield svc
    svc.close()


def _hash() -> str:
    return "0x" + os.urandom(32).hex()


def _entry(svc, content_hash: str, kind: EntryKind = EntryKind.MINT):
    return svc.logfeed.entry(kind, owner=svc.chain.address, content_hash=content_hash, token_id=7,
                             tx_hash=_hash(), block=3)


def _rows(svc, *keys: str) -> dict[str, int]:
    with svc.db.read() as s:
        return dict(s.execute(select(LogRecord.key, func.count()).where(LogRecord.key.in_(keys))
                              .group_by(LogRecord.key)).all())


def _lock_waiters(svc) -> int:
    with svc.db.engine.connect() as c:
        return int(c.scalar(sa.text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                    "AND datname = current_database()")))


class _Abort(Exception):
    pass


@pytest.mark.parametrize("first_outcome", ["commit", "rollback"])
@pytest.mark.parametrize("many", [False, True], ids=["record", "record_many"])
def test_two_transactions_recording_one_event_at_once_add_one_entry(service, first_outcome, many):
    svc, feed = service, service.logfeed
    ch = _hash()
    key, rest = f"reg:{ch}", f"test:rest-of-the-transaction:{ch}"
    other_db = Database(svc.db.url)  # another connection pool on the same database (another worker)
    first_in, release = threading.Event(), threading.Event()
    got: dict[str, object] = {}

    def first() -> None:
        try:
            with svc.db.write() as s:
                got["first"] = feed.record(s, key, _entry(svc, ch))
                first_in.set()
                assert release.wait(60)
                if first_outcome == "rollback":
                    raise _Abort
        except _Abort:
            pass
        except BaseException as e:  # noqa: BLE001 - reported below
            got["first_error"] = e
            first_in.set()

    def second() -> None:
        try:
            assert first_in.wait(60)
            with other_db.write() as s:
                if many:
                    got["second"] = feed.record_many(s, [(key, _entry(svc, ch, EntryKind.CLAIM)),
                                                         (key, _entry(svc, ch, EntryKind.CLAIM))])
                else:
                    got["second"] = feed.record(s, key, _entry(svc, ch, EntryKind.CLAIM))
                # the transaction goes on (finalizing the mint) and must commit
                got["rest"] = feed.record(s, rest, _entry(svc, ch))
        except BaseException as e:  # noqa: BLE001 - reported below
            got["second_error"] = e

    t1, t2 = threading.Thread(target=first), threading.Thread(target=second)
    try:
        t1.start()
        t2.start()
        assert first_in.wait(60)
        deadline = time.monotonic() + 30
        if svc.db.is_sqlite:
            time.sleep(0.5)  # the second writer queues on the file's write lock
        else:  # the second INSERT really waits on the first's uncommitted row
            while _lock_waiters(svc) < 1:
                assert time.monotonic() < deadline, "the second transaction never waited on the first"
                assert t2.is_alive(), got
                time.sleep(0.02)
        assert t2.is_alive() and "second" not in got, got  # it is blocked, not done
        release.set()
        t1.join(60)
        t2.join(60)
    finally:
        release.set()
        other_db.dispose()
    assert "first_error" not in got and "second_error" not in got, got
    assert got["first"] is True
    if first_outcome == "commit":
        assert got["second"] in (False, 0)
    else:  # the first one's row went away with its transaction: the second adds it
        assert got["second"] in (True, 1)
    assert got["rest"] is True
    assert _rows(svc, key, rest) == {key: 1, rest: 1}
    with svc.db.read() as s:
        kind = s.scalar(select(LogRecord.kind).where(LogRecord.key == key))
    assert kind == (EntryKind.MINT if first_outcome == "commit" else EntryKind.CLAIM)


def test_record_many_skips_recorded_and_repeated_keys(service):
    svc, feed = service, service.logfeed
    a, b, c = _hash(), _hash(), _hash()
    with svc.db.write() as s:
        assert feed.record(s, f"reg:{a}", _entry(svc, a)) is True
        assert feed.record(s, f"reg:{a}", _entry(svc, a)) is False
    with svc.db.write() as s:
        added = feed.record_many(s, [(f"reg:{a}", _entry(svc, a)), (f"reg:{b}", _entry(svc, b)),
                                     (f"reg:{b}", _entry(svc, b)), (f"reg:{c}", _entry(svc, c))])
    assert added == 2
    assert _rows(svc, f"reg:{a}", f"reg:{b}", f"reg:{c}") == {f"reg:{a}": 1, f"reg:{b}": 1, f"reg:{c}": 1}
    with svc.db.write() as s:
        assert feed.record_many(s, [(f"reg:{b}", _entry(svc, b))]) == 0
        assert feed.record_many(s, []) == 0
