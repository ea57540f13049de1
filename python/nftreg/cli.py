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


def _progress(message: str) -> Any:
    """A live spinner with elapsed time on an interactive stderr (rich); silent in pipes."""
    import contextlib

    if not sys.stderr.isatty():
        return contextlib.nullcontext()
    from rich.console import Console

    return Console(stderr=True).status(message)


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
    with _progress(f"reading {claims}"):
        result = read_claims(claims)
    for err in result.errors[:20]:
        typer.echo(f"{claims}:{err.line}: {err.message}", err=True)
    if len(result.errors) > 20:
        typer.echo(f"... and {len(result.errors) - 20:,} more rejected lines", err=True)
    with _progress(f"building the tree of {len(result.claims):,} claims"):
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
        with _progress(f"verifying {len(tree):,} proofs"):
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


def _connect(data_dir: Path, rpc_url: str | None) -> Any:
    """Chain from --rpc-url / NFTREG_RPC_URL, else the running devnet, else a managed anvil."""
    import os as _os

    from nftreg.chain import Chain
    from nftreg.chain.anvil import ANVIL_DEV_KEY

    info = _devnet_info(data_dir)
    url = rpc_url or (info or {}).get("url") or "anvil://"
    key = None
    if info and url == info["url"] and not _os.environ.get("NFTREG_PRIVATE_KEY") and not _os.environ.get("NFTREG_KEYSTORE"):
        key = ANVIL_DEV_KEY  # the local devnet's public development account
    return Chain.connect(url, private_key=key, data_dir=data_dir)


