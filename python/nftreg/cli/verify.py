"""``nftreg verify proofs|signatures``: JSON lines in, one ``{line, valid[, error]}`` out per line;
with ``--cluster``, many files verified on Dask (``nftreg.distributed``) into Parquet."""

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


_CLUSTER = typer.Option(None, "--cluster", help="verify on Dask: 'local' (a LocalCluster sized to this machine) "
                        "or a scheduler address tcp://HOST:8786; SOURCES may then be many files or fsspec URLs "
                        "(JSON lines or Parquet) and results go to --out as Parquet")
_OUT = typer.Option(None, "--out", help="with --cluster: directory (or URL) for parts/*.parquet and summary.json")
_PER_TASK = typer.Option(100_000, "--items-per-task", min=1, help="with --cluster: lines per task")


def _one_source(sources: list[str], cluster: str | None, out: str | None) -> Path:
    if cluster is None:
        if out is not None:
            fail("--out goes with --cluster")
        if len(sources) != 1:
            fail("give one SOURCE (several need --cluster)")
        return Path(sources[0])
    if out is None:
        fail("--cluster needs --out DIR for the per-item Parquet results")
    if "-" in sources:
        fail("--cluster reads files, not stdin")
    return Path()


def _on_cluster(kind: str, sources: list[str], out: str, cluster: str, per_task: int, **job: Any) -> None:
    """Run the job on Dask; print the summary as JSON; exit 4 if any item is invalid."""
    from dataclasses import asdict

    from nftreg import distributed

    try:
        if kind == "proofs":
            summary = distributed.verify_proofs(sources, out, cluster=cluster, items_per_task=per_task, **job)
        else:
            summary = distributed.verify_signatures(sources, out, cluster=cluster, items_per_task=per_task)
    except NftregError as e:
        fail(str(e))
    typer.echo(json.dumps(asdict(summary), ensure_ascii=False))
    if summary.invalid:
        raise typer.Exit(EXIT_INVALID)


@verify_app.command("proofs")
def verify_proofs(
    ctx: typer.Context,
    sources: list[str] = typer.Argument(..., help="JSONL: {root, leaf_encoding, value, proof} per line ('-' = stdin)"),
    cluster: str | None = _CLUSTER,
    out: str | None = _OUT,
    root: str | None = typer.Option(None, "--root", help="with --cluster: the root for lines that give none "
                                       "(default: the first line's)"),
    encoding: str | None = typer.Option(None, "--encoding", help="with --cluster: leaf encoding for lines that "
                                           "give none, comma-separated (e.g. address,uint256)"),
    items_per_task: int = _PER_TASK,
) -> None:
    """Verify inclusion proofs line by line; writes {line, valid[, error]} per input line."""
    from nftreg.merkle import verify_many

    source = _one_source(sources, cluster, out)
    if cluster is not None:
        assert out is not None
        if root is None or encoding is None:
            first = _first_item(sources[0])
            root = root or first.get("root")
            encoding = encoding or ",".join(first.get("leaf_encoding") or first.get("leafEncoding") or [])
        _on_cluster("proofs", sources, out, cluster, items_per_task, root=root,
                    leaf_encoding=[t.strip() for t in (encoding or "").split(",") if t.strip()] or None)
        return

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


def _first_item(url: str) -> dict[str, Any]:
    """The first line of a JSON-lines input, for the job's default root and encoding."""
    import fsspec

    from nftreg.distributed.ranges import normalise_url

    try:
        with fsspec.open(normalise_url(url), "rb") as f:
            line = f.readline()
        item = json.loads(line)
    except (OSError, ValueError) as e:
        fail(f"{url}: cannot read its first line for the root and encoding ({e}); give --root and --encoding")
    return item if isinstance(item, dict) else {}


@verify_app.command("signatures")
def verify_signatures(
    ctx: typer.Context,
    sources: list[str] = typer.Argument(..., help="JSONL ('-' = stdin); see below"),
    cluster: str | None = _CLUSTER,
    out: str | None = _OUT,
    items_per_task: int = _PER_TASK,
) -> None:
    """Verify signatures line by line; writes {line, valid[, error]} per input line.

    Lines, the same items as POST /v1/verify/signatures:
    {"scheme": "eip191", "message", "signature", "address"} |
    {"scheme": "eip712", "typed_data", "signature", "address"} |
    {"scheme": "ed25519", "message", "signature", "public_key"}.
    A message is UTF-8 text unless the line says "encoding": "hex".
    """
    from nftreg.signatures.schemes import verify_items

    source = _one_source(sources, cluster, out)
    if cluster is not None:
        assert out is not None
        _on_cluster("signatures", sources, out, cluster, items_per_task)
        return
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
