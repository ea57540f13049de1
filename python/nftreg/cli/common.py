"""What every command group shares: exit codes, one-line errors, output, progress, the
data-directory option, and the chain connection the chain commands use."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import typer

EXIT_USER_ERROR = 1
EXIT_UNAVAILABLE = 2  # a part nftreg needs (chain RPC, Kubo, database) cannot be reached
EXIT_PARTIAL = 3
EXIT_INVALID = 4

DATA_DIR_OPT = typer.Option(Path(".nftreg"), "--data-dir", envvar="NFTREG_DATA_DIR", help="nftreg's data directory")


@dataclass
class CliState:
    """Options given before the command (``nftreg [OPTIONS] COMMAND``), as ``ctx.obj``.

    The extension point for running commands somewhere else: a global option set here (e.g.
    ``--remote URL``) is read by the commands through ``state(ctx)``, which then call the
    REST API through ``nftreg.client`` instead of the local library."""

    remote: str | None = None


def state(ctx: typer.Context) -> CliState:
    obj = ctx.find_root().obj
    return obj if isinstance(obj, CliState) else CliState()


def fail(msg: str, code: int = EXIT_USER_ERROR) -> NoReturn:
    typer.echo(f"nftreg: error: {msg}", err=True)
    raise typer.Exit(code)


def warn(msg: str) -> None:
    typer.echo(f"nftreg: warning: {msg}", err=True)


def progress(message: str) -> Any:
    """A live spinner with elapsed time on an interactive stderr (rich); silent in pipes."""
    import contextlib

    if not sys.stderr.isatty():
        return contextlib.nullcontext()
    from rich.console import Console

    return Console(stderr=True).status(message)


def emit(obj: Any, as_json: bool, human: str) -> None:
    if as_json:
        typer.echo(json.dumps(obj, ensure_ascii=False))
    else:
        typer.echo(human)


def load_tree(path: Path) -> Any:
    from nftreg.merkle import SimpleMerkleTree, StandardMerkleTree

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        fail(f"{path}: cannot read tree dump ({e})")
    if isinstance(data, dict) and data.get("format") == "simple-v1":
        return SimpleMerkleTree.load(data)
    return StandardMerkleTree.load(data)


def connect(data_dir: Path, rpc_url: str | None) -> Any:
    """Chain from --rpc-url / NFTREG_RPC_URL, else the running devnet, else a managed anvil."""
    import os

    from nftreg.chain import Chain
    from nftreg.chain.anvil import ANVIL_DEV_KEY
    from nftreg.cli.devnet import devnet_info
    from nftreg.errors import DependencyUnavailableError
    from nftreg.startup import ANVIL_HINT, anvil_available, check_rpc

    info = devnet_info(data_dir)
    url = rpc_url or (info or {}).get("url") or "anvil://"
    if url.startswith(("http://", "https://")):
        check_rpc(url)
    elif url.startswith("anvil://") and not anvil_available():
        # a write to the in-process chain would be forgotten as this command exits: no fallback here
        raise DependencyUnavailableError(f"anvil not found, and this command writes to a chain; {ANVIL_HINT}, "
                                         "or give a chain with --rpc-url / NFTREG_RPC_URL")
    key = None
    if info and url == info["url"] and not os.environ.get("NFTREG_PRIVATE_KEY") and not os.environ.get("NFTREG_KEYSTORE"):
        key = ANVIL_DEV_KEY  # the local devnet's public development account
    return Chain.connect(url, private_key=key, data_dir=data_dir)
