"""The client's calls (sign-in, registration and receipts, assets, batches, vouchers,
ownership, content), each a sans-I/O flow over the steps in ``_protocol``."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from eth_account.messages import encode_defunct

from nftreg.client._protocol import (
    DataOrPath,
    Flow,
    Req,
    Sleep,
    State,
    as_model,
    error_of,
    info,
    new_key,
    raise_error,
)
from nftreg.client.errors import AlreadyRegistered, NotFound
from nftreg.errors import InvalidInputError
from nftreg.keys import Signer
from nftreg.schemas import (
    MAX_ASSET_BATCH,
    Asset,
    AssetBatchOut,
    AssetBatchResult,
    AssetPage,
    Batch,
    BatchProofs,
    Challenge,
    Ownership,
    PinsOut,
    Session,
    Voucher,
)


def siwe_message(*, domain: str, uri: str, address: str, chain_id: int, nonce: str,
                 statement: str = "Sign in to nftreg.", ttl_s: int = 300) -> str:
    """An EIP-4361 message."""
    now = datetime.now(timezone.utc).replace(microsecond=0)
    return (f"{domain} wants you to sign in with your Ethereum account:\n{address}\n\n{statement}\n\n"
            f"URI: {uri}\nVersion: 1\nChain ID: {chain_id}\nNonce: {nonce}\n"
            f"Issued At: {now.isoformat().replace('+00:00', 'Z')}\n"
            f"Expiration Time: {(now + timedelta(seconds=ttl_s)).isoformat().replace('+00:00', 'Z')}")


def personal_sign(signer: Signer, text: str) -> str:
    return "0x" + bytes(signer.account.sign_message(encode_defunct(text=text)).signature).hex()


def sign_in(st: State, signer: Signer, statement: str) -> Flow[Session]:
    for round_ in range(2):
        n = (yield Req("POST", "/v1/auth/nonce")).json()
        chain_id = n.get("chain_id")
        domain = n.get("domain")
        if chain_id is None:
            srv = yield from info(st)
            chain_id, domain = srv.chain_id, srv.siwe_domain
        parts = urlsplit(st.base_url)
        domain = domain or parts.netloc
        msg = siwe_message(domain=domain, uri=f"{parts.scheme}://{domain}", address=signer.address,
                           chain_id=int(chain_id), nonce=n["nonce"], statement=statement)
        resp = yield Req("POST", "/v1/auth/siwe", json={"message": msg, "signature": personal_sign(signer, msg)},
                         raw_errors=True)
        if resp.status == 401 and resp.attempts > 1 and round_ == 0:
            continue  # an earlier attempt used the nonce and its answer was lost: sign in afresh
        if resp.status >= 400:
            raise_error(resp)
        session = as_model(resp, Session)
        st.token, st.address = session.token, session.address
        return session
    raise AssertionError("unreachable")


def _metadata(name: str, description: str | None, attributes: Any, image: str | None,
              extra: dict[str, Any] | None) -> str:
    from nftreg.metadata import build_metadata

    known = dict(extra or {})
    meta = build_metadata(name=name, description=description, attributes=attributes, image=image,
                          external_url=known.pop("external_url", None), animation_url=known.pop("animation_url", None),
                          extra=known or None)
    return json.dumps(meta, ensure_ascii=False)


def _local_hash(data: DataOrPath) -> str:
    from nftreg.cid import content_hash_hex

    return content_hash_hex(data)


def register(st: State, data: DataOrPath, *, name: str, description: str | None, attributes: Any,
             image: str | None, metadata: dict[str, Any] | None, owner: str | None, private: bool,
             idempotency_key: str | None, onchain: bool = True) -> Flow[Asset]:
    if isinstance(data, (str, os.PathLike)) and not Path(data).is_file():
        raise InvalidInputError(f"path: {os.fspath(data)!r} is not a readable file")
    form = {"metadata": _metadata(name, description, attributes, image, metadata)}
    if owner is not None:
        form["owner"] = owner
    if not onchain:
        form["onchain"] = "false"
    ch = _local_hash(data)
    upload: DataOrPath | None = data
    if private:
        from nftreg.cid import cid_of

        srv = yield from info(st)
        form["content_hash"] = ch
        form["asset_cid"] = cid_of(data, profile=srv.ipfs_profile)
        upload = None  # the file never leaves this machine
    resp = yield Req("POST", "/v1/assets", form=form, upload=upload, idempotency_key=idempotency_key or new_key(),
                     retry_in_progress=True, raw_errors=True)
    if resp.status == 409 and resp.attempts > 1:
        # A retried register that finds its content registered: when the token went to the
        # owner this call mints for, it is this call's own mint (its first answer was lost).
        err = error_of(resp)
        if not onchain and isinstance(err, AlreadyRegistered) and err.token_id is None:
            asset = yield from get_asset(ch.lower())
            want = owner or st.address
            if not asset.onchain and want and asset.owner.lower() == want.lower():
                return asset  # this call's own off-chain registration (its first answer was lost)
        if isinstance(err, AlreadyRegistered) and err.token_id is not None:
            asset = yield from get_asset(err.token_id)
            want = owner or st.address
            if asset.content_hash.lower() == ch.lower() and want and asset.owner.lower() == want.lower():
                return asset
        raise err
    if resp.status >= 400:
        raise_error(resp)
    return as_model(resp, Asset)


def get_asset(asset_id: int | str) -> Flow[Asset]:
    """By token id, or by 0x content hash (an off-chain registration has no token id)."""
    ref = str(int(asset_id)) if isinstance(asset_id, int) else _hash_ref(asset_id)
    return as_model((yield Req("GET", f"/v1/assets/{ref}")), Asset)


def _hash_ref(v: str) -> str:
    s = v.strip().lower()
    if s.isdigit():
        return s
    if len(s) != 66 or not s.startswith("0x") or any(c not in "0123456789abcdef" for c in s[2:]):
        raise InvalidInputError(f"asset: {v!r} is neither a token id nor a 0x 32-byte content hash")
    return s


def pins(token_id: int) -> Flow[PinsOut]:
    """Where a token's asset and metadata CIDs are pinned (this node's store, remote services)."""
    return as_model((yield Req("GET", f"/v1/assets/{int(token_id)}/pins")), PinsOut)


def asset_receipt(asset_id: int | str, wait_s: float = 0.0) -> Flow[dict[str, Any]]:
    """The log receipt of an asset's registration (index, inclusion proof, signed checkpoint)."""
    ref = str(int(asset_id)) if isinstance(asset_id, int) else _hash_ref(asset_id)
    resp = yield Req("GET", f"/v1/assets/{ref}/receipt", raw_errors=True)
    if resp.status >= 400:
        raise_error(resp)
    return dict(json.loads(resp.content))


