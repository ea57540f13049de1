"""Engines and sessions. SQLite gets WAL (readers never block the writer) and ``BEGIN
IMMEDIATE`` for write transactions, so two writers queue on the lock at BEGIN instead of both
reading and then one failing with "database is locked" at commit. PostgreSQL comes by URL."""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

__all__ = ["Database", "upgrade"]


def _sqlite_pragmas(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn, _record):  # type: ignore[no-untyped-def]
        # pysqlite's own transaction handling would emit a plain BEGIN; we emit ours below
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn):  # type: ignore[no-untyped-def]
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("nftreg_write") else "BEGIN")


class Database:
    def __init__(self, url: str):
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            path = url.split("///", 1)[1] if "///" in url else ""
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            self.engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False},
                                        pool_size=20, max_overflow=40)
            _sqlite_pragmas(self.engine)
        else:
            self.engine = create_engine(url, pool_size=20, max_overflow=40, pool_pre_ping=True)
        # SQLite has one writer at a time and its busy handler waits by sleeping (1, 2, 5, 10 ...
        # 100 ms), so writers that contend at BEGIN IMMEDIATE lose tens of ms each. Threads of
        # one process queue on this lock instead, and processes on one file (a server with
        # several workers) on an flock of a file beside the database.
        self._write_lock: threading.RLock | None = threading.RLock() if self.is_sqlite else None
        self._depth = threading.local()
        self._flock_fd: int | None = None
        if self.is_sqlite and path and path != ":memory:":
            self._flock_fd = os.open(f"{path}.write-lock", os.O_RDWR | os.O_CREAT, 0o600)
        self._read = sessionmaker(self.engine, expire_on_commit=False)
        self._write = sessionmaker(self.engine.execution_options(nftreg_write=True), expire_on_commit=False)

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self._read() as s:
            yield s

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A write transaction, committed on success and rolled back on any exception."""
        if self._write_lock is None:
            with self._write() as s, s.begin():
                yield s
            return
        with self._write_lock:
            depth = getattr(self._depth, "n", 0)
            if depth == 0 and self._flock_fd is not None:
                fcntl.flock(self._flock_fd, fcntl.LOCK_EX)
            self._depth.n = depth + 1
            try:
                with self._write() as s, s.begin():
                    yield s
            finally:
                self._depth.n = depth
                if depth == 0 and self._flock_fd is not None:
                    fcntl.flock(self._flock_fd, fcntl.LOCK_UN)

    def ping(self) -> None:
        with self.engine.connect() as c:
            c.execute(text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()
        if self._flock_fd is not None:
            os.close(self._flock_fd)
            self._flock_fd = None


def upgrade(db: Database) -> None:
    """Bring the schema to the newest migration (run at start-up)."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).resolve().parent.parent / "migrations"))
    cfg.set_main_option("sqlalchemy.url", db.url.replace("%", "%%"))
    with db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
