"""``nftreg log``: check the registration log without trusting its operator."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from nftreg.cli.common import EXIT_INVALID, emit, fail

log_app = typer.Typer(help="Registration log: receipts, offline verification, minting from the log, monitoring.",
                      no_args_is_help=True)


@log_app.command("verify")
def verify_cmd(
    receipt: Path = typer.Argument(..., exists=True, dir_okay=False, help="a receipt (JSON from GET .../receipt)"),
    key: str = typer.Option(..., "--key", envvar="NFTREG_LOG_VERIFIER_KEY",
                            help="the log's verifier key <origin>+<key id>+<key> (GET /v1/log)"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Check RECEIPT offline: the checkpoint is signed by KEY, the inclusion proof places the
    entry at its index under the signed root, and the entry hashes to the leaf. Exit 4 if not."""
    from nftreg.errors import InvalidInputError
    from nftreg.log import verify_receipt

    try:
        data = json.loads(receipt.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        fail(f"{receipt}: not a JSON receipt ({e})")
    try:
        cp = verify_receipt(data, key)
    except InvalidInputError as e:
        emit({"valid": False, "error": str(e)}, as_json, f"INVALID: {e}")
        raise typer.Exit(EXIT_INVALID) from None
    emit({"valid": True, "index": data["index"], "origin": cp.origin, "tree_size": cp.size},
         as_json, f"valid: entry {data['index']} is in {cp.origin} at tree size {cp.size} (signed checkpoint)")


@log_app.command("register")
def register_cmd(
    ctx: typer.Context,
    files: list[Path] = typer.Argument(..., exists=True, dir_okay=False, help="the assets (hashed here)"),
    to: str | None = typer.Option(None, "--to", help="owner (default: the signed-in address)"),
    description: str | None = typer.Option(None, "--description"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Register FILES off-chain in the registry's log (--remote URL) by content hash: each file
    is hashed here and never uploaded; its metadata is named after the file. No transaction: a
    private log entry each (receipts with `nftreg log receipt`), 1,000 per request. Exit 3 when
    some were refused (already registered, ...), with the reason for each."""
    from nftreg.cli import remote
    from nftreg.cli.common import state

    if not state(ctx).remote:
        fail("log register asks a registry: give --remote URL (or NFTREG_REMOTE)")
    remote.register_files(ctx, files, description=description, to=to, as_json=as_json)


@log_app.command("receipt")
def receipt_cmd(
    ctx: typer.Context,
    asset: str = typer.Argument(..., help="token id or 0x content hash"),
    out: Path | None = typer.Option(None, "--out", "-o", help="write the receipt JSON here"),
    wait: float = typer.Option(5.0, "--wait", help="seconds to wait for the entry to be integrated"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Fetch the log receipt of ASSET's registration from the registry (--remote URL): its
    index, inclusion proof and signed checkpoint. Check it with `nftreg log verify`."""
    from nftreg.cli import remote
    from nftreg.cli.common import state

    if not state(ctx).remote:
        fail("log receipt asks a registry: give --remote URL (or NFTREG_REMOTE)")
    r = remote.receipt(ctx, asset, out, wait)
    f = r.get("entry_fields") or {}
    emit(r, as_json, f"entry {r['index']} ({f.get('kind')}) of {r['tree_size']}: owner {f.get('owner')}, "
         f"content {f.get('content_hash')}" + (f"; written to {out}" if out else ""))


@log_app.command("mint")
def mint_cmd(
    ctx: typer.Context,
    asset: str = typer.Argument(..., help="0x content hash of an off-chain registration"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Mint an off-chain registration on-chain with its log proof (--remote URL; the signer
    must be its owner). Needs a checkpoint covering it anchored on-chain."""
    from nftreg.cli import remote
    from nftreg.cli.common import state

    if not state(ctx).remote:
        fail("log mint asks a registry: give --remote URL (or NFTREG_REMOTE)")
    remote.mint_from_log(ctx, asset, as_json)


@log_app.command("monitor")
def monitor_cmd(
    url: str = typer.Argument(..., help="the registry (or its /log/ prefix), e.g. http://127.0.0.1:8000"),
    key: str = typer.Option(..., "--key", envvar="NFTREG_LOG_VERIFIER_KEY",
                            help="the log's verifier key <origin>+<key id>+<key> (from a source you trust)"),
    rpc: str | None = typer.Option(None, "--rpc", help="chain JSON-RPC URL, to check the on-chain anchors"),
    contract: str | None = typer.Option(None, "--contract", help="the registry contract holding the anchors"),
    state_file: Path | None = typer.Option(None, "--state", help="JSON file keeping the last checkpoint seen"),
    once: bool = typer.Option(False, "--once", help="check once and exit (the default without --interval)"),
    interval: float | None = typer.Option(None, "--interval", min=0.1, help="check every S seconds until a failure"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Follow a registration log: every new checkpoint is signed by KEY, the served entries and
    tiles hash to it, it extends the last checkpoint seen (kept in --state), and every on-chain
    LogAnchored root equals the log's root at that size. Exit 4 on any fork or inconsistency
    (with what differs), 2 when the log or chain cannot be reached."""
    import time

    import httpx

    from nftreg.cli.common import EXIT_UNAVAILABLE
    from nftreg.errors import InvalidInputError, NftregError
    from nftreg.log.monitor import LogInconsistent, Monitor

    try:
        m = Monitor(url, key, rpc_url=rpc, contract=contract, state_file=state_file)
    except InvalidInputError as e:
        fail(str(e))
    try:
        while True:
            try:
                rep = m.check()
            except LogInconsistent as e:
                emit({"ok": False, "error": str(e)}, as_json, f"INCONSISTENT: {e}")
                raise typer.Exit(EXIT_INVALID) from None
            except (NftregError, httpx.HTTPError) as e:
                fail(f"monitor: {e}", EXIT_UNAVAILABLE)
            emit(rep, as_json, f"ok: {rep['origin']} size {rep['size']} (was {rep['previous_size']}), "
                 f"{rep['tiles_checked']} tiles and {rep['anchors_checked']} on-chain anchors checked, "
                 f"anchored up to {rep['anchored_size']}")
            if interval is None or once:
                return
            time.sleep(interval)
    finally:
        m.close()
