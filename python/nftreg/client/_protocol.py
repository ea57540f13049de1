"""The sans-I/O steps every client call is written in, once for ``Client`` and ``AsyncClient``.

Each call is a generator: it yields a ``Req`` (send this) or a ``Sleep`` (wait this long) and
receives the ``Resp``; the sync and async clients only drive it. Retries live in
``retry_delay``, which both drivers consult after every attempt. ``State`` is what a client
remembers between calls (credentials, the server's ``/v1/info``).
"""

from __future__ import annotations

import json
import os
import random
import uuid
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar, Union

from nftreg.client.errors import error_from_response, retry_after_seconds
from nftreg.schemas import ServerInfo

T = TypeVar("T")
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


def as_model(resp: Resp, cls: type[T]) -> T:
    return cls.model_validate_json(resp.content)  # type: ignore[attr-defined, no-any-return]


def info(st: State, refresh: bool = False) -> Flow[ServerInfo]:
    if st.info is None or refresh:
        st.info = as_model((yield Req("GET", "/v1/info")), ServerInfo)
    return st.info


def raise_error(resp: Resp) -> None:
    raise error_of(resp)


def error_of(resp: Resp) -> Exception:
    return error_from_response(resp.status, resp.content, resp.headers.get("retry-after"))
