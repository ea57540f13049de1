"""The ``nftreg`` command line.

Exit codes: 0 success; 1 a user error (bad input, bad file, refused setting), printed as one
line; 3 the command finished but rejected some input lines (listed on stderr, or in the JSON
output); 4 a verification found invalid items.
"""

from __future__ import annotations

import json
import random
import sys
import time
from pathlib import Path
from typing import Any, Optional

import typer

from nftreg.errors import NftregError

EXIT_USER_ERROR = 1
EXIT_PARTIAL = 3
EXIT_INVALID = 4

app = typer.Typer(
    name="nftreg",
    help="NFT asset-ownership registry: Merkle batches, signatures, IPFS and ERC-721 minting.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
batch_app = typer.Typer(help="Merkle batches of claims (owner, content hash, metadata CID).", no_args_is_help=True)
verify_app = typer.Typer(help="Batch verification (JSONL in, JSONL out).", no_args_is_help=True)
app.add_typer(batch_app, name="batch")
app.add_typer(verify_app, name="verify")


def _fail(msg: str, code: int = EXIT_USER_ERROR) -> None:
    typer.echo(f"nftreg: error: {msg}", err=True)
    raise typer.Exit(code)


def _emit(obj: Any, as_json: bool, human: str) -> None:
    if as_json:
        typer.echo(json.dumps(obj, ensure_ascii=False))
    else:
        typer.echo(human)


@batch_app.command("sample")
def batch_sample(
    output: Path = typer.Option(..., "-o", "--output", help="CSV or JSONL file to write"),
    count: int = typer.Option(1000, "--count", "-n", min=1, help="number of claims"),
    seed: int = typer.Option(1, help="random seed (same seed, same file)"),
) -> None:
    """Write a deterministic sample claims file (for demos and benchmarks)."""
    rng = random.Random(seed)
    fmt = "jsonl" if output.suffix.lower() in (".jsonl", ".ndjson") else "csv"
    output.parent.mkdir(parents=True, exist_ok=True)
    with output.open("w", encoding="utf-8", newline="") as f:
        if fmt == "csv":
            f.write("owner,content_hash,metadata_cid\n")
        for i in range(count):
            owner = "0x" + rng.randbytes(20).hex()
            h = "0x" + rng.randbytes(32).hex()
            cid = "bafkrei" + "".join(rng.choice("abcdefghijklmnopqrstuvwxyz234567") for _ in range(52))
            if fmt == "csv":
                f.write(f"{owner},{h},{cid}\n")
            else:
                f.write(json.dumps({"owner": owner, "content_hash": h, "metadata_cid": cid}) + "\n")
    typer.echo(f"wrote {count:,} claims to {output}")


@batch_app.command("build")
def batch_build(
    claims: Path = typer.Argument(..., exists=True, dir_okay=False, help="claims .csv or .jsonl"),
    output: Path = typer.Option(..., "-o", "--output", help="where to write the standard-v1 tree dump"),
    verify: bool = typer.Option(False, "--verify", help="check every proof of the new tree"),
    as_json: bool = typer.Option(False, "--json", help="machine-readable output"),
) -> None:
    """Build the claim tree from CLAIMS and write its standard-v1 dump."""
    from nftreg.claims import build_claims_tree, read_claims
    from nftreg.merkle import verify_many

    t0 = time.perf_counter()
    result = read_claims(claims)
    for err in result.errors[:20]:
        typer.echo(f"{claims}:{err.line}: {err.message}", err=True)
    if len(result.errors) > 20:
        typer.echo(f"... and {len(result.errors) - 20:,} more rejected lines", err=True)
    tree = build_claims_tree(result.claims)
    t_build = time.perf_counter() - t0
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_suffix(output.suffix + ".tmp")
    tmp.write_text(json.dumps(tree.dump(), ensure_ascii=False), encoding="utf-8")
    tmp.replace(output)
    summary: dict[str, Any] = {
        "root": tree.root,
        "claims": len(tree),
        "rejected": [e.to_dict() for e in result.errors],
        "output": str(output),
        "seconds": round(t_build, 3),
    }
    if verify:
        t1 = time.perf_counter()
        ok = verify_many(tree.root, tree.leaf_encoding, result.claims, tree.all_proofs())
        summary["verified"] = sum(ok)
        summary["verify_seconds"] = round(time.perf_counter() - t1, 3)
    human = (
        f"root {tree.root}\n{len(tree):,} claims -> {output} in {t_build:.2f} s"
        + (f"\nverified {summary['verified']:,}/{len(tree):,} proofs in {summary['verify_seconds']:.2f} s" if verify else "")
        + (f"\n{len(result.errors):,} lines rejected" if result.errors else "")
    )
    _emit(summary, as_json, human)
    if verify and summary["verified"] != len(tree):
        raise typer.Exit(EXIT_INVALID)
    if result.errors:
        raise typer.Exit(EXIT_PARTIAL)


def _load_tree(path: Path) -> Any:
    from nftreg.merkle import SimpleMerkleTree, StandardMerkleTree

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        _fail(f"{path}: cannot read tree dump ({e})")
    if isinstance(data, dict) and data.get("format") == "simple-v1":
        return SimpleMerkleTree.load(data)
    return StandardMerkleTree.load(data)


@batch_app.command("proof")
def batch_proof(
    tree_file: Path = typer.Argument(..., exists=True, dir_okay=False, help="standard-v1 dump"),
    index: Optional[int] = typer.Option(None, "--index", help="value index"),
    owner: Optional[str] = typer.Option(None, "--owner", help="every claim of this owner"),
) -> None:
    """Print proofs (JSON lines: index, value, proof) by index or owner."""
    tree = _load_tree(tree_file)
    if (index is None) == (owner is None):
        _fail("give exactly one of --index or --owner")
    if index is not None:
        picks = [index]
    else:
        want = owner.lower()  # type: ignore[union-attr]
        picks = [i for i, v in tree.entries() if str(v[0]).lower() == want]
        if not picks:
            _fail(f"no claim in {tree_file} for owner {owner}")
    for i in picks:
        typer.echo(json.dumps({"index": i, "root": tree.root, "value": tree.at(i), "proof": tree.get_proof(i)}))


@verify_app.command("proofs")
def verify_proofs(
    source: Path = typer.Argument(..., help="JSONL: {root, leaf_encoding, value, proof} per line ('-' = stdin)"),
) -> None:
    """Verify inclusion proofs line by line; writes {line, valid[, error]} per input line."""
    from nftreg.merkle import verify_many

    stream = sys.stdin if str(source) == "-" else source.open("r", encoding="utf-8")
    bad = 0
    groups: dict[tuple[str, tuple[str, ...]], list[tuple[int, Any, Any]]] = {}
    order: list[int] = []
    results: dict[int, dict[str, Any]] = {}
    for lineno, line in enumerate(stream, 1):
        if not line.strip():
            continue
        order.append(lineno)
        try:
            item = json.loads(line)
            key = (str(item["root"]), tuple(item.get("leaf_encoding") or item.get("leafEncoding")))
            groups.setdefault(key, []).append((lineno, item["value"], item["proof"]))
        except (json.JSONDecodeError, KeyError, TypeError) as e:
            results[lineno] = {"line": lineno, "valid": False, "error": f"malformed line: {e}"}
    for (root, enc), items in groups.items():
        try:
            oks = verify_many(root, list(enc), [v for _, v, _ in items], [p for _, _, p in items])
        except NftregError as e:
            oks = [False] * len(items)
            for lineno, _, _ in items:
                results[lineno] = {"line": lineno, "valid": False, "error": str(e)}
            continue
        for (lineno, _, _), ok in zip(items, oks):
            results[lineno] = {"line": lineno, "valid": ok}
    for lineno in order:
        r = results[lineno]
        bad += not r["valid"]
        typer.echo(json.dumps(r))
    if bad:
        raise typer.Exit(EXIT_INVALID)


def main() -> None:
    try:
        app()
    except NftregError as e:
        typer.echo(f"nftreg: error: {e}", err=True)
        sys.exit(EXIT_USER_ERROR)


if __name__ == "__main__":
    main()
