"""The client's exceptions: one per problem-details status the API answers, each carrying the
document's fields (``status``, ``title``, ``detail``, ``type`` and any extension members)."""

from __future__ import annotations

import json
import re
from typing import Any

from nftreg.errors import NftregError

__all__ = [
    "AlreadyRegistered", "ApiError", "Conflict", "Forbidden", "InvalidInput", "NotFound", "PayloadTooLarge",
    "RateLimited", "ServerError", "ServiceUnavailable", "TransportError", "Unauthorized", "error_from_response",
]


class ApiError(NftregError):
    """The server answered with an error (RFC 9457 problem details)."""

    def __init__(self, status: int, problem: dict[str, Any], *, retry_after: float | None = None):
        self.status = status
        self.problem = problem
        self.title: str = str(problem.get("title") or "")
        self.detail: str = str(problem.get("detail") or "")
        self.type: str = str(problem.get("type") or "about:blank")
        self.retry_after = retry_after
        super().__init__(f"{status} {self.title}: {self.detail}" if self.title else f"{status}: {self.detail}")

    def __getattr__(self, name: str) -> Any:
        # extension members (token_id, batch_id, errors, ...) read as attributes
        problem = self.__dict__.get("problem") or {}
        if name in problem:
            return problem[name]
        raise AttributeError(name)


class InvalidInput(ApiError, ValueError):
    """422 / 400: the request was refused as malformed; ``field`` names what is wrong."""

    @property
    def field(self) -> str | None:
        errors = self.problem.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict) and errors[0].get("loc"):
            loc = [str(x) for x in errors[0]["loc"]]
            return ".".join(loc[1:] if loc[0] in ("body", "query", "path", "header") and len(loc) > 1 else loc)
        m = _FIELD.match(self.detail)
        return m.group(1) if m else None


_FIELD = re.compile(r"^([A-Za-z_][\w.\[\]-]*): ")


class Unauthorized(ApiError):
    """401: sign in again, or send a valid API key."""


class Forbidden(ApiError):
    """403: signed in, but not allowed to do this."""


class NotFound(ApiError, LookupError):
    """404."""


class Conflict(ApiError):
    """409."""


class AlreadyRegistered(Conflict):
    """409: this content hash is already registered; ``token_id`` is the existing token."""

    @property
    def token_id(self) -> int | None:
        tid = self.problem.get("token_id")
        return int(tid) if tid is not None else None


class PayloadTooLarge(ApiError):
    """413."""


class RateLimited(ApiError):
    """429: still refused after the client's retries; ``retry_after`` is the server's hint."""


class ServiceUnavailable(ApiError):
    """503: a dependency (chain, IPFS, database) is down; nothing was recorded."""


class ServerError(ApiError):
    """500 or another status the API does not document."""


class TransportError(NftregError, ConnectionError):
    """The server could not be reached (or the connection broke) on every attempt."""


_BY_STATUS: dict[int, type[ApiError]] = {400: InvalidInput, 401: Unauthorized, 403: Forbidden, 404: NotFound,
                                         409: Conflict, 413: PayloadTooLarge, 422: InvalidInput, 429: RateLimited,
                                         503: ServiceUnavailable}


def retry_after_seconds(value: str | None) -> float | None:
    """``Retry-After`` as seconds (the delta-seconds form; an HTTP date counts as unknown)."""
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def error_from_response(status: int, body: bytes, retry_after: str | None = None) -> ApiError:
    try:
        problem = json.loads(body) if body else {}
    except ValueError:
        problem = {}
    if not isinstance(problem, dict):
        problem = {}
    problem.setdefault("status", status)
    problem.setdefault("detail", body[:500].decode("utf-8", "replace") if body else "")
    cls = _BY_STATUS.get(status, ServerError)
    if status == 409 and (problem.get("token_id") is not None or problem.get("registered") is not None):
        cls = AlreadyRegistered  # on-chain (token_id) or off-chain (registered: "offchain")
    return cls(status, problem, retry_after=retry_after_seconds(retry_after))
