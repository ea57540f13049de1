"""Service-level errors; each maps onto one HTTP problem-details status in nftreg.api."""

from __future__ import annotations

from typing import Any

from nftreg.errors import NftregError


class ServiceError(NftregError):
    status = 400
    title = "Bad request"

    def __init__(self, detail: str, **extra: Any):
        super().__init__(detail)
        self.detail = detail
        self.extra = extra

    def problem(self) -> dict[str, Any]:
        """The RFC 9457 problem-details body of this error."""
        return {"type": "about:blank", "title": self.title, "status": self.status, "detail": self.detail, **self.extra}


class NotFound(ServiceError):
    status, title = 404, "Not found"


class Conflict(ServiceError):
    status, title = 409, "Conflict"


class Unauthorized(ServiceError):
    status, title = 401, "Unauthorized"


class Forbidden(ServiceError):
    status, title = 403, "Forbidden"


class Unprocessable(ServiceError):
    status, title = 422, "Unprocessable request"


class TooLarge(ServiceError):
    status, title = 413, "Payload too large"


class Unavailable(ServiceError):
    status, title = 503, "Dependency unavailable"
