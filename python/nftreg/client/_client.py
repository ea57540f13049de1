"""``Client`` and ``AsyncClient``: thin drivers over the flows in ``_flows`` and ``_verify`` (one
definition of every call, in the steps of ``_protocol``), on httpx."""

from __future__ import annotations

import asyncio
import io
import os
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from contextlib import ExitStack
from typing import Any, TypeVar

import httpx
from typing_extensions import Self

from nftreg.client import _flows as f
from nftreg.client import _protocol as p
from nftreg.client import _verify as v
from nftreg.client._signer import KeyLike, as_signer
from nftreg.client.errors import TransportError, error_from_response
from nftreg.schemas import (
    Asset,
    AssetBatchOut,
    Batch,
    BatchProofs,
    Ownership,
    PinsOut,
    ProofsReport,
    ServerInfo,
    Session,
    SignaturesReport,
    Voucher,
)

__all__ = ["AsyncClient", "Client", "RetryPolicy"]

RetryPolicy = p.RetryPolicy
T = TypeVar("T")
ItemsArg = Iterable[Any] | str | os.PathLike[str]
DEFAULT_TIMEOUT = httpx.Timeout(300.0, connect=10.0)
# a retried request may meet a connection the server already closed: these are worth another try
_RETRYABLE = (httpx.TransportError,)


def _httpx_args(st: p.State, req: p.Req, stack: ExitStack) -> dict[str, Any]:
    headers = st.headers()
    if req.idempotency_key:
        headers["Idempotency-Key"] = req.idempotency_key
    if req.content_type:
        headers["Content-Type"] = req.content_type
    kw: dict[str, Any] = {"params": req.params, "headers": headers}
    if req.json is not None:
        kw["json"] = req.json
    elif req.form is not None:
        kw["data"] = req.form
        if req.upload is not None:
            up = req.upload
            if isinstance(up, (str, os.PathLike)):
                fobj: Any = stack.enter_context(open(up, "rb"))  # noqa: SIM115 (the stack closes it)
            else:
                fobj = io.BytesIO(up)  # read in pieces: see _pieces
            kw["files"] = {"file": ("asset", fobj, "application/octet-stream")}
    elif isinstance(req.body, bytes):
        headers["Content-Length"] = str(len(req.body))
        kw["content"] = _pieces(req.body)
    elif req.body is not None:
        kw["content"] = req.body()
    return kw


def _pieces(body: bytes, size: int = 1 << 20) -> Iterator[bytes]:
    """A large body handed to httpx in one piece is written by httpcore with ``send`` and
    ``buffer = buffer[n:]``, copying the rest after every partial write (quadratic: 186 MiB took
    6-12 s on loopback); in 1 MiB pieces it is linear. The explicit Content-Length keeps the
    body fixed-length rather than chunked."""
    view = memoryview(body)
    for i in range(0, len(body), size):
        yield bytes(view[i:i + size])


class _Base:
    def __init__(self, base_url: str, *, api_key: str | None, retry: p.RetryPolicy | None,
                 headers: dict[str, str] | None):
        self.base_url = base_url.rstrip("/")
        self._st = p.State(self.base_url, api_key=api_key, extra_headers=dict(headers or {}))
        self.retry = retry or p.RetryPolicy()

    @property
    def address(self) -> str | None:
        """The address signed in with ``sign_in`` (None before)."""
        return self._st.address

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.base_url!r}, signed_in={self._st.address})"