def register_many(registrations: Iterable[dict[str, Any]], idempotency_key: str | None) -> Flow[AssetBatchOut]:
    """Hash-only off-chain registrations through ``POST /v1/assets/batch``, ``MAX_ASSET_BATCH``
    a request; chunk ``n`` carries the key ``<key>:<n>``, so retrying the whole call with the
    same key replays what already went through. Results are indexed over all registrations."""
    regs = [{k: v for k, v in r.items() if v is not None} for r in registrations]
    if not regs:
        raise InvalidInputError("registrations: nothing to register")
    key = idempotency_key or new_key()
    results: list[AssetBatchResult] = []
    for n, lo in enumerate(range(0, len(regs), MAX_ASSET_BATCH)):
        resp = yield Req("POST", "/v1/assets/batch", json={"registrations": regs[lo:lo + MAX_ASSET_BATCH]},
                         idempotency_key=f"{key}:{n}", retry_in_progress=True)
        for r in as_model(resp, AssetBatchOut).results:
            results.append(r.model_copy(update={"index": lo + r.index}))
    ok = sum(1 for r in results if r.status == 201)
    return AssetBatchOut(results=results, registered=ok, refused=len(results) - ok)


def mint_from_log(asset_id: str, idempotency_key: str | None) -> Flow[Asset]:
    resp = yield Req("POST", f"/v1/assets/{_hash_ref(asset_id)}/mint-from-log",
                     idempotency_key=idempotency_key or new_key(), retry_in_progress=True, raw_errors=True)
    if resp.status >= 400:
        raise_error(resp)
    return as_model(resp, Asset)


def asset_page(owner: str | None, content_hash: str | None, cursor: str | None, limit: int,
               status: str | None = None) -> Flow[AssetPage]:
    params: dict[str, Any] = {"limit": limit}
    if owner:
        params["owner"] = owner
    if content_hash:
        params["content_hash"] = content_hash
    if status:
        params["status"] = status
    if cursor:
        params["cursor"] = cursor
    return as_model((yield Req("GET", "/v1/assets", params=params)), AssetPage)


