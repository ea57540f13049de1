"""Pure ASGI middleware: header size is capped (431), the upload limit is enforced on the byte
stream (before any parser buffers it) and a per-client token bucket answers 429 with
Retry-After."""

from __future__ import annotations

import json
import math
import threading
import time
from typing import Any

from starlette.exceptions import HTTPException

Scope = dict[str, Any]


class _TooLarge(HTTPException):
    # an HTTPException so that FastAPI's body parsing re-raises it instead of turning it into a 400
    def __init__(self, limit: int):
        super().__init__(413, f"request body exceeds the limit of {limit} bytes")


async def _send_problem(send: Any, status: int, title: str, detail: str, headers: tuple[tuple[bytes, bytes], ...] = ()) -> None:
    body = json.dumps({"type": "about:blank", "title": title, "status": status, "detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/problem+json"), (b"content-length", str(len(body)).encode()),
                            *headers]})
    await send({"type": "http.response.body", "body": body})


class HeaderLimit:
    """Refuse a request whose header lines (names and values) total more than ``max_bytes``
    with 431 Request Header Fields Too Large, before any route or parser sees them."""

    def __init__(self, app: Any, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            total = sum(len(k) + len(v) + 4 for k, v in scope.get("headers", []))  # "k: v\r\n"
            if total > self.max_bytes:
                return await _send_problem(send, 431, "Request header fields too large",
                                           f"request headers total {total} bytes; the limit is {self.max_bytes}")
        await self.app(scope, receive, send)


class BodyLimit:
    def __init__(self, app: Any, max_bytes: int, per_prefix: dict[str, int] | None = None):
        self.app, self.default = app, max_bytes
        self.per_prefix = per_prefix or {}

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope.get("path", "")
        limit = next((v for k, v in self.per_prefix.items() if path.startswith(k)), self.default)
        for k, v in scope.get("headers", []):
            if k == b"content-length" and v.isdigit() and int(v) > limit:
                return await _send_problem(send, 413, "Payload too large",
                                           f"request body is {int(v)} bytes; the limit is {limit}")
        seen = 0
        started = False

        async def limited() -> Any:
            nonlocal seen
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > limit:
                    raise _TooLarge(limit)
            return msg

        async def tracking_send(msg: Any) -> None:
            nonlocal started
            if msg["type"] == "http.response.start":
                started = True
            await send(msg)

        try:
            await self.app(scope, limited, tracking_send)
        except _TooLarge:
            if not started:
                await _send_problem(send, 413, "Payload too large", f"request body exceeds the limit of {limit} bytes")


class RateLimit:
    """Token bucket per client address, refilled continuously at ``per_minute``/60 per second."""

    EXEMPT = ("/healthz", "/readyz", "/metrics")

    def __init__(self, app: Any, per_minute: int):
        self.app = app
        self.rate = per_minute / 60.0
        self.burst = max(1.0, float(per_minute))
        self.buckets: dict[str, tuple[float, float]] = {}
        self.lock = threading.Lock()

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or self.rate <= 0 or scope.get("path") in self.EXEMPT:
            return await self.app(scope, receive, send)
        client = (scope.get("client") or ("?", 0))[0]
        now = time.monotonic()
        with self.lock:
            tokens, last = self.buckets.get(client, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens < 1.0:
                self.buckets[client] = (tokens, now)
                wait = math.ceil((1.0 - tokens) / self.rate)
            else:
                self.buckets[client] = (tokens - 1.0, now)
                wait = 0
        if wait:
            return await _send_problem(send, 429, "Too many requests", f"rate limit exceeded; retry in {wait} s",
                                       ((b"retry-after", str(wait).encode()),))
        await self.app(scope, receive, send)
