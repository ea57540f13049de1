"""``nftreg batch sample|build|proof|anchor`` and ``nftreg claim``: Merkle batches of claims."""

from __future__ import annotations

import json
import random
import time
from pathlib import Path
from typing import Any

import typer

from nftreg.cli.common import (
    DATA_DIR_OPT,
    EXIT_INVALID,
    EXIT_PARTIAL,
    connect,
    emit,
    fail,
    load_tree,
    progress,
    state,
)

batch_app = typer.Typer(help="Merkle batches of claims (owner, content hash, metadata CID).", no_args_is_help=True)


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
        for _ in range(count):
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
    ctx: typer.Context,
    claims: Path = typer.Argument(..., exists=True, dir_okay=False, help="claims .csv or .jsonl"),
    output: Path = typer.Option(..., "-o", "--output", help="where to write the standard-v1 tree dump"),
    verify: bool = typer.Option(False, "--verify", help="check every proof of the new tree"),
    as_json: bool = typer.Option(False, "--json", help="machine-readable output"),
    out_of_core: bool = typer.Option(
        False, "--out-of-core", help="write a tree file (not a JSON dump), for catalogues larger than memory"
    ),
    memory_budget: str = typer.Option("1G", "--memory-budget", help="with --out-of-core: bytes sorted in memory at once (e.g. 512M, 2G)"),
    temp_dir: Path | None = typer.Option(None, "--temp-dir", help="with --out-of-core: where sort runs go (default: next to OUTPUT)"),
) -> None:
    """Build the claim tree from CLAIMS and write its standard-v1 dump.

    With --out-of-core the claims are streamed, sorted on disk and the tree is written as a tree
    file that `nftreg batch proof` serves proofs from without loading it (see nftreg.ooc).

    With --remote the registry builds, pins and anchors the batch; its dump is fetched, checked
    against its CID and root, and written to OUTPUT."""
    if out_of_core:
        if state(ctx).remote:
            fail("--out-of-core builds locally; it cannot be combined with --remote")
        return _build_out_of_core(claims, output, verify, as_json, memory_budget, temp_dir)
    if state(ctx).remote:
        from nftreg.cli import remote

        return remote.batch_build(ctx, claims, output, verify, as_json)
    from nftreg.claims import build_claims_tree, read_claims
    from nftreg.merkle import verify_many

    t0 = time.perf_counter()
    with progress(f"reading {claims}"):
        result = read_claims(claims)
    for err in result.errors[:20]:
        typer.echo(f"{claims}:{err.line}: {err.message}", err=True)
    if len(result.errors) > 20:
        typer.echo(f"... and {len(result.errors) - 20:,} more rejected lines", err=True)
    with progress(f"building the tree of {len(result.claims):,} claims"):
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
        with progress(f"verifying {len(tree):,} proofs"):
            ok = verify_many(tree.root, tree.leaf_encoding, result.claims, tree.all_proofs())
        summary["verified"] = sum(ok)
        summary["verify_seconds"] = round(time.perf_counter() - t1, 3)
    human = (
        f"root {tree.root}\n{len(tree):,} claims -> {output} in {t_build:.2f} s"
        + (f"\nverified {summary['verified']:,}/{len(tree):,} proofs in {summary['verify_seconds']:.2f} s" if verify else "")
        + (f"\n{len(result.errors):,} lines rejected" if result.errors else "")
    )
    emit(summary, as_json, human)
    if verify and summary["verified"] != len(tree):
        raise typer.Exit(EXIT_INVALID)
    if result.errors:
        raise typer.Exit(EXIT_PARTIAL)


_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def parse_size(text: str) -> int:
    """``4096``, ``512M``, ``2G`` (binary units, optional ``B`` / ``iB``) as bytes."""
    t = text.strip().upper().removesuffix("IB").removesuffix("B")
    unit = t[-1:] if t[-1:] in _UNITS else ""
    try:
        value = float(t[: len(t) - len(unit)])
    except ValueError:
        value = -1.0
    if value <= 0:
        fail(f"--memory-budget: cannot read {text!r} as a size (e.g. 512M, 2G)")
    return int(value * _UNITS[unit])


