"""``nftreg devnet start|status|stop`` and ``nftreg ipfs start|stop``: a local anvil and a local
Kubo in the background, each through its ``ManagedProcess`` (``nftreg.managed``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from nftreg.cli.common import DATA_DIR_OPT, EXIT_USER_ERROR, emit
from nftreg.managed import ManagedProcess

devnet_app = typer.Typer(help="A local anvil devnet with persisted state.", no_args_is_help=True)
ipfs_app = typer.Typer(help="A managed Kubo daemon (offline repo under the data directory).", no_args_is_help=True)


def devnet_info(data_dir: Path) -> dict[str, Any] | None:
    """pid, url and state file of the devnet running under DATA_DIR, or None."""
    return ManagedProcess.running(data_dir / "anvil")


@devnet_app.command("start")
def devnet_start(data_dir: Path = DATA_DIR_OPT, port: int = typer.Option(8545, help="RPC port on 127.0.0.1")) -> None:
    """Start anvil in the background; its state lives in DATA_DIR/anvil and survives restarts."""
    from nftreg.chain import AnvilProcess

    info = devnet_info(data_dir)
    if info:
        typer.echo(f"devnet already running at {info['url']} (pid {info['pid']})")
        return
    proc = AnvilProcess(data_dir / "anvil", port=port)
    proc.start()
    typer.echo(f"devnet running at {proc.url} (pid {proc.pid}); state in {proc.state_file}")


@devnet_app.command("status")
def devnet_status(data_dir: Path = DATA_DIR_OPT, as_json: bool = typer.Option(False, "--json")) -> None:
    """Is the devnet running, and at which block?"""
    info = devnet_info(data_dir)
    if not info:
        emit({"running": False}, as_json, "devnet is not running")
        raise typer.Exit(EXIT_USER_ERROR)
    from web3 import Web3

    w3 = Web3(Web3.HTTPProvider(info["url"], request_kwargs={"timeout": 5}))
    info = {**info, "running": True, "block": w3.eth.block_number, "chain_id": w3.eth.chain_id}
    emit(info, as_json, f"devnet at {info['url']}: chain {info['chain_id']}, block {info['block']}")


@devnet_app.command("stop")
def devnet_stop(data_dir: Path = DATA_DIR_OPT) -> None:
    """Stop the devnet gracefully (its state is written on exit)."""
    typer.echo("devnet stopped" if ManagedProcess.stop_running(data_dir / "anvil") else "devnet is not running")


@ipfs_app.command("start")
def ipfs_start(data_dir: Path = DATA_DIR_OPT, port: int = typer.Option(5001, help="API port on 127.0.0.1")) -> None:
    """Start a Kubo daemon (offline) with its repo in DATA_DIR/kubo; prints NFTREG_IPFS_API."""
    from nftreg.ipfs.kubo import KuboProcess

    info = ManagedProcess.running(data_dir / "kubo")
    if info:
        typer.echo(f"kubo already running (pid {info['pid']}); export NFTREG_IPFS_API={info['api']}")
        return
    proc = KuboProcess(data_dir / "kubo", port=port)
    proc.start()
    typer.echo(f"kubo running (pid {proc.pid}); export NFTREG_IPFS_API={proc.api}")


@ipfs_app.command("stop")
def ipfs_stop(data_dir: Path = DATA_DIR_OPT) -> None:
    """Stop the managed Kubo daemon."""
    typer.echo("kubo stopped" if ManagedProcess.stop_running(data_dir / "kubo") else "kubo is not running")