class Client(_Base):
    """A synchronous client for the nftreg REST API.

    Every state-changing call sends an ``Idempotency-Key`` (generated, or ``idempotency_key=``)
    and is retried on connection errors, 429 and 503 (honouring ``Retry-After``) with capped,
    jittered back-off; a retried ``register`` never mints twice. Errors are the exceptions of
    ``nftreg.client.errors``, carrying the problem-details fields."""

    def __init__(self, base_url: str, *, api_key: str | None = None, timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
                 retry: p.RetryPolicy | None = None, headers: dict[str, str] | None = None,
                 transport: httpx.BaseTransport | None = None):
        super().__init__(base_url, api_key=api_key, retry=retry, headers=headers)
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout, transport=transport)

    # -- driver -------------------------------------------------------------------------------
    def _send(self, req: p.Req) -> p.Resp:
        start = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            status: int | None = None
            headers: dict[str, str] = {}
            content = b""
            failure: Exception | None = None
            try:
                with ExitStack() as stack:
                    r = self._http.request(req.method, req.path, **_httpx_args(self._st, req, stack))
                    status, headers, content = r.status_code, {k.lower(): v for k, v in r.headers.items()}, r.content
            except _RETRYABLE as e:
                failure = e
            if status is not None and status < 400:
                return p.Resp(status, headers, content, attempt)
            delay = p.retry_delay(self.retry, req, attempt, time.monotonic() - start, status, headers, content)
            if delay is None:
                if status is None:
                    raise TransportError(f"{req.method} {self.base_url}{req.path}: {type(failure).__name__}: "
                                         f"{failure} (after {attempt} attempt(s))") from failure
                if req.raw_errors:
                    return p.Resp(status, headers, content, attempt)
                raise error_from_response(status, content, headers.get("retry-after"))
            time.sleep(delay)

    def _run(self, flow: p.Flow[T]) -> T:
        try:
            step = next(flow)
            while True:
                if isinstance(step, p.Sleep):
                    time.sleep(step.seconds)
                    step = flow.send(None)
                else:
                    step = flow.send(self._send(step))
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- calls --------------------------------------------------------------------------------
    def info(self) -> ServerInfo:
        """The server's chain, registry contract, CID profile, SIWE domain and request limits."""
        return self._run(p.info(self._st, refresh=True))

    def sign_in(self, key: KeyLike, *, password: str | None = None, statement: str = "Sign in to nftreg.") -> Session:
        """Sign-In with Ethereum: nonce, EIP-4361 message signed here (``personal_sign``), session.
        ``key``: a private key, an eth-account ``LocalAccount`` or an encrypted keystore."""
        return self._run(f.sign_in(self._st, as_signer(key, password=password), statement))

    def register(self, data: p.DataOrPath, *, name: str, description: str | None = None, attributes: Any = None,
                 image: str | None = None, metadata: dict[str, Any] | None = None, owner: str | None = None,
                 private: bool = False, idempotency_key: str | None = None, onchain: bool = True) -> Asset:
        """Mint an asset (a path or bytes). ``private=True`` sends only the content hash and CID,
        computed here; the file never leaves this machine. ``onchain=False`` registers it
        off-chain: no transaction, a private entry in the registration log (``receipt``), and
        the owner can mint it later with its log proof (``mint_from_log``)."""
        return self._run(f.register(self._st, data, name=name, description=description, attributes=attributes,
                                    image=image, metadata=metadata, owner=owner, private=private,
                                    idempotency_key=idempotency_key, onchain=onchain))

    def register_many(self, registrations: Iterable[dict[str, Any]], *,
                      idempotency_key: str | None = None) -> AssetBatchOut:
        """Register many assets off-chain by content hash (``{"content_hash", "metadata":
        {"name": ...}, "owner"?, "asset_cid"?}`` each), up to 1,000 a request; each succeeds
        or is refused on its own (``results[i].status``: 201 or the 4xx, with its problem)."""
        return self._run(f.register_many(registrations, idempotency_key))

    def receipt(self, asset: Asset | int | str) -> dict[str, Any]:
        """The log receipt of an asset's registration (token id or 0x content hash); check it
        offline with ``nftreg.log.verify_receipt(receipt, verifier_key)``."""
        return self._run(f.asset_receipt(_asset_ref(asset)))

    def mint_from_log(self, asset: Asset | str, *, idempotency_key: str | None = None) -> Asset:
        """Mint an off-chain registration on-chain with its log inclusion proof (against an
        anchored checkpoint); the caller must be its owner."""
        return self._run(f.mint_from_log(str(_asset_ref(asset)), idempotency_key))

    def wait(self, asset: Asset | int, *, status: str = "final", timeout: float = 120.0,
             interval: float = 1.0) -> Asset:
        """Poll until the asset is ``minted`` or ``final``; ``TimeoutError`` otherwise."""
        return self._run(f.wait(asset, status, timeout, interval, time.monotonic))

    def asset(self, asset_id: int | str) -> Asset:
        """By token id or 0x content hash."""
        return self._run(f.get_asset(asset_id))

    def pins(self, token_id: int) -> PinsOut:
        """Where the token's asset and metadata CIDs are pinned: ``{cid: {"local": bool,
        <remote service>: queued|pinning|pinned|failed|None}}``."""
        return self._run(f.pins(token_id))

    def assets(self, *, owner: str | None = None, content_hash: str | None = None, status: str | None = None,
               page_size: int = 100) -> Iterator[Asset]:
        """Every matching registration (minted, pending, off-chain; ``status`` narrows it to one
        status, e.g. ``minted`` or ``offchain``), in the order the registry recorded them,
        fetched a page at a time as the iterator advances."""
        cursor: str | None = None
        while True:
            page = self._run(f.asset_page(owner, content_hash, cursor, page_size, status))
            yield from page.items
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    def lookup(self, data: p.DataOrPath) -> Asset | None:
        """Hash the file (or bytes) here and ask who holds it (minted, pending, or registered
        off-chain: ``onchain`` False, no token yet); None when nobody does."""
        return self._run(f.lookup(data))

    def create_batch(self, claims: ItemsArg, *, idempotency_key: str | None = None) -> Batch:
        """Register claims (a CSV / JSON-lines path, or an iterable of claim objects or
        [owner, content_hash, metadata_cid] triples) as one anchored Merkle batch."""
        return self._run(f.create_batch(claims, idempotency_key))

    def batch(self, batch_id: int) -> Batch:
        return self._run(f.get_batch(batch_id))

    def proof(self, batch_id: int, index_or_owner: int | str) -> BatchProofs:
        """The proof of claim ``index``, or every proof for an owner address."""
        return self._run(f.proof(batch_id, index_or_owner))

    def voucher(self, to: str, content_hash: str, metadata_cid: str, *, deadline: int | None = None,
                idempotency_key: str | None = None) -> Voucher:
        """An EIP-712 mint voucher signed by the server's minter (API key with the minter role)."""
        return self._run(f.voucher(to, content_hash, metadata_cid, deadline, idempotency_key))

    def prove_ownership(self, token_id: int, signer: KeyLike, *, password: str | None = None) -> Ownership:
        """Answer an ownership challenge for ``token_id`` with ``signer`` (signed here)."""
        return self._run(f.prove_ownership(token_id, as_signer(signer, password=password)))

    def content(self, cid: str, *, verify: bool = True) -> bytes:
        """The bytes the registry's gateway serves for ``cid``, checked here against the CID."""
        return self._run(f.content(self._st, cid, verify))

    def verify_proofs(self, root: str, leaf_encoding: list[str] | None, items: ItemsArg, *,
                      progress: Callable[[int], None] | None = None) -> ProofsReport:
        """Verify Merkle proofs (items: ``{"value", "proof"}`` objects or (value, proof) pairs, or
        a JSON-lines path), streamed in requests of the server's maximum size; results in input order."""
        return self._run(v.verify(self._st, "/v1/verify/proofs", v.proofs_head(root, leaf_encoding),
                                  v.proof_source(items), ProofsReport, progress))

    def verify_signatures(self, items: ItemsArg, *, progress: Callable[[int], None] | None = None
                          ) -> SignaturesReport:
        """Verify EIP-191 / EIP-712 / Ed25519 signatures (objects as ``/v1/verify/signatures``
        takes them, or a JSON-lines path), streamed; results in input order."""
        return self._run(v.verify(self._st, "/v1/verify/signatures", v.SIGNATURES_HEAD, v.signature_source(items),
                                  SignaturesReport, progress))


