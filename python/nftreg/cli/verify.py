"""``nftreg verify proofs|signatures``: JSON lines in, one ``{line, valid[, error]}`` out per line."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

from nftreg.cli.common import EXIT_INVALID, fail, state
from nftreg.errors import NftregError

verify_app = typer.Typer(help="Batch verification (JSONL in, JSONL out).", no_args_is_help=True)


def read_jsonl(source: Path, place: Callable[[int, Any], None]) -> tuple[list[int], dict[int, dict[str, Any]]]:
    """Read JSON lines from SOURCE ('-' = stdin) and hand each (line number, object) to `place`;
    a line that is not JSON, or that `place` rejects (KeyError/TypeError), gets its own invalid
    result instead of stopping the batch. Returns the line order and those early results."""
    try:
        stream = sys.stdin if str(source) == "-" else source.open("r", encoding="utf-8")
    except OSError as e:
        fail(f"{source}: cannot read ({e.strerror})")
    order: list[int] = []
    results: dict[int, dict[str, Any]] = {}
    for lineno, line in enumerate(stream, 1):
        if not line.strip():
            continue
        order.append(lineno)
        try:
            place(lineno, json.loads(line))
        except (json.JSONDecodeError, KeyError, TypeError) as e:
            results[lineno] = {"line": lineno, "valid": False, "error": f"malformed line: {e}"}
    return order, results


def write_results(order: list[int], results: dict[int, dict[str, Any]]) -> None:
    """One {line, valid[, error]} per input line, in input order; exit 4 if any is invalid."""
    bad = 0
    for lineno in order:
        bad += not results[lineno]["valid"]
        typer.echo(json.dumps(results[lineno], ensure_ascii=False))
    if bad:
        raise typer.Exit(EXIT_INVALID)


@verify_app.command("proofs")
def verify_proofs(
    ctx: typer.Context,
    source: Path = typer.Argument(..., help="JSONL: {root, leaf_encoding, value, proof} per line ('-' = stdin)"),
) -> None:
    """Verify inclusion proofs line by line; writes {line, valid[, error]} per input line."""
    from nftreg.merkle import verify_many

    groups: dict[tuple[str, tuple[str, ...]], list[tuple[int, Any, Any]]] = {}

    def place(lineno: int, item: Any) -> None:
        key = (str(item["root"]), tuple(item.get("leaf_encoding") or item.get("leafEncoding")))
        groups.setdefault(key, []).append((lineno, item["value"], item["proof"]))

    order, results = read_jsonl(source, place)
    if state(ctx).remote:
        from nftreg.cli import remote

        remote.verify_proofs(ctx, results, groups)
        groups = {}
    for (root, enc), items in groups.items():
        try:
            oks = verify_many(root, list(enc), [v for _, v, _ in items], [p for _, _, p in items])
        except NftregError as e:
            for lineno, _, _ in items:
                results[lineno] = {"line": lineno, "valid": False, "error": str(e)}
            continue
        for (lineno, _, _), ok in zip(items, oks):
            results[lineno] = {"line": lineno, "valid": ok}
    write_results(order, results)


@verify_app.command("signatures")
def verify_signatures(
    ctx: typer.Context,
    source: Path = typer.Argument(..., help="JSONL ('-' = stdin); see below"),
) -> None:
    """Verify signatures line by line; writes {line, valid[, error]} per input line.

    Lines, the same items as POST /v1/verify/signatures:
    {"scheme": "eip191", "message", "signature", "address"} |
    {"scheme": "eip712", "typed_data", "signature", "address"} |
    {"scheme": "ed25519", "message", "signature", "public_key"}.
    A message is UTF-8 text unless the line says "encoding": "hex".
    """
    from nftreg.signatures.schemes import verify_items

    lines: list[int] = []
    items: list[Any] = []

    def place(lineno: int, item: Any) -> None:
        lines.append(lineno)
        items.append(item)

    order, results = read_jsonl(source, place)
    try:
        if state(ctx).remote:
            from nftreg.cli import remote

            verdicts = remote.verify_signatures(ctx, items)
        else:
            verdicts = verify_items(items)
    except NftregError as e:
        fail(str(e))
    for lineno, (ok, err) in zip(lines, verdicts):
        results[lineno] = {"line": lineno, "valid": ok, **({"error": err} if err else {})}
    write_results(order, results)
