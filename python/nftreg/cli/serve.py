"""``nftreg serve`` and ``nftreg reindex``: the REST service and its index."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from nftreg.cli.common import emit, fail, progress, warn


def _settings(**overrides: Any) -> Any:
    from nftreg.settings import Settings

    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValueError as e:
        fail(f"bad setting: {e}")


def serve_cmd(
    port: int | None = typer.Option(None, "--port", help="listen port (NFTREG_PORT; default 8000)"),
    host: str | None = typer.Option(None, "--host", help="listen address (NFTREG_HOST; default 127.0.0.1)"),
    data_dir: Path | None = typer.Option(None, "--data-dir", help="NFTREG_DATA_DIR"),
    rpc_url: str | None = typer.Option(None, "--rpc-url", help="NFTREG_RPC_URL: tester://, anvil:// or http(s)://"),
    ipfs_api: str | None = typer.Option(None, "--ipfs-api", help="NFTREG_IPFS_API (default: embedded store)"),
    database_url: str | None = typer.Option(None, "--database-url", help="NFTREG_DATABASE_URL (default: SQLite under the data dir)"),
    workers: int | None = typer.Option(None, "--workers", help="NFTREG_WORKERS: server processes (default 1)"),
) -> None:
    """Run the REST API (flags override NFTREG_* environment variables)."""
    from nftreg.serve import run
    from nftreg.startup import prepare_serve

    settings, tmp = prepare_serve(_settings(port=port, host=host, data_dir=data_dir, rpc_url=rpc_url,
                                            ipfs_api=ipfs_api, database_url=database_url, workers=workers), warn)
    try:
        run(settings)
    finally:
        if tmp is not None:
            tmp.cleanup()


def reindex_cmd(
    data_dir: Path | None = typer.Option(None, "--data-dir", help="NFTREG_DATA_DIR"),
    rpc_url: str | None = typer.Option(None, "--rpc-url", help="NFTREG_RPC_URL"),
    database_url: str | None = typer.Option(None, "--database-url", help="NFTREG_DATABASE_URL"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Rebuild the service's asset index from the contract's events (the chain is the truth)."""
    from nftreg.services.registry import RegistryService

    service = RegistryService(_settings(data_dir=data_dir, rpc_url=rpc_url, database_url=database_url))
    try:
        with progress("reading Registered / Transfer events"):
            seen = service.reindex()
        emit({"tokens": seen, "contract": service.registry.address}, as_json,
             f"reindexed {seen:,} tokens from {service.registry.address}")
    finally:
        service.close()