class AsyncClient(_Base):
    """The asyncio twin of ``Client``: the same calls, awaited (``assets`` is an async iterator)."""

    def __init__(self, base_url: str, *, api_key: str | None = None, timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
                 retry: p.RetryPolicy | None = None, headers: dict[str, str] | None = None,
                 transport: httpx.AsyncBaseTransport | None = None):
        super().__init__(base_url, api_key=api_key, retry=retry, headers=headers)
        self._http = httpx.AsyncClient(base_url=self.base_url, timeout=timeout, transport=transport)

    async def _send(self, req: p.Req) -> p.Resp:
        start = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            status: int | None = None
            headers: dict[str, str] = {}
            content = b""
            failure: Exception | None = None
            try:
                with ExitStack() as stack:
                    kw = _httpx_args(self._st, req, stack)
                    if "content" in kw and not isinstance(kw["content"], bytes):
                        kw["content"] = _aiter(kw["content"])
                    r = await self._http.request(req.method, req.path, **kw)
                    status, headers, content = r.status_code, {k.lower(): v for k, v in r.headers.items()}, r.content
            except _RETRYABLE as e:
                failure = e
            if status is not None and status < 400:
                return p.Resp(status, headers, content, attempt)
            delay = p.retry_delay(self.retry, req, attempt, time.monotonic() - start, status, headers, content)
            if delay is None:
                if status is None:
                    raise TransportError(f"{req.method} {self.base_url}{req.path}: {type(failure).__name__}: "
                                         f"{failure} (after {attempt} attempt(s))") from failure
                if req.raw_errors:
                    return p.Resp(status, headers, content, attempt)
                raise error_from_response(status, content, headers.get("retry-after"))
            await asyncio.sleep(delay)

    async def _run(self, flow: p.Flow[T]) -> T:
        try:
            step = next(flow)
            while True:
                if isinstance(step, p.Sleep):
                    await asyncio.sleep(step.seconds)
                    step = flow.send(None)
                else:
                    step = flow.send(await self._send(step))
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def info(self) -> ServerInfo:
        return await self._run(p.info(self._st, refresh=True))

    async def sign_in(self, key: KeyLike, *, password: str | None = None,
                      statement: str = "Sign in to nftreg.") -> Session:
        return await self._run(f.sign_in(self._st, as_signer(key, password=password), statement))

    async def register(self, data: p.DataOrPath, *, name: str, description: str | None = None,
                       attributes: Any = None, image: str | None = None, metadata: dict[str, Any] | None = None,
                       owner: str | None = None, private: bool = False, idempotency_key: str | None = None,
                       onchain: bool = True) -> Asset:
        return await self._run(f.register(self._st, data, name=name, description=description, attributes=attributes,
                                          image=image, metadata=metadata, owner=owner, private=private,
                                          idempotency_key=idempotency_key, onchain=onchain))

    async def register_many(self, registrations: Iterable[dict[str, Any]], *,
                            idempotency_key: str | None = None) -> AssetBatchOut:
        return await self._run(f.register_many(registrations, idempotency_key))

    async def receipt(self, asset: Asset | int | str) -> dict[str, Any]:
        return await self._run(f.asset_receipt(_asset_ref(asset)))

    async def mint_from_log(self, asset: Asset | str, *, idempotency_key: str | None = None) -> Asset:
        return await self._run(f.mint_from_log(str(_asset_ref(asset)), idempotency_key))

    async def wait(self, asset: Asset | int, *, status: str = "final", timeout: float = 120.0,
                   interval: float = 1.0) -> Asset:
        return await self._run(f.wait(asset, status, timeout, interval, time.monotonic))

    async def asset(self, asset_id: int | str) -> Asset:
        return await self._run(f.get_asset(asset_id))

    async def pins(self, token_id: int) -> PinsOut:
        return await self._run(f.pins(token_id))

    async def assets(self, *, owner: str | None = None, content_hash: str | None = None, status: str | None = None,
                     page_size: int = 100) -> AsyncIterator[Asset]:
        cursor: str | None = None
        while True:
            page = await self._run(f.asset_page(owner, content_hash, cursor, page_size, status))
            for a in page.items:
                yield a
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    async def lookup(self, data: p.DataOrPath) -> Asset | None:
        return await self._run(f.lookup(data))

    async def create_batch(self, claims: ItemsArg, *, idempotency_key: str | None = None) -> Batch:
        return await self._run(f.create_batch(claims, idempotency_key))

    async def batch(self, batch_id: int) -> Batch:
        return await self._run(f.get_batch(batch_id))

    async def proof(self, batch_id: int, index_or_owner: int | str) -> BatchProofs:
        return await self._run(f.proof(batch_id, index_or_owner))

    async def voucher(self, to: str, content_hash: str, metadata_cid: str, *, deadline: int | None = None,
                      idempotency_key: str | None = None) -> Voucher:
        return await self._run(f.voucher(to, content_hash, metadata_cid, deadline, idempotency_key))

    async def prove_ownership(self, token_id: int, signer: KeyLike, *, password: str | None = None) -> Ownership:
        return await self._run(f.prove_ownership(token_id, as_signer(signer, password=password)))

    async def content(self, cid: str, *, verify: bool = True) -> bytes:
        return await self._run(f.content(self._st, cid, verify))

    async def verify_proofs(self, root: str, leaf_encoding: list[str] | None, items: ItemsArg, *,
                            progress: Callable[[int], None] | None = None) -> ProofsReport:
        return await self._run(v.verify(self._st, "/v1/verify/proofs", v.proofs_head(root, leaf_encoding),
                                        v.proof_source(items), ProofsReport, progress))

    async def verify_signatures(self, items: ItemsArg, *, progress: Callable[[int], None] | None = None
                                ) -> SignaturesReport:
        return await self._run(v.verify(self._st, "/v1/verify/signatures", v.SIGNATURES_HEAD,
                                        v.signature_source(items), SignaturesReport,
                                        progress))


async def _aiter(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    for c in chunks:
        yield c


def _asset_ref(asset: Asset | int | str) -> int | str:
    """An asset's id for the API: its token id when it has one, else its content hash."""
    if isinstance(asset, Asset):
        return asset.token_id if asset.token_id is not None else asset.content_hash
    return asset
