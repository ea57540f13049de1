"""A Python client for a running nftreg registry (``nftreg serve``): ``Client`` and
``AsyncClient`` (httpx), typed results from ``nftreg.schemas`` (the server's own models) and
exceptions carrying the problem-details fields (``nftreg.client.errors``)."""

from __future__ import annotations

from nftreg.client._client import AsyncClient, Client, RetryPolicy
from nftreg.client.errors import (
    AlreadyRegistered,
    ApiError,
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    ServerError,
    ServiceUnavailable,
    TransportError,
    Unauthorized,
)

__all__ = [
    "AlreadyRegistered", "ApiError", "AsyncClient", "Client", "Conflict", "Forbidden", "InvalidInput", "NotFound",
    "PayloadTooLarge", "RateLimited", "RetryPolicy", "ServerError", "ServiceUnavailable", "TransportError",
    "Unauthorized",
]