def _build_out_of_core(claims: Path, output: Path, verify: bool, as_json: bool, budget: str, temp_dir: Path | None) -> None:
    from nftreg.errors import InvalidInputError
    from nftreg.ooc import OutOfCoreTree

    output.parent.mkdir(parents=True, exist_ok=True)
    try:
        with progress(f"building the tree file of {claims}"):
            tree, report = OutOfCoreTree.build(claims, output, memory_budget=parse_size(budget), temp_dir=temp_dir)
    except (InvalidInputError, OSError) as e:
        fail(str(e))
    for line, msg in report.errors[:20]:
        typer.echo(f"{claims}:{line}: {msg}", err=True)
    if report.error_count > 20:
        typer.echo(f"... and {report.error_count - 20:,} more rejected lines", err=True)
    seconds = report.read_seconds + report.write_seconds
    summary: dict[str, Any] = {
        "root": tree.root,
        "claims": len(tree),
        "rejected": [{"line": line, "error": msg} for line, msg in report.errors],
        "rejected_count": report.error_count,
        "output": str(output),
        "format": "nftreg-ooc-v1",
        "seconds": round(seconds, 3),
        "runs": report.runs,
    }
    if verify:
        t1 = time.perf_counter()
        with progress(f"checking every node of {output}"):
            tree.validate()
        summary["verified"] = len(tree)
        summary["verify_seconds"] = round(time.perf_counter() - t1, 3)
    human = (
        f"root {tree.root}\n{len(tree):,} claims -> {output} (tree file) in {seconds:.2f} s"
        + (f"\nchecked every node in {summary['verify_seconds']:.2f} s" if verify else "")
        + (f"\n{report.error_count:,} lines rejected" if report.error_count else "")
    )
    emit(summary, as_json, human)
    if report.error_count:
        raise typer.Exit(EXIT_PARTIAL)


def _picks(tree: Any, tree_file: Path, index: int | None, owner: str | None) -> list[int]:
    """Value indices chosen by exactly one of --index / --owner."""
    if (index is None) == (owner is None):
        fail("give exactly one of --index or --owner")
    if index is not None:
        return [index]
    want = str(owner).lower()
    picks = [i for i, v in tree.entries() if str(v[0]).lower() == want]
    if not picks:
        fail(f"no claim in {tree_file} for owner {owner}")
    return picks


@batch_app.command("proof")
def batch_proof(
    ctx: typer.Context,
    tree: str = typer.Argument(..., metavar="TREE_FILE", help="standard-v1 dump (with --remote: the batch id)"),
    index: int | None = typer.Option(None, "--index", help="value index"),
    owner: str | None = typer.Option(None, "--owner", help="every claim of this owner"),
    leaf: str | None = typer.Option(None, "--leaf", help="tree files (--out-of-core) only: the claim with this leaf hash"),
) -> None:
    """Print proofs (JSON lines: index, value, proof) by index or owner.

    From a tree file built with --out-of-core: by --index or --leaf (the file holds leaf hashes,
    not values, so each line has the leaf instead of the value)."""
    if state(ctx).remote:
        from nftreg.cli import remote

        return remote.batch_proof(ctx, tree, index, owner)
    tree_file = Path(tree)
    if not tree_file.is_file():
        fail(f"{tree}: no such file")
    if _is_tree_file(tree_file):
        return _proof_out_of_core(tree_file, index, owner, leaf)
    if leaf is not None:
        fail("--leaf needs a tree file built with --out-of-core; use --index or --owner")
    t = load_tree(tree_file)
    for i in _picks(t, tree_file, index, owner):
        typer.echo(json.dumps({"index": i, "root": t.root, "value": t.at(i), "proof": t.get_proof(i)}))


def _is_tree_file(path: Path) -> bool:
    from nftreg.ooc import MAGIC

    with path.open("rb") as f:
        return f.read(len(MAGIC)) == MAGIC