@batch_app.command("anchor")
def batch_anchor(
    tree_file: Path = typer.Argument(..., exists=True, dir_okay=False, help="standard-v1 dump of a claim tree"),
    data_dir: Path = typer.Option(Path(".nftreg"), "--data-dir", envvar="NFTREG_DATA_DIR"),
    rpc_url: Optional[str] = typer.Option(None, envvar="NFTREG_RPC_URL"),
    ipfs_api: Optional[str] = typer.Option(None, envvar="NFTREG_IPFS_API"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Pin the tree dump and anchor its root on-chain in one transaction."""
    from nftreg.chain import Registry
    from nftreg.claims import CLAIM_LEAF_ENCODING
    from nftreg.ipfs import open_store

    tree = _load_tree(tree_file)
    if getattr(tree, "leaf_encoding", None) != CLAIM_LEAF_ENCODING:
        _fail(f"{tree_file}: leaf encoding must be {CLAIM_LEAF_ENCODING} (owner, content hash, metadata CID)")
    tree_cid = open_store(api=ipfs_api, data_dir=data_dir).add_file(tree_file)
    chain = _connect(data_dir, rpc_url)
    try:
        reg = Registry.deploy_once(chain, data_dir / "registry.json")
        if reg.anchored(tree.root):
            _fail(f"root {tree.root} is already anchored")
        res = reg.anchor(tree.root, tree_cid)
        out = {"root": tree.root, "tree_cid": tree_cid, "claims": len(tree), "tx_hash": res.tx_hash,
               "block": res.block_number, "contract": reg.address}
        _emit(out, as_json, "\n".join(f"{k}: {v}" for k, v in out.items()))
    finally:
        chain.close()


@app.command("claim")
def claim_cmd(
    tree_file: Path = typer.Argument(..., exists=True, dir_okay=False, help="standard-v1 dump of an anchored claim tree"),
    index: Optional[int] = typer.Option(None, "--index"),
    owner: Optional[str] = typer.Option(None, "--owner", help="claim every leaf of this owner"),
    data_dir: Path = typer.Option(Path(".nftreg"), "--data-dir", envvar="NFTREG_DATA_DIR"),
    rpc_url: Optional[str] = typer.Option(None, envvar="NFTREG_RPC_URL"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Claim (mint) leaves of an anchored batch; one multiproof transaction for several."""
    from nftreg.chain import Registry

    tree = _load_tree(tree_file)
    if (index is None) == (owner is None):
        _fail("give exactly one of --index or --owner")
    picks = [index] if index is not None else [i for i, v in tree.entries() if str(v[0]).lower() == owner.lower()]  # type: ignore[union-attr]
    if not picks:
        _fail(f"no claim for owner {owner}")
    chain = _connect(data_dir, rpc_url)
    try:
        reg = Registry.deploy_once(chain, data_dir / "registry.json")
        if not reg.anchored(tree.root):
            _fail(f"root {tree.root} is not anchored on chain {chain.chain_id}; run `nftreg batch anchor` first")
        if len(picks) == 1:
            results = [reg.claim(tree.root, *tree.at(picks[0]), tree.get_proof(picks[0]))]
        else:
            mp = tree.get_multiproof(picks)
            results = reg.claim_many(tree.root, [tuple(v) for v in mp["leaves"]], mp["proof"], mp["proof_flags"])
        for r in results:
            out = {"token_id": r.token_id, "owner": reg.owner_of(r.token_id), "token_uri": reg.token_uri(r.token_id), "tx_hash": r.tx_hash}
            _emit(out, as_json, f"token {r.token_id} -> {out['owner']} ({out['token_uri']})")
    finally:
        chain.close()


def _read_jsonl(source: Path, place: Any) -> tuple[list[int], dict[int, dict[str, Any]]]:
    """Read JSON lines from SOURCE ('-' = stdin) and hand each (line number, object) to `place`;
    a line that is not JSON, or that `place` rejects (KeyError/TypeError), gets its own invalid
    result instead of stopping the batch. Returns the line order and those early results."""
    stream = sys.stdin if str(source) == "-" else source.open("r", encoding="utf-8")
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


def _write_results(order: list[int], results: dict[int, dict[str, Any]]) -> None:
    """One {line, valid[, error]} per input line, in input order; exit 4 if any is invalid."""
    bad = 0
    for lineno in order:
        bad += not results[lineno]["valid"]
        typer.echo(json.dumps(results[lineno]))
    if bad:
        raise typer.Exit(EXIT_INVALID)


@verify_app.command("proofs")
def verify_proofs(
    source: Path = typer.Argument(..., help="JSONL: {root, leaf_encoding, value, proof} per line ('-' = stdin)"),
) -> None:
    """Verify inclusion proofs line by line; writes {line, valid[, error]} per input line."""
    from nftreg.merkle import verify_many

    groups: dict[tuple[str, tuple[str, ...]], list[tuple[int, Any, Any]]] = {}

    def place(lineno: int, item: Any) -> None:
        key = (str(item["root"]), tuple(item.get("leaf_encoding") or item.get("leafEncoding")))
        groups.setdefault(key, []).append((lineno, item["value"], item["proof"]))

    order, results = _read_jsonl(source, place)
    for (root, enc), items in groups.items():
        try:
            oks = verify_many(root, list(enc), [v for _, v, _ in items], [p for _, _, p in items])
        except NftregError as e:
            for lineno, _, _ in items:
                results[lineno] = {"line": lineno, "valid": False, "error": str(e)}
            continue
        for (lineno, _, _), ok in zip(items, oks):
            results[lineno] = {"line": lineno, "valid": ok}
    _write_results(order, results)


@app.command("cid")
def cid_cmd(
    files: list[Path] = typer.Argument(..., exists=True, dir_okay=False, help="files to hash"),
    profile: str = typer.Option("unixfs-v1-2025", help="unixfs-v1-2025 (default) or unixfs-v0-2015"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """CID (as Kubo's `ipfs add` gives it) and SHA-256 content hash of each FILE, computed locally."""
    from nftreg.cid import cid_of, content_hash

    for f in files:
        with _progress(f"hashing {f} ({f.stat().st_size:,} bytes)"):
            cid, h = cid_of(f, profile=profile), "0x" + content_hash(f).hex()
        _emit({"file": str(f), "cid": cid, "content_hash": h, "profile": profile}, as_json, f"{cid}  {h}  {f}")


@verify_app.command("signatures")
def verify_signatures(
    source: Path = typer.Argument(..., help="JSONL ('-' = stdin); see below"),
) -> None:
    """Verify signatures line by line; writes {line, valid[, error]} per input line.

    Lines: {"scheme": "eip191", "message", "signature", "address"} |
    {"scheme": "eip712", "typed_data", "signature", "address"} |
    {"scheme": "ed25519", "message" (0x-hex or text), "signature", "public_key"}.
    """
    from nftreg import signatures as sg

    buckets: dict[str, list[tuple[int, dict[str, Any]]]] = {"eip191": [], "eip712": [], "ed25519": []}
    order, results = _read_jsonl(source, lambda lineno, item: buckets[item["scheme"]].append((lineno, item)))

    def msg(m: Any) -> Any:
        return bytes.fromhex(m[2:]) if isinstance(m, str) and m.startswith("0x") else m

    try:
        checks = {
            "eip191": lambda it: sg.verify_personal_sign([msg(i.get("message", "")) for i in it], [i.get("signature", "") for i in it],
                                                         [i.get("address", "") for i in it]),
            "eip712": lambda it: sg.verify_typed_data([i.get("typed_data", "") for i in it], [i.get("signature", "") for i in it],
                                                      [i.get("address", "") for i in it]),
            "ed25519": lambda it: sg.verify_ed25519([msg(i.get("message", "")) for i in it], [i.get("signature", "") for i in it],
                                                    [i.get("public_key", "") for i in it]),
        }
        for scheme, items in buckets.items():
            if items:
                for (lineno, _), ok in zip(items, checks[scheme]([i for _, i in items])):
                    results[lineno] = {"line": lineno, "valid": ok}
    except NftregError as e:
        _fail(str(e))
    _write_results(order, results)


@app.command("demo")
def demo(
    data_dir: Path = typer.Option(Path(".nftreg/demo"), "--data-dir", envvar="NFTREG_DATA_DIR", help="where chain state and content live"),
    claims: int = typer.Option(100_000, min=1),
    signatures: int = typer.Option(10_000, min=1),
    chain: Optional[str] = typer.Option(None, help="tester:// or anvil:// (default: anvil if installed)"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Run the whole story on embedded defaults: mint, batch, claim, verify."""
    from nftreg.demo import run_demo

    report = run_demo(data_dir, claims=claims, signatures=signatures, chain_url=chain,
                      log=(lambda _m: None) if as_json else typer.echo)
    if as_json:
        typer.echo(json.dumps(report, ensure_ascii=False))
    else:
        typer.echo(f"done in {report['total_seconds']:.1f} s; tokens {[m['token_id'] for m in report['minted']]}, "
                   f"claimed token {report['claimed']['token_id']}; state in {report['data_dir']}")


devnet_app = typer.Typer(help="A local anvil devnet with persisted state.", no_args_is_help=True)
app.add_typer(devnet_app, name="devnet")


def _devnet_file(data_dir: Path) -> Path:
    return data_dir / "devnet.json"


def _devnet_info(data_dir: Path) -> dict[str, Any] | None:
    import os as _os

    f = _devnet_file(data_dir)
    if not f.exists():
        return None
    info = json.loads(f.read_text())
    try:
        _os.kill(info["pid"], 0)
    except OSError:
        return None
    return info


DATA_DIR_OPT = typer.Option(Path(".nftreg"), "--data-dir", envvar="NFTREG_DATA_DIR", help="nftreg's data directory")


@devnet_app.command("start")
def devnet_start(data_dir: Path = DATA_DIR_OPT, port: int = typer.Option(8545, help="RPC port on 127.0.0.1")) -> None:
    """Start anvil in the background; its state lives in DATA_DIR/anvil and survives restarts."""
    from nftreg.chain import AnvilProcess

    info = _devnet_info(data_dir)
    if info:
        typer.echo(f"devnet already running at {info['url']} (pid {info['pid']})")
        return
    proc = AnvilProcess(data_dir / "anvil", port=port)
    proc.start()
    assert proc.proc is not None
    info = {"pid": proc.proc.pid, "url": proc.url, "state": str(proc.state_file)}
    _devnet_file(data_dir).write_text(json.dumps(info))
    typer.echo(f"devnet running at {proc.url} (pid {proc.proc.pid}); state in {proc.state_file}")


@devnet_app.command("status")
def devnet_status(data_dir: Path = DATA_DIR_OPT, as_json: bool = typer.Option(False, "--json")) -> None:
    """Is the devnet running, and at which block?"""
    info = _devnet_info(data_dir)
    if not info:
        _emit({"running": False}, as_json, "devnet is not running")
        raise typer.Exit(EXIT_USER_ERROR)
    from web3 import Web3

    w3 = Web3(Web3.HTTPProvider(info["url"], request_kwargs={"timeout": 5}))
    info = {**info, "running": True, "block": w3.eth.block_number, "chain_id": w3.eth.chain_id}
    _emit(info, as_json, f"devnet at {info['url']}: chain {info['chain_id']}, block {info['block']}")


@devnet_app.command("stop")
def devnet_stop(data_dir: Path = DATA_DIR_OPT) -> None:
    """Stop the devnet gracefully (its state is written on exit)."""
    import os as _os
    import signal as _signal

    info = _devnet_info(data_dir)
    if not info:
        typer.echo("devnet is not running")
        return
    _os.kill(info["pid"], _signal.SIGTERM)
    for _ in range(100):
        try:
            _os.kill(info["pid"], 0)
        except OSError:
            break
        time.sleep(0.1)
    _devnet_file(data_dir).unlink(missing_ok=True)
    typer.echo("devnet stopped")


@app.command("mint")
def mint_cmd(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="the asset"),
    name: str = typer.Option(..., help="metadata name (any language)"),
    description: Optional[str] = typer.Option(None),
    attr: list[str] = typer.Option([], "--attr", help="attribute k=v (repeatable)"),
    to: Optional[str] = typer.Option(None, help="owner address (default: the signer)"),
    data_dir: Path = DATA_DIR_OPT,
    rpc_url: Optional[str] = typer.Option(None, envvar="NFTREG_RPC_URL", help="chain (default: running devnet, else anvil://)"),
    ipfs_api: Optional[str] = typer.Option(None, envvar="NFTREG_IPFS_API", help="Kubo API (default: embedded store)"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Pin FILE and its ERC-721 metadata, then mint its ownership token."""
    from nftreg.chain import Registry
    from nftreg.cid import content_hash
    from nftreg.ipfs import open_store
    from nftreg.metadata import build_metadata, canonical_json

    attrs = []
    for a in attr:
        if "=" not in a:
            _fail(f"--attr {a!r}: expected key=value")
        k, v = a.split("=", 1)
        attrs.append({"trait_type": k, "value": v})
    h = content_hash(file)
    store = open_store(api=ipfs_api, data_dir=data_dir)
    chain = _connect(data_dir, rpc_url)
    try:
        registry = Registry.deploy_once(chain, data_dir / "registry.json")
        existing = registry.token_of_content(h)
        if existing:
            _fail(f"{file}: content hash 0x{h.hex()} is already registered as token {existing}")
        asset_cid = store.add_file(file)
        meta = build_metadata(name=name, description=description, image=f"ipfs://{asset_cid}", attributes=attrs or None)
        meta_cid = store.add_bytes(canonical_json(meta))
        res = registry.mint(to or chain.address, h, meta_cid)
        out = {"token_id": res.token_id, "owner": registry.owner_of(res.token_id), "content_hash": "0x" + h.hex(),
               "asset_cid": asset_cid, "metadata_cid": meta_cid, "token_uri": registry.token_uri(res.token_id),
               "tx_hash": res.tx_hash, "block": res.block_number, "contract": registry.address, "chain_id": chain.chain_id}
        _emit(out, as_json, "\n".join(f"{k}: {v}" for k, v in out.items()))
    finally:
        chain.close()


@app.command("serve")
def serve_cmd(
    port: Optional[int] = typer.Option(None, "--port", help="listen port (NFTREG_PORT; default 8000)"),
    host: Optional[str] = typer.Option(None, "--host", help="listen address (NFTREG_HOST; default 127.0.0.1)"),
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="NFTREG_DATA_DIR"),
    rpc_url: Optional[str] = typer.Option(None, "--rpc-url", help="NFTREG_RPC_URL: tester://, anvil:// or http(s)://"),
    ipfs_api: Optional[str] = typer.Option(None, "--ipfs-api", help="NFTREG_IPFS_API (default: embedded store)"),
    database_url: Optional[str] = typer.Option(None, "--database-url", help="NFTREG_DATABASE_URL (default: SQLite under the data dir)"),
    workers: Optional[int] = typer.Option(None, "--workers", help="NFTREG_WORKERS: server processes (default 1)"),
) -> None:
    """Run the REST API (flags override NFTREG_* environment variables)."""
    from nftreg.serve import run
    from nftreg.settings import Settings

    overrides = {k: v for k, v in {"port": port, "host": host, "data_dir": data_dir, "rpc_url": rpc_url,
                                   "ipfs_api": ipfs_api, "database_url": database_url,
                                   "workers": workers}.items() if v is not None}
    try:
        settings = Settings(**overrides)
    except ValueError as e:
        _fail(f"bad setting: {e}")
    run(settings)


@app.command("reindex")
def reindex_cmd(
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="NFTREG_DATA_DIR"),
    rpc_url: Optional[str] = typer.Option(None, "--rpc-url", help="NFTREG_RPC_URL"),
    database_url: Optional[str] = typer.Option(None, "--database-url", help="NFTREG_DATABASE_URL"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Rebuild the service's asset index from the contract's events (the chain is the truth)."""
    from nftreg.services.registry import RegistryService
    from nftreg.settings import Settings

    overrides = {k: v for k, v in {"data_dir": data_dir, "rpc_url": rpc_url, "database_url": database_url}.items()
                 if v is not None}
    try:
        settings = Settings(**overrides)
    except ValueError as e:
        _fail(f"bad setting: {e}")
    service = RegistryService(settings)
    try:
        with _progress("reading Registered / Transfer events"):
            seen = service.reindex()
        _emit({"tokens": seen, "contract": service.registry.address}, as_json,
              f"reindexed {seen:,} tokens from {service.registry.address}")
    finally:
        service.close()


ipfs_app = typer.Typer(help="A managed Kubo daemon (offline repo under the data directory).", no_args_is_help=True)
app.add_typer(ipfs_app, name="ipfs")


def _kubo_bin() -> str:
    import os as _os
    import shutil

    env = _os.environ.get("NFTREG_KUBO")
    if env:
        return env
    cached = sorted(Path.home().glob(".cache/nftreg/kubo-*/ipfs"))
    if cached:
        return str(cached[-1])
    found = shutil.which("ipfs")
    if found:
        return found
    _fail("no Kubo binary: run scripts/install_kubo.sh (builds and caches it) or set NFTREG_KUBO")
    raise AssertionError  # unreachable: _fail exits


@ipfs_app.command("start")
def ipfs_start(data_dir: Path = typer.Option(Path(".nftreg"), "--data-dir", envvar="NFTREG_DATA_DIR"),
               port: int = typer.Option(5001, help="API port on 127.0.0.1")) -> None:
    """Start a Kubo daemon (offline) with its repo in DATA_DIR/kubo; prints NFTREG_IPFS_API."""
    import os as _os
    import subprocess

    repo = data_dir / "kubo"
    env = {**_os.environ, "IPFS_PATH": str(repo)}
    ipfs = _kubo_bin()
    if not (repo / "config").exists():
        repo.mkdir(parents=True, exist_ok=True)
        subprocess.run([ipfs, "init", "--profile=test"], env=env, check=True, capture_output=True)
    subprocess.run([ipfs, "config", "Addresses.API", f"/ip4/127.0.0.1/tcp/{port}"], env=env, check=True, capture_output=True)
    log = open(repo / "daemon.log", "ab")
    proc = subprocess.Popen([ipfs, "daemon", "--offline"], env=env, stdout=log, stderr=log, start_new_session=True)
    for _ in range(300):
        if (repo / "api").exists():
            break
        if proc.poll() is not None:
            _fail(f"kubo exited; see {repo / 'daemon.log'}")
        time.sleep(0.1)
    (data_dir / "kubo.pid").write_text(str(proc.pid))
    typer.echo(f"kubo running (pid {proc.pid}); export NFTREG_IPFS_API=/ip4/127.0.0.1/tcp/{port}")


@ipfs_app.command("stop")
def ipfs_stop(data_dir: Path = typer.Option(Path(".nftreg"), "--data-dir", envvar="NFTREG_DATA_DIR")) -> None:
    """Stop the managed Kubo daemon."""
    import os as _os
    import signal as _signal

    pidfile = data_dir / "kubo.pid"
    if not pidfile.exists():
        typer.echo("kubo is not running")
        return
    pid = int(pidfile.read_text())
    try:
        _os.kill(pid, _signal.SIGTERM)
        for _ in range(100):
            _os.kill(pid, 0)
            time.sleep(0.1)
    except OSError:
        pass
    pidfile.unlink(missing_ok=True)
    typer.echo("kubo stopped")


def main() -> None:
    try:
        app()
    except NftregError as e:
        typer.echo(f"nftreg: error: {e}", err=True)
        sys.exit(EXIT_USER_ERROR)


if __name__ == "__main__":
    main()
