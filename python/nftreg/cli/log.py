"""``nftreg log``: check the registration log without trusting its operator."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from nftreg.cli.common import EXIT_INVALID, emit, fail

log_app = typer.Typer(help="Registration log: verify receipts offline.", no_args_is_help=True)


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
