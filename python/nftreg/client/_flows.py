"""What the client says to the API, written once for ``Client`` and ``AsyncClient``.

Each call is a generator ("sans-I/O"): it yields a ``Req`` (send this) or a ``Sleep`` (wait
this long) and receives the ``Resp``; the sync and async clients only drive it. Retries live in
``retry_delay``, which both drivers consult after every attempt.
"""

from __future__ import annotations

import json
import os
import random
import uuid
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from itertools import islice
from pathlib import Path
from typing import Any, TypeVar, Union
from urllib.parse import urlsplit

from eth_account.messages import encode_defunct

from nftreg.client.errors import AlreadyRegistered, NotFound, retry_after_seconds
from nftreg.errors import InvalidInputError
from nftreg.keys import Signer
from nftreg.schemas import (
    Asset,
    AssetPage,
    Batch,
    BatchProofs,
    Challenge,
    Ownership,
    PinsOut,
    ProofsReport,
    ServerInfo,
    Session,
    SignaturesReport,
    Voucher,
)

T = TypeVar("T")
R = TypeVar("R", ProofsReport, SignaturesReport)
DataOrPath = Union[bytes, bytearray, memoryview, str, "os.PathLike[str]"]


@dataclass
class Req:
    method: str
    path: str
    params: dict[str, Any] | None = None
    json: Any = None
    # bytes, or a zero-argument callable giving the body's chunks afresh for every attempt
    body: bytes | Callable[[], Iterator[bytes]] | None = None
    content_type: str | None = None
    form: dict[str, str] | None = None
    upload: DataOrPath | None = None  # the multipart "file" part (a path is opened per attempt)
    idempotency_key: str | None = None
    # 409 without a token: another attempt of this key (or of this content) is still running
    retry_in_progress: bool = False
    raw_errors: bool = False  # hand error responses to the flow instead of raising them


@dataclass
class Resp:
    status: int
    headers: dict[str, str]
    content: bytes
    attempts: int = 1

    def json(self) -> Any:
        return json.loads(self.content)


@dataclass
class Sleep:
    seconds: float


Flow = Generator[Req | Sleep, Any, T]


@dataclass(frozen=True)
class RetryPolicy:
    """Connection errors, 429 and 503 (and a 409 saying the same Idempotency-Key is still
    running) are retried: ``Retry-After`` when the server gives one, else capped exponential
    back-off with full jitter, until ``attempts`` or ``deadline_s`` runs out."""

    attempts: int = 10
    backoff_s: float = 0.5
    cap_s: float = 10.0
    deadline_s: float = 120.0


def retry_delay(policy: RetryPolicy, req: Req, attempt: int, elapsed: float, status: int | None,
                headers: dict[str, str], content: bytes) -> float | None:
    """Seconds to wait before attempt ``attempt + 1``, or None to stop. ``status`` None means
    the connection failed."""
    transient = status is None or status in (429, 503)
    if not (transient or (status == 409 and req.retry_in_progress and _in_progress(content))):
        return None
    if attempt >= policy.attempts:
        return None
    backoff = random.uniform(0, min(policy.cap_s, policy.backoff_s * 2 ** (attempt - 1)))
    hint = retry_after_seconds(headers.get("retry-after")) if status is not None else None
    delay = backoff if hint is None else hint + random.uniform(0, policy.backoff_s)
    if elapsed + delay > policy.deadline_s:
        return None
    return delay


def _in_progress(content: bytes) -> bool:
    try:
        body = json.loads(content)
    except ValueError:
        return False
    return (isinstance(body, dict) and body.get("token_id") is None and body.get("batch_id") is None
            and body.get("registered") is None)


def new_key() -> str:
    return str(uuid.uuid4())


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


def _jsonable(o: Any) -> Any:
    if isinstance(o, (bytes, bytearray, memoryview)):
        return "0x" + bytes(o).hex()
    raise TypeError(f"{type(o).__name__} is not JSON serializable")