def _proof_out_of_core(tree_file: Path, index: int | None, owner: str | None, leaf: str | None) -> None:
    from nftreg.errors import InvalidInputError
    from nftreg.ooc import OutOfCoreTree

    if owner is not None:
        fail(f"{tree_file} is a tree file: it holds leaf hashes, not owners; use --index or --leaf")
    if (index is None) == (leaf is None):
        fail("give exactly one of --index or --leaf")
    try:
        t = OutOfCoreTree.open(tree_file)
        row = index if index is not None else t.leaf_lookup(leaf)
        typer.echo(json.dumps({"index": row, "root": t.root, "leaf": t.leaf(row), "proof": t.get_proof(row)}))
    except InvalidInputError as e:
        fail(str(e))


@batch_app.command("anchor")
def batch_anchor(
    tree_file: Path = typer.Argument(..., exists=True, dir_okay=False, help="standard-v1 dump of a claim tree"),
    data_dir: Path = DATA_DIR_OPT,
    rpc_url: str | None = typer.Option(None, envvar="NFTREG_RPC_URL"),
    ipfs_api: str | None = typer.Option(None, envvar="NFTREG_IPFS_API"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Pin the tree dump and anchor its root on-chain in one transaction."""
    from nftreg.chain import Registry
    from nftreg.claims import CLAIM_LEAF_ENCODING
    from nftreg.ipfs import open_store

    tree = load_tree(tree_file)
    if getattr(tree, "leaf_encoding", None) != CLAIM_LEAF_ENCODING:
        fail(f"{tree_file}: leaf encoding must be {CLAIM_LEAF_ENCODING} (owner, content hash, metadata CID)")
    tree_cid = open_store(api=ipfs_api, data_dir=data_dir).add_file(tree_file)
    chain = connect(data_dir, rpc_url)
    try:
        reg = Registry.deploy_once(chain, data_dir / "registry.json")
        if reg.anchored(tree.root):
            fail(f"root {tree.root} is already anchored")
        res = reg.anchor(tree.root, tree_cid)
        out = {"root": tree.root, "tree_cid": tree_cid, "claims": len(tree), "tx_hash": res.tx_hash,
               "block": res.block_number, "contract": reg.address}
        emit(out, as_json, "\n".join(f"{k}: {v}" for k, v in out.items()))
    finally:
        chain.close()


def claim_cmd(
    tree_file: Path = typer.Argument(..., exists=True, dir_okay=False, help="standard-v1 dump of an anchored claim tree"),
    index: int | None = typer.Option(None, "--index"),
    owner: str | None = typer.Option(None, "--owner", help="claim every leaf of this owner"),
    data_dir: Path = DATA_DIR_OPT,
    rpc_url: str | None = typer.Option(None, envvar="NFTREG_RPC_URL"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Claim (mint) leaves of an anchored batch; one multiproof transaction for several."""
    from nftreg.chain import Registry

    tree = load_tree(tree_file)
    picks = _picks(tree, tree_file, index, owner)
    chain = connect(data_dir, rpc_url)
    try:
        reg = Registry.deploy_once(chain, data_dir / "registry.json")
        if not reg.anchored(tree.root):
            fail(f"root {tree.root} is not anchored on chain {chain.chain_id}; run `nftreg batch anchor` first")
        if len(picks) == 1:
            owner_, content_hash, metadata_cid = tree.at(picks[0])
            results = [reg.claim(tree.root, owner_, content_hash, metadata_cid, tree.get_proof(picks[0]))]
        else:
            mp = tree.get_multiproof(picks)
            results = reg.claim_many(tree.root, [tuple(v) for v in mp["leaves"]], mp["proof"], mp["proof_flags"])
        for r in results:
            out = {"token_id": r.token_id, "owner": reg.owner_of(r.token_id), "token_uri": reg.token_uri(r.token_id),
                   "tx_hash": r.tx_hash}
            emit(out, as_json, f"token {r.token_id} -> {out['owner']} ({out['token_uri']})")
    finally:
        chain.close()
