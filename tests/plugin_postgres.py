"""A real PostgreSQL server for the test session: the Debian binaries (installed with apt when
missing), initdb in a temporary directory owned by the unprivileged ``postgres`` user (initdb
refuses root), a free loopback port, one database; yields its SQLAlchemy URL."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest


def _pg_bin() -> str:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        subprocess.run(["apt-get", "install", "-y", "postgresql"], check=True, capture_output=True, timeout=900)
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        pytest.fail("PostgreSQL binaries not found under /usr/lib/postgresql/*/bin")
    return os.path.dirname(found[-1])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_postgres(args: list[str], **kw) -> subprocess.CompletedProcess:
    if os.geteuid() == 0:
        args = ["runuser", "-u", "postgres", "--", *args]
    return subprocess.run(args, check=False, capture_output=True, text=True, **kw)


def own_database(url: str, prefix: str) -> str:
    """A new, empty database on the server of ``url`` (the ``postgres`` fixture's); its URL.
    Tests that deploy a registry contract of their own need one: token ids in an index are only
    unique per registry contract."""
    import secrets

    import sqlalchemy as sa

    name = f"{prefix}_{secrets.token_hex(4)}"
    eng = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with eng.connect() as c:
            c.execute(sa.text(f"CREATE DATABASE {name}"))
    finally:
        eng.dispose()
    return url.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(scope="session")
def postgres():
    bindir = _pg_bin()
    base = tempfile.mkdtemp(prefix="nftreg-pg-")
    os.chmod(base, 0o755)
    data = os.path.join(base, "data")
    if os.geteuid() == 0:
        shutil.chown(base, "postgres", "postgres")
    out = _as_postgres([f"{bindir}/initdb", "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8"], timeout=120)
    if out.returncode != 0:
        pytest.fail(f"initdb failed: {out.stderr[-2000:]}")
    port = _free_port()
    out = _as_postgres([f"{bindir}/pg_ctl", "-D", data, "-l", os.path.join(base, "log"), "-w", "-t", "60", "-o",
                        f"-h 127.0.0.1 -p {port} -k {base} -c max_connections=300 -c fsync=off", "start"], timeout=90)
    if out.returncode != 0:
        log_path = Path(base) / "log"
        log = log_path.read_text()[-2000:] if log_path.exists() else ""
        pytest.fail(f"pg_ctl start failed: {out.stderr[-2000:]} {log}")
    try:
        deadline = time.monotonic() + 30
        while _as_postgres([f"{bindir}/createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "nftreg"],
                           timeout=30).returncode != 0:
            if time.monotonic() > deadline:
                pytest.fail("could not create the test database")
            time.sleep(0.2)
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/nftreg"
    finally:
        _as_postgres([f"{bindir}/pg_ctl", "-D", data, "-m", "fast", "-w", "stop"], timeout=60)
        shutil.rmtree(base, ignore_errors=True)