# -- streaming verify bodies -------------------------------------------------------------------
class ItemSource:
    """Items to verify, handed out as comma-joined JSON fragments that fit a request's limits.
    Python objects are encoded a block at a time (one ``json.dumps`` per block); JSON-lines
    files are passed through line by line without being parsed."""

    BLOCK = 2048

    def __init__(self, items: Iterable[Any], encode: Callable[[list[Any]], bytes]):
        self._it = iter(items)
        self._encode = encode
        self._pending: list[Any] = []
        self.taken = 0

    @classmethod
    def of(cls, items: Iterable[Any] | str | os.PathLike[str], normalise: Callable[[Any], Any] | None = None
           ) -> ItemSource:
        if isinstance(items, (str, os.PathLike)):
            return cls(_jsonl_lines(Path(items)), b",".join)

        def encode(block: list[Any]) -> bytes:
            objs = block if normalise is None else [normalise(x) for x in block]
            try:
                return json.dumps(objs, separators=(",", ":"), ensure_ascii=False, default=_jsonable)[1:-1].encode()
            except (TypeError, ValueError) as e:
                raise InvalidInputError(f"items: not JSON-serialisable: {e}") from None
        return cls(items, encode)

    def take(self, max_items: int, max_bytes: int) -> tuple[int, bytes] | None:
        if not self._pending:
            self._pending = list(islice(self._it, self.BLOCK))
            if not self._pending:
                return None
        n = min(len(self._pending), max_items)
        while True:
            frag = self._encode(self._pending[:n])
            if len(frag) <= max_bytes:
                break
            if n == 1:
                return (0, b"")  # does not fit what is left of this request
            n = max(1, min(n - 1, n * max_bytes // max(1, len(frag))))
        del self._pending[:n]
        self.taken += n
        return n, frag


def _jsonl_lines(path: Path) -> Iterator[bytes]:
    with path.open("rb") as f:
        for lineno, line in enumerate(f, 1):
            if lineno == 1:
                line = line.removeprefix(b"\xef\xbb\xbf")
            line = line.strip()
            if line:
                yield line


class StreamedBody:
    """One verify request's body, produced from the source while it is being sent (so the
    server verifies the first items while the client still encodes the rest) and recorded, so
    a retry sends the very same bytes."""

    def __init__(self, head: bytes, tail: bytes, source: ItemSource, max_items: int, max_bytes: int):
        self.recorded: list[bytes] = [head]
        self.tail = tail
        self.source = source
        self.max_items = max_items
        self.budget = max_bytes - len(head) - len(tail)
        self.count = 0
        self.finished = False

    def _produce(self) -> bytes | None:
        if self.finished:
            return None
        got = None
        if self.count < self.max_items:
            got = self.source.take(self.max_items - self.count, self.budget - (1 if self.count else 0))
        if not got or got[0] == 0:
            if got is not None and self.count == 0:
                raise InvalidInputError(f"items[{self.source.taken}]: one item is larger than the server's "
                                        f"request limit ({self.budget} bytes)")
            self.finished = True
            self.recorded.append(self.tail)
            return self.tail
        n, frag = got
        chunk = (b"," + frag) if self.count else frag
        self.count += n
        self.budget -= len(chunk)
        self.recorded.append(chunk)
        return chunk

    def __call__(self) -> Iterator[bytes]:
        i = 0
        while True:
            if i < len(self.recorded):
                yield self.recorded[i]
                i += 1
                continue
            if self._produce() is None:
                return

    def complete(self) -> None:
        """Produce the rest (a request that failed before its body was sent)."""
        while self._produce() is not None:
            pass


def _proof_item(x: Any) -> Any:
    if isinstance(x, dict):
        return x
    if isinstance(x, (list, tuple)) and len(x) == 2:
        return {"value": x[0], "proof": x[1]}
    raise InvalidInputError("items: each proof item is {'value': [...], 'proof': [...]} or a (value, proof) pair")


# -- the calls ---------------------------------------------------------------------------------
@dataclass
class State:
    base_url: str
    api_key: str | None = None
    token: str | None = None
    address: str | None = None
    info: ServerInfo | None = None
    extra_headers: dict[str, str] = field(default_factory=dict)

    def headers(self) -> dict[str, str]:
        h = dict(self.extra_headers)
        if self.token:
            h["Authorization"] = f"Bearer {self.token}"
        if self.api_key:
            h["X-API-Key"] = self.api_key
        return h


def _model(resp: Resp, cls: type[T]) -> T:
    return cls.model_validate_json(resp.content)  # type: ignore[attr-defined, no-any-return]


def info(st: State, refresh: bool = False) -> Flow[ServerInfo]:
    if st.info is None or refresh:
        st.info = _model((yield Req("GET", "/v1/info")), ServerInfo)
    return st.info


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
            _raise(resp)
        session = _model(resp, Session)
        st.token, st.address = session.token, session.address
        return session
    raise AssertionError("unreachable")


def _raise(resp: Resp) -> None:
    from nftreg.client.errors import error_from_response

    raise error_from_response(resp.status, resp.content, resp.headers.get("retry-after"))


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
        err = _error(resp)
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
        _raise(resp)
    return _model(resp, Asset)


def _error(resp: Resp) -> Exception:
    from nftreg.client.errors import error_from_response

    return error_from_response(resp.status, resp.content, resp.headers.get("retry-after"))


def get_asset(asset_id: int | str) -> Flow[Asset]:
    """By token id, or by 0x content hash (an off-chain registration has no token id)."""
    ref = str(int(asset_id)) if isinstance(asset_id, int) else _hash_ref(asset_id)
    return _model((yield Req("GET", f"/v1/assets/{ref}")), Asset)


def _hash_ref(v: str) -> str:
    s = v.strip().lower()
    if s.isdigit():
        return s
    if len(s) != 66 or not s.startswith("0x") or any(c not in "0123456789abcdef" for c in s[2:]):
        raise InvalidInputError(f"asset: {v!r} is neither a token id nor a 0x 32-byte content hash")
    return s


def pins(token_id: int) -> Flow[PinsOut]:
    """Where a token's asset and metadata CIDs are pinned (this node's store, remote services)."""
    return _model((yield Req("GET", f"/v1/assets/{int(token_id)}/pins")), PinsOut)


def asset_receipt(asset_id: int | str, wait_s: float = 0.0) -> Flow[dict[str, Any]]:
    """The log receipt of an asset's registration (index, inclusion proof, signed checkpoint)."""
    ref = str(int(asset_id)) if isinstance(asset_id, int) else _hash_ref(asset_id)
    resp = yield Req("GET", f"/v1/assets/{ref}/receipt", raw_errors=True)
    if resp.status >= 400:
        _raise(resp)
    return dict(json.loads(resp.content))


def mint_from_log(asset_id: str, idempotency_key: str | None) -> Flow[Asset]:
    resp = yield Req("POST", f"/v1/assets/{_hash_ref(asset_id)}/mint-from-log",
                     idempotency_key=idempotency_key or new_key(), retry_in_progress=True, raw_errors=True)
    if resp.status >= 400:
        _raise(resp)
    return _model(resp, Asset)


def asset_page(owner: str | None, content_hash: str | None, cursor: str | None, limit: int) -> Flow[AssetPage]:
    params: dict[str, Any] = {"limit": limit}
    if owner:
        params["owner"] = owner
    if content_hash:
        params["content_hash"] = content_hash
    if cursor:
        params["cursor"] = cursor
    return _model((yield Req("GET", "/v1/assets", params=params)), AssetPage)


def lookup(data: DataOrPath) -> Flow[Asset | None]:
    """Who holds this content: a minted token, a mint still pending, or an off-chain
    registration (no token yet); None when nobody does (or its mint failed)."""
    resp = yield Req("GET", f"/v1/assets/{_local_hash(data).lower()}", raw_errors=True)
    if resp.status == 404:
        return None
    if resp.status >= 400:
        _raise(resp)
    asset = _model(resp, Asset)
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
    return _model(resp, Batch)


def get_batch(batch_id: int) -> Flow[Batch]:
    return _model((yield Req("GET", f"/v1/batches/{int(batch_id)}")), Batch)


def proof(batch_id: int, index_or_owner: int | str) -> Flow[BatchProofs]:
    return _model((yield Req("GET", f"/v1/batches/{int(batch_id)}/proofs/{index_or_owner}")), BatchProofs)


def voucher(to: str, content_hash: str, metadata_cid: str, deadline: int | None, idempotency_key: str | None
            ) -> Flow[Voucher]:
    body: dict[str, Any] = {"to": to, "content_hash": content_hash, "metadata_cid": metadata_cid}
    if deadline is not None:
        body["deadline"] = deadline
    resp = yield Req("POST", "/v1/vouchers", json=body, idempotency_key=idempotency_key or new_key())
    return _model(resp, Voucher)


def prove_ownership(token_id: int, signer: Signer) -> Flow[Ownership]:
    for round_ in range(2):
        ch = _model((yield Req("POST", "/v1/ownership/challenge", json={"token_id": int(token_id)},
                               idempotency_key=new_key())), Challenge)
        resp = yield Req("POST", "/v1/ownership/verify",
                         json={"nonce": ch.nonce, "signature": personal_sign(signer, ch.message)},
                         idempotency_key=new_key(), raw_errors=True)
        if resp.status == 404 and resp.attempts > 1 and round_ == 0:
            continue  # the challenge was used by an attempt whose answer was lost: take a new one
        if resp.status >= 400:
            _raise(resp)
        return _model(resp, Ownership)
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


# -- verification ------------------------------------------------------------------------------
def verify(st: State, path: str, head: bytes, source: ItemSource, report: type[R],
           progress: Callable[[int], None] | None) -> Flow[R]:
    """Stream ``source`` in requests of the server's size limits; results in input order."""
    srv = yield from info(st)
    results: list[Any] = []
    invalid: list[int] = []
    valid = 0
    while not _exhausted(source):
        body = StreamedBody(head, b"]}", source, srv.limits.max_verify_items, srv.limits.max_verify_bytes)
        resp = yield Req("POST", path, body=body, content_type="application/json")
        if not body.finished:
            body.complete()
        part = _model(resp, report)
        if part.count != body.count:
            raise InvalidInputError(f"the server verified {part.count} items of a request of {body.count}")
        offset = len(results)
        if isinstance(part, SignaturesReport):
            for sr in part.results:
                sr.index += offset
        results.extend(part.results)
        invalid.extend(i + offset for i in part.invalid_indices)
        valid += part.valid
        if progress is not None:
            progress(len(results))
    return report.model_construct(results=results, count=len(results), valid=valid, invalid_indices=invalid)


def _exhausted(source: ItemSource) -> bool:
    if source._pending:
        return False
    source._pending = list(islice(source._it, source.BLOCK))
    return not source._pending


def proofs_head(root: str, leaf_encoding: list[str] | None) -> bytes:
    head: dict[str, Any] = {"root": root}
    if leaf_encoding is not None:
        head["leaf_encoding"] = list(leaf_encoding)
    return json.dumps(head, separators=(",", ":"))[:-1].encode() + b',"items":['


SIGNATURES_HEAD = b'{"items":['


def proof_source(items: Iterable[Any] | str | os.PathLike[str]) -> ItemSource:
    return ItemSource.of(items, _proof_item)


def signature_source(items: Iterable[Any] | str | os.PathLike[str]) -> ItemSource:
    return ItemSource.of(items)
