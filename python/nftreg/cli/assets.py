"""``nftreg lookup FILE``: who holds this content; ``nftreg assets``: a registry's index (--remote)."""

from __future__ import annotations

from pathlib import Path

import typer

from nftreg.cli.common import DATA_DIR_OPT, EXIT_INVALID, connect, emit, fail, state


def lookup_cmd(
    ctx: typer.Context,
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="the asset (hashed here, never sent)"),
    data_dir: Path = DATA_DIR_OPT,
    rpc_url: str | None = typer.Option(None, envvar="NFTREG_RPC_URL", help="chain (default: running devnet, else anvil://)"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Hash FILE and say which token holds that content (exit 4 when none does)."""
    if state(ctx).remote:
        from nftreg.cli import remote

        return remote.lookup(ctx, file, as_json)
    from nftreg.chain import Registry
    from nftreg.cid import content_hash

    h = content_hash(file)
    chain = connect(data_dir, rpc_url)
    try:
        registry = Registry.deploy_once(chain, data_dir / "registry.json")
        token = registry.token_of_content(h)
        if not token:
            emit({"content_hash": "0x" + h.hex(), "registered": False}, as_json,
                 f"{file}: not registered (content hash 0x{h.hex()})")
            raise typer.Exit(EXIT_INVALID)
        out = {"registered": True, "token_id": token, "owner": registry.owner_of(token), "content_hash": "0x" + h.hex(),
               "token_uri": registry.token_uri(token)}
        emit(out, as_json, "\n".join(f"{k}: {v}" for k, v in out.items()))
    finally:
        chain.close()


def assets_cmd(
    ctx: typer.Context,
    owner: str | None = typer.Option(None, "--owner", help="only this holder's tokens"),
    content_hash: str | None = typer.Option(None, "--content-hash"),
    status: str | None = typer.Option(None, "--status", help="only this status: pending, minted, failed, offchain "
                                      "(any of logging, logged, anchored), logging, logged or anchored"),
    as_json: bool = typer.Option(False, "--json", help="one JSON object per line"),
) -> None:
    """List a registry's registrations: minted, pending and off-chain (every page), with
    --remote URL or NFTREG_REMOTE."""
    if not state(ctx).remote:
        fail("assets lists a running registry's index: give --remote URL (or set NFTREG_REMOTE)")
    from nftreg.cli import remote

    remote.assets(ctx, owner, content_hash, as_json, status)