def lookup(data: DataOrPath) -> Flow[Asset | None]:
    """Who holds this content: a minted token, a mint still pending, or an off-chain
    registration (no token yet); None when nobody does (or its mint failed)."""
    resp = yield Req("GET", f"/v1/assets/{_local_hash(data).lower()}", raw_errors=True)
    if resp.status == 404:
        return None
    if resp.status >= 400:
        raise_error(resp)
    asset = as_model(resp, Asset)
    return None if asset.status == "failed" else asset


def wait(asset: Asset | int, status: str, timeout: float, interval: float, clock: Callable[[], float]) -> Flow[Asset]:
    if status not in ("minted", "final"):
        raise InvalidInputError("status: expected 'minted' or 'final'")
    deadline = clock() + timeout
    current = asset if isinstance(asset, Asset) else None
    token_id = asset if isinstance(asset, int) else asset.token_id
    content_hash = asset.content_hash if isinstance(asset, Asset) else None
    while True:
        if token_id is not None:
            try:
                current = yield from get_asset(token_id)
            except NotFound:
                current = None  # not in the index (yet): the mint is still pending
        elif content_hash is not None:
            page = yield from asset_page(None, content_hash, None, 1)
            if page.items:
                current, token_id = page.items[0], page.items[0].token_id
        if current is not None and current.status == "minted" and (status == "minted" or current.final):
            return current
        if clock() + interval > deadline:
            raise TimeoutError(f"asset {token_id if token_id is not None else content_hash} is not {status} "
                               f"after {timeout:g} s")
        yield Sleep(interval)


def create_batch(claims: Iterable[Any] | str | os.PathLike[str], idempotency_key: str | None) -> Flow[Batch]:
    if isinstance(claims, (str, os.PathLike)):
        path = Path(claims)
        if not path.is_file():
            raise InvalidInputError(f"claims: {os.fspath(claims)!r} is not a readable file")
        ctype = "text/csv" if path.suffix.lower() == ".csv" else "application/x-ndjson"

        def chunks() -> Iterator[bytes]:
            with path.open("rb") as f:
                while chunk := f.read(1 << 20):
                    yield chunk
        body: bytes | Callable[[], Iterator[bytes]] = chunks
    else:
        ctype = "application/x-ndjson"
        lines = [json.dumps(c, ensure_ascii=False, separators=(",", ":")) for c in claims]
        body = ("\n".join(lines) + "\n").encode()
    resp = yield Req("POST", "/v1/batches", body=body, content_type=ctype,
                     idempotency_key=idempotency_key or new_key(), retry_in_progress=True)
    return as_model(resp, Batch)


def get_batch(batch_id: int) -> Flow[Batch]:
    return as_model((yield Req("GET", f"/v1/batches/{int(batch_id)}")), Batch)


def proof(batch_id: int, index_or_owner: int | str) -> Flow[BatchProofs]:
    return as_model((yield Req("GET", f"/v1/batches/{int(batch_id)}/proofs/{index_or_owner}")), BatchProofs)


def voucher(to: str, content_hash: str, metadata_cid: str, deadline: int | None, idempotency_key: str | None
            ) -> Flow[Voucher]:
    body: dict[str, Any] = {"to": to, "content_hash": content_hash, "metadata_cid": metadata_cid}
    if deadline is not None:
        body["deadline"] = deadline
    resp = yield Req("POST", "/v1/vouchers", json=body, idempotency_key=idempotency_key or new_key())
    return as_model(resp, Voucher)


def prove_ownership(token_id: int, signer: Signer) -> Flow[Ownership]:
    for round_ in range(2):
        ch = as_model((yield Req("POST", "/v1/ownership/challenge", json={"token_id": int(token_id)},
                               idempotency_key=new_key())), Challenge)
        resp = yield Req("POST", "/v1/ownership/verify",
                         json={"nonce": ch.nonce, "signature": personal_sign(signer, ch.message)},
                         idempotency_key=new_key(), raw_errors=True)
        if resp.status == 404 and resp.attempts > 1 and round_ == 0:
            continue  # the challenge was used by an attempt whose answer was lost: take a new one
        if resp.status >= 400:
            raise_error(resp)
        return as_model(resp, Ownership)
    raise AssertionError("unreachable")


def content(st: State, cid: str, verify: bool) -> Flow[bytes]:
    data = (yield Req("GET", f"/ipfs/{cid}")).content
    if verify:
        from nftreg.cid import cid_of
        from nftreg.errors import ContentIntegrityError

        srv = yield from info(st)
        if cid_of(data, profile=srv.ipfs_profile) != cid:
            raise ContentIntegrityError(f"the registry served bytes for {cid} that do not hash to that CID")
    return data
