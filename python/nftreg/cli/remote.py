"""``nftreg --remote URL …`` (or ``NFTREG_REMOTE``): the commands that have a REST counterpart
run through ``nftreg.Client`` against a running registry instead of the local library and
chain, with the same output and exit codes. Creators sign in with ``NFTREG_PRIVATE_KEY`` or
``NFTREG_KEYSTORE`` (+ ``NFTREG_KEYSTORE_PASSWORD``); operators send ``NFTREG_API_KEY``."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import typer

from nftreg.cli.common import (
    EXIT_INVALID,
    EXIT_PARTIAL,
    EXIT_UNAVAILABLE,
    EXIT_USER_ERROR,
    emit,
    fail,
    state,
)

__all__ = ["assets", "batch_build", "batch_proof", "client", "lookup", "mint", "remote_url", "verify_proofs",
           "verify_signatures"]


def remote_url(ctx: typer.Context) -> str | None:
    return state(ctx).remote


@contextlib.contextmanager
def client(ctx: typer.Context, *, sign_in: bool = False) -> Iterator[Any]:
    """A ``nftreg.Client`` for --remote; client errors become the CLI's one-line errors and exit
    codes (2: the registry cannot be reached or is unavailable; 1: it refused the request)."""
    from nftreg.client import (
        ApiError,
        Client,
        RateLimited,
        RetryPolicy,
        ServiceUnavailable,
        TransportError,
    )
    from nftreg.keys import load_signer

    url = remote_url(ctx)
    assert url is not None
    retry = RetryPolicy(deadline_s=float(os.environ.get("NFTREG_REMOTE_RETRY_S", "60")))
    try:
        with Client(url, api_key=os.environ.get("NFTREG_API_KEY") or None, retry=retry) as c:
            if sign_in:
                signer = load_signer()
                if signer is not None:
                    c.sign_in(signer)
                elif not os.environ.get("NFTREG_API_KEY"):
                    fail("--remote mint needs a signer (NFTREG_PRIVATE_KEY or NFTREG_KEYSTORE) or NFTREG_API_KEY")
            yield c
    except (TransportError, ServiceUnavailable, RateLimited) as e:
        fail(f"registry {url} is unavailable: {e}; check that `nftreg serve` runs there and retry", EXIT_UNAVAILABLE)
    except ApiError as e:
        fail(f"registry {url}: {e.detail or e}", EXIT_USER_ERROR)


@contextlib.contextmanager
def bar(total: int, what: str) -> Iterator[Callable[[int], None]]:
    """A progress bar with counts and a rate on an interactive stderr; silent in pipes."""
    if not sys.stderr.isatty() or total <= 0:
        yield lambda done: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    start = time.perf_counter()
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), console=Console(stderr=True)) as p:
        task = p.add_task(what, total=total, rate="")

        def update(done: int) -> None:
            dt = time.perf_counter() - start
            p.update(task, completed=done, rate=f"{done / dt:,.0f}/s" if dt > 0 else "")
        yield update


# -- mint, lookup, assets ----------------------------------------------------------------------
def mint(ctx: typer.Context, file: Path, *, name: str, description: str | None, attributes: list[dict[str, str]],
         to: str | None, as_json: bool, onchain: bool = True) -> None:
    from nftreg.client import AlreadyRegistered

    with client(ctx, sign_in=True) as c:
        try:
            a = c.register(file, name=name, description=description, attributes=attributes or None, owner=to,
                           onchain=onchain)
        except AlreadyRegistered as e:
            from nftreg.cid import content_hash_hex

            where = f"as token {e.token_id}" if e.token_id is not None else "off-chain (in the registration log)"
            fail(f"{file}: content hash {content_hash_hex(file)} is already registered {where}")
        info = c.info()
        out = {"token_id": a.token_id, "owner": a.owner, "content_hash": a.content_hash, "asset_cid": a.asset_cid,
               "metadata_cid": a.metadata_cid, "token_uri": a.token_uri, "tx_hash": a.tx_hash,
               "block": a.block_number, "contract": info.registry, "chain_id": info.chain_id}
        if not onchain:
            out = {**out, "status": a.status, "onchain": False, "receipt": a.receipt}
    emit(out, as_json, "\n".join(f"{k}: {v}" for k, v in out.items()))


def register_files(ctx: typer.Context, files: list[Path], *, description: str | None, to: str | None,
                   as_json: bool) -> None:
    """Register FILES off-chain by content hash (hashed here, nothing uploaded) through
    ``Client.register_many``; exit 3 when some were refused."""
    from nftreg.cid import content_hash_hex

    regs = []
    with bar(len(files), "hashing") as tick:
        for i, f in enumerate(files):
            meta = {"name": f.name, **({"description": description} if description else {})}
            regs.append({"content_hash": content_hash_hex(f), "metadata": meta, "owner": to})
            tick(i + 1)
    with client(ctx, sign_in=True) as c:
        res = c.register_many(regs)
    rows = [{"file": str(f), "content_hash": g["content_hash"], "status": r.status,
             **({"log_index": r.asset.log_index, "metadata_cid": r.asset.metadata_cid, "receipt": r.asset.receipt}
                if r.asset else {"error": (r.problem or {}).get("detail")})}
            for f, g, r in zip(files, regs, res.results, strict=True)]
    lines = [f"{x['file']}: " + ("registered off-chain" if x["status"] == 201 else f"refused ({x['error']})")
             for x in rows]
    emit({"registered": res.registered, "refused": res.refused, "items": rows}, as_json,
         "\n".join([*lines, f"{res.registered} registered off-chain, {res.refused} refused"]))
    if res.refused:
        raise typer.Exit(EXIT_PARTIAL)


def receipt(ctx: typer.Context, asset: str, out: Path | None, wait_s: float) -> dict[str, Any]:
    """The log receipt of ASSET (token id or 0x content hash), waiting up to ``wait_s`` for
    the entry to be integrated."""
    from nftreg.client import NotFound

    deadline = time.monotonic() + wait_s
    with client(ctx) as c:
        while True:
            try:
                r = c.receipt(int(asset) if asset.isdigit() else asset)
                break
            except NotFound as e:
                if time.monotonic() >= deadline:
                    fail(f"{asset}: {e.detail or e}")
                time.sleep(0.2)
    if out is not None:
        out.write_text(json.dumps(r, indent=2), encoding="utf-8")
    return r


def mint_from_log(ctx: typer.Context, asset: str, as_json: bool) -> None:
    with client(ctx, sign_in=True) as c:
        a = c.mint_from_log(asset)
    out = a.model_dump(mode="json")
    emit(out, as_json, "\n".join(f"{k}: {v}" for k, v in out.items()))


def lookup(ctx: typer.Context, file: Path, as_json: bool) -> None:
    from nftreg.cid import content_hash_hex

    with client(ctx) as c:
        a = c.lookup(file)
    if a is None:
        emit({"content_hash": content_hash_hex(file), "registered": False}, as_json,
             f"{file}: not registered (content hash {content_hash_hex(file)})")
        raise typer.Exit(EXIT_INVALID)
    out = {"registered": True, **a.model_dump(mode="json")}
    emit(out, as_json, "\n".join(f"{k}: {v}" for k, v in out.items()))


def assets(ctx: typer.Context, owner: str | None, content_hash: str | None, as_json: bool,
           status: str | None = None) -> None:
    """JSON lines (one asset per line) or a table; pages are fetched as the listing goes."""
    n = 0
    with client(ctx) as c:
        for a in c.assets(owner=owner, content_hash=content_hash, status=status, page_size=500):
            n += 1
            if as_json:
                typer.echo(a.model_dump_json())
            else:
                typer.echo(f"{'-' if a.token_id is None else a.token_id}\t{a.owner}\t{a.content_hash}\t{a.token_uri}\t"
                           f"{'final' if a.final else a.status}")
    if not as_json:
        typer.echo(f"{n:,} asset(s)", err=True)


# -- batches -----------------------------------------------------------------------------------
def batch_build(ctx: typer.Context, claims: Path, output: Path, verify: bool, as_json: bool) -> None:
    """Registered and anchored by the registry; the tree dump it pinned is fetched, checked
    against its CID and root, and written to OUTPUT. Lines the local reader rejects are listed
    and left out, as the local build does (exit 3)."""
    from nftreg.cid import cid_of
    from nftreg.claims import read_claims
    from nftreg.merkle import StandardMerkleTree, verify_many

    t0 = time.perf_counter()
    result = read_claims(claims)
    for err in result.errors[:20]:
        typer.echo(f"{claims}:{err.line}: {err.message}", err=True)
    if len(result.errors) > 20:
        typer.echo(f"... and {len(result.errors) - 20:,} more rejected lines", err=True)
    if not result.claims:
        fail(f"{claims}: no valid claims")
    with client(ctx) as c:
        batch = c.create_batch(claims if not result.errors else result.claims)
        dump = c.content(batch.tree_cid)
        profile = c.info().ipfs_profile
    if cid_of(dump, profile=profile) != batch.tree_cid:
        fail(f"the tree dump served for {batch.tree_cid} does not hash to that CID")
    tree = StandardMerkleTree.load(json.loads(dump))
    if tree.root != batch.root:
        fail(f"the tree dump's root {tree.root} is not the batch's root {batch.root}")
    t_build = time.perf_counter() - t0
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_suffix(output.suffix + ".tmp")
    tmp.write_text(json.dumps(tree.dump(), ensure_ascii=False), encoding="utf-8")
    tmp.replace(output)
    summary: dict[str, Any] = {"root": tree.root, "claims": len(tree), "rejected": [e.to_dict() for e in result.errors],
                               "output": str(output), "seconds": round(t_build, 3), "batch_id": batch.id,
                               "tree_cid": batch.tree_cid, "tx_hash": batch.tx_hash, "status": batch.status}
    if verify:
        t1 = time.perf_counter()
        ok = verify_many(tree.root, tree.leaf_encoding, [tree.at(i) for i in range(len(tree))], tree.all_proofs())
        summary["verified"] = sum(ok)
        summary["verify_seconds"] = round(time.perf_counter() - t1, 3)
    human = (f"root {tree.root}\n{len(tree):,} claims -> batch {batch.id} ({batch.status}, tx {batch.tx_hash}) "
             f"-> {output} in {t_build:.2f} s"
             + (f"\nverified {summary['verified']:,}/{len(tree):,} proofs in {summary['verify_seconds']:.2f} s"
                if verify else "")
             + (f"\n{len(result.errors):,} lines rejected" if result.errors else ""))
    emit(summary, as_json, human)
    if verify and summary["verified"] != len(tree):
        raise typer.Exit(EXIT_INVALID)
    if result.errors:
        raise typer.Exit(EXIT_PARTIAL)


def batch_proof(ctx: typer.Context, batch: str, index: int | None, owner: str | None) -> None:
    if (index is None) == (owner is None):
        fail("give exactly one of --index or --owner")
    if not batch.isdigit():
        fail(f"with --remote, the batch is the registry's batch id (a number), not {batch!r}")
    with client(ctx) as c:
        proofs = c.proof(int(batch), index if index is not None else str(owner))
    for p in proofs.proofs:
        typer.echo(json.dumps({"index": p.index, "root": proofs.root, "value": p.value, "proof": p.proof}))


# -- verification ------------------------------------------------------------------------------
def verify_proofs(ctx: typer.Context, results: dict[int, dict[str, Any]],
                  groups: dict[tuple[str, tuple[str, ...]], list[tuple[int, Any, Any]]]) -> None:
    """Each (root, leaf encoding) group streamed through the registry in requests of its size."""
    from nftreg.client import InvalidInput

    total = sum(len(g) for g in groups.values())
    with client(ctx) as c, bar(total, "verifying proofs") as update:
        base = 0
        for (root, enc), items in groups.items():
            def progress(done: int, base: int = base) -> None:
                update(base + done)
            try:
                rep = c.verify_proofs(root, list(enc), ({"value": v, "proof": p} for _, v, p in items),
                                      progress=progress)
            except InvalidInput as e:
                for lineno, _, _ in items:
                    results[lineno] = {"line": lineno, "valid": False, "error": e.detail}
            else:
                for (lineno, _, _), ok in zip(items, rep.results):
                    results[lineno] = {"line": lineno, "valid": ok}
            base += len(items)


def verify_signatures(ctx: typer.Context, items: list[Any]) -> list[tuple[bool, str | None]]:
    with client(ctx) as c, bar(len(items), "verifying signatures") as update:
        rep = c.verify_signatures(items, progress=update)
    out: list[tuple[bool, str | None]] = []
    for r in rep.results:
        err = r.error
        if err and err.startswith("items["):
            err = err.split(": ", 1)[-1]  # the server counts within its request; the CLI names the line
        out.append((r.valid, err))
    return out
