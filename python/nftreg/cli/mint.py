"""``nftreg mint``: pin a file and its metadata, then mint its token."""

from __future__ import annotations

from pathlib import Path

import typer

from nftreg.cli.common import (
    DATA_DIR_OPT,
    EXIT_UNAVAILABLE,
    EXIT_USER_ERROR,
    connect,
    emit,
    fail,
    state,
)


def mint_cmd(
    ctx: typer.Context,
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="the asset"),
    name: str = typer.Option(..., help="metadata name (any language)"),
    description: str | None = typer.Option(None),
    attr: list[str] = typer.Option([], "--attr", help="attribute k=v (repeatable)"),
    to: str | None = typer.Option(None, help="owner address (default: the signer)"),
    data_dir: Path = DATA_DIR_OPT,
    rpc_url: str | None = typer.Option(None, envvar="NFTREG_RPC_URL", help="chain (default: running devnet, else anvil://)"),
    ipfs_api: str | None = typer.Option(None, envvar="NFTREG_IPFS_API", help="Kubo API (default: embedded store)"),
    off_chain: bool = typer.Option(False, "--off-chain",
                                   help="register in the registry's log instead (no transaction; needs --remote)"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Pin FILE and its ERC-721 metadata, then mint its ownership token (or, with --off-chain,
    register it in the registry's registration log: no gas; mint it later with `nftreg log mint`)."""
    from nftreg.chain import Registry
    from nftreg.ipfs import open_store
    from nftreg.metadata import build_metadata
    from nftreg.services.errors import ServiceError
    from nftreg.services.minting import mint_file

    attrs = []
    for a in attr:
        if "=" not in a:
            fail(f"--attr {a!r}: expected key=value")
        k, v = a.split("=", 1)
        attrs.append({"trait_type": k, "value": v})
    if state(ctx).remote:
        from nftreg.cli import remote

        return remote.mint(ctx, file, name=name, description=description, attributes=attrs, to=to, as_json=as_json,
                           onchain=not off_chain)
    if off_chain:
        fail("--off-chain registers in a registry's log: run it against the registry with --remote URL")
    fields = build_metadata(name=name, description=description, attributes=attrs or None)
    store = open_store(api=ipfs_api, data_dir=data_dir)
    chain = connect(data_dir, rpc_url)
    try:
        registry = Registry.deploy_once(chain, data_dir / "registry.json")
        try:  # the service's mint flow: the same file and fields give the API's metadata CID
            out = mint_file(registry, store, file, fields, to or chain.address)
        except ServiceError as e:  # 503: the content store or chain cannot be reached
            fail(f"{file}: {e.detail}", EXIT_UNAVAILABLE if e.status == 503 else EXIT_USER_ERROR)
        out = {**out, "owner": registry.owner_of(out["token_id"]), "token_uri": registry.token_uri(out["token_id"]),
               "contract": registry.address, "chain_id": chain.chain_id}
        emit(out, as_json, "\n".join(f"{k}: {v}" for k, v in out.items()))
    finally:
        chain.close()
