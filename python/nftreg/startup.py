"""Start-up checks for ``nftreg serve`` and ``nftreg demo``: every part they need is found and
answering before anything starts, and a missing part is one line naming what, where and what
to do (``DependencyUnavailableError``; the CLI prints it and exits with code 2), never a
traceback from deep inside a client library.

Without anvil, both commands run on the in-process chain (``tester://``) after one warning
that nothing it records persists; ``serve`` then also keeps its index and content in a
temporary directory, so the index can never describe tokens of a chain that is gone. Where
that would mix a forgetful chain with durable state (a configured database, several worker
processes) the fallback is refused instead.
"""

from __future__ import annotations

import json
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nftreg.errors import ChainError, DependencyUnavailableError, NftregError
from nftreg.net import error_gist, is_loopback

__all__ = [
    "NO_ANVIL_WARNING",
    "chain_url_or_fallback",
    "check_database",
    "check_kubo",
    "check_rpc",
    "prepare_serve",
]

ANVIL_HINT = ("install anvil (`npm install -g @foundry-rs/anvil`, or foundryup from https://getfoundry.sh) "
              "or point NFTREG_ANVIL at its binary")
NO_ANVIL_WARNING = ("anvil not found, so this runs on the in-process chain (tester://): nothing it records "
                    f"persists after exit. For a chain whose state persists, {ANVIL_HINT}.")


def anvil_available() -> bool:
    from nftreg.chain.anvil import anvil_binary

    try:
        anvil_binary()
    except ChainError:
        return False
    return True


def chain_url_or_fallback(url: str | None, warn: Callable[[str], None]) -> str:
    """``url``, or for the default managed anvil (``None`` / ``anvil://``) without an anvil
    binary: ``tester://`` after one warning."""
    url = url or "anvil://"
    if url.startswith("anvil://") and not anvil_available():
        warn(NO_ANVIL_WARNING)
        return "tester://"
    return url


def check_rpc(url: str, timeout: float = 5) -> int:
    """The chain id the RPC at ``url`` answers ``eth_chainId`` with."""
    req = urllib.request.Request(url, data=json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId",
                                                       "params": []}).encode(),
                                 headers={"Content-Type": "application/json"})
    fix = "start the node, or give another with --rpc-url / NFTREG_RPC_URL"
    try:
        host = urllib.parse.urlparse(url).hostname or ""
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}) if is_loopback(host) else
                                             urllib.request.ProxyHandler())
        with opener.open(req, timeout=timeout) as r:  # a node on this machine is never asked through a proxy
            body = json.loads(r.read())
        return int(body["result"], 16)
    except (urllib.error.URLError, OSError) as e:
        raise DependencyUnavailableError(f"the chain RPC at {url} cannot be reached ({error_gist(e)}); {fix}") from None
    except (ValueError, KeyError, TypeError):
        raise DependencyUnavailableError(f"the chain RPC at {url} does not answer eth_chainId as an Ethereum "
                                         f"node does; {fix}") from None


def check_kubo(api: str) -> str:
    """The version of the Kubo daemon at ``api``."""
    from nftreg.ipfs import open_store

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ipfshttpclient's urllib3 deprecation noise
            store = open_store(api=api)
            return str(store.health().get("version", "?"))
    except NftregError as e:
        raise DependencyUnavailableError(f"the Kubo API at {api} cannot be reached ({error_gist(e)}); start Kubo "
                                         "(`nftreg ipfs start`), fix --ipfs-api / NFTREG_IPFS_API, or unset it "
                                         "to use the embedded store") from None


def check_database(url: str, timeout: float = 5) -> None:
    """Connect once (a database that is not there yet for SQLite is created later, not here)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, SQLAlchemyError

    try:
        shown = make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        raise DependencyUnavailableError(f"the database URL {url.split('@')[-1]!r} is not a database URL; fix "
                                         "--database-url / NFTREG_DATABASE_URL") from None
    if shown.startswith("sqlite"):
        return
    try:
        args = {"connect_timeout": int(timeout)} if shown.startswith("postgresql") else {}
        engine = create_engine(url, connect_args=args)
        try:
            with engine.connect() as conn:
                conn.execute(text("select 1"))
        finally:
            engine.dispose()
    except ImportError as e:  # the driver is an extra: `pip install nftreg` alone has none
        raise DependencyUnavailableError(f"the database at {shown} needs a driver this install lacks ({e}); "
                                         "pip install 'nftreg[postgres]'") from None
    except SQLAlchemyError as e:
        raise DependencyUnavailableError(f"the database at {shown} cannot be reached ({error_gist(e)}); start it "
                                         "or fix --database-url / NFTREG_DATABASE_URL") from None


def prepare_serve(settings: Any, warn: Callable[[str], None]) -> tuple[Any, tempfile.TemporaryDirectory[str] | None]:
    """Check every part ``serve`` needs; returns the settings to run with (the in-process chain
    and a temporary data directory when anvil is missing) and that directory, if any."""
    if settings.database_url:
        check_database(settings.database_url)
    if settings.ipfs_api:
        check_kubo(settings.ipfs_api)
    url = settings.rpc_url
    if url.startswith(("http://", "https://")):
        check_rpc(url, timeout=min(settings.rpc_timeout_s, 10))
        return settings, None
    if not url.startswith("anvil://") or anvil_available():
        return settings, None
    if settings.workers > 1 or settings.database_url:
        why = "several worker processes" if settings.workers > 1 else "a database that outlives the process"
        raise DependencyUnavailableError(f"anvil not found, and the in-process chain cannot serve {why}; "
                                         f"{ANVIL_HINT}, or give a chain with --rpc-url / NFTREG_RPC_URL")
    warn(NO_ANVIL_WARNING + " The index and content of this run live in a temporary directory too.")
    tmp = tempfile.TemporaryDirectory(prefix="nftreg-serve-")
    return settings.model_copy(update={"rpc_url": "tester://", "data_dir": Path(tmp.name)}), tmp
