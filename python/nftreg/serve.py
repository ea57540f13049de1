"""``nftreg serve``: the REST API under uvicorn, in one process or several.

With ``workers > 1`` the parent prepares what the workers share before any of them starts: it
runs the managed anvil (``anvil://``) and hands its URL to the workers, brings the database
schema up to date and deploys (or finds) the registry contract once. Each worker then runs its
own service over the same chain, database and content store: SQLite writers of all workers
queue on one file lock, nonces are taken in turn through the outbox's unique (chain, sender,
nonce), and one worker at a time runs the background reconcile/event pass.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from nftreg.settings import Settings

if TYPE_CHECKING:
    from nftreg.chain.anvil import AnvilProcess

__all__ = ["run"]


def run(settings: Settings | None = None) -> None:
    import uvicorn

    from nftreg.api import create_app

    settings = settings or Settings()
    if settings.workers <= 1:
        uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="info",
                    proxy_headers=False, server_header=False)
        return
    anvil = _prepare_shared(settings)
    try:
        uvicorn.run("nftreg.api.app:create_app", factory=True, workers=settings.workers, host=settings.host,
                    port=settings.port, log_level="info", proxy_headers=False, server_header=False)
    finally:
        if anvil is not None:
            anvil.stop()


def _prepare_shared(settings: Settings) -> AnvilProcess | None:
    """Start what the workers share and export the settings they read from the environment."""
    from pathlib import Path

    from nftreg.chain import Chain
    from nftreg.chain.anvil import ANVIL_DEV_KEY, AnvilProcess
    from nftreg.chain.contract import Registry
    from nftreg.db import Database, upgrade

    data = Path(settings.data_dir)
    data.mkdir(parents=True, exist_ok=True)
    anvil = None
    rpc_url = settings.rpc_url
    key = settings.private_key
    if rpc_url.startswith("anvil://"):
        anvil = AnvilProcess(data / "anvil")
        anvil.start()
        rpc_url = anvil.url
        key = key or ANVIL_DEV_KEY  # the managed devnet's own funded account, as anvil:// uses
    try:
        db = Database(settings.db_url)
        upgrade(db)
        db.dispose()
        chain = Chain.connect(rpc_url, private_key=key, rpc_timeout=settings.rpc_timeout_s)
        if not settings.registry_address:
            Registry.deploy_once(chain, data / "registry.json")
    except BaseException:
        if anvil is not None:
            anvil.stop()
        raise
    env = {"NFTREG_DATA_DIR": str(data), "NFTREG_RPC_URL": rpc_url, "NFTREG_HOST": settings.host,
           "NFTREG_PORT": str(settings.port), "NFTREG_SHARED_DATABASE": "true"}
    if key and anvil is not None:
        env["NFTREG_PRIVATE_KEY"] = key  # only the devnet's published dev key is ever put here
    for name, value in (("NFTREG_IPFS_API", settings.ipfs_api), ("NFTREG_DATABASE_URL", settings.database_url)):
        if value:
            env[name] = value
    os.environ.update(env)
    return anvil
