"""Verification calls: items streamed to ``/v1/verify/*`` in requests that fit the server's
limits, encoded while they are being sent, results put back in input order."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from pathlib import Path
from typing import Any, TypeVar

from nftreg.client._protocol import Flow, Req, State, as_model, info
from nftreg.errors import InvalidInputError
from nftreg.schemas import ProofsReport, SignaturesReport

R = TypeVar("R", ProofsReport, SignaturesReport)


def _jsonable(o: Any) -> Any:
    if isinstance(o, (bytes, bytearray, memoryview)):
        return "0x" + bytes(o).hex()
    raise TypeError(f"{type(o).__name__} is not JSON serializable")


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
        part = as_model(resp, report)
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

