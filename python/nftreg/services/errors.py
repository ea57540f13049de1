"""Service-level errors; each maps onto one HTTP problem-details status in nftreg.api."""

from __future__ import annotations

from typing import Any

from nftreg.errors import ChainError, ContractRevert, NftregError


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


def from_chain(e: ChainError, what: str, *, sent: bool, content_hash: str | None = None,
               refused: type[ServiceError] | None = None,
               kept: str = "the signed transaction is kept and will be reconciled") -> ServiceError:
    """What a client hears when the chain fails a write of ``what`` (the one mapping of
    ContractRevert / ChainError for the services that send writes).

    Before the write left (``sent`` False: its dry run or send): the contract's
    ``ContentAlreadyRegistered`` for ``content_hash`` is a Conflict naming the token, any other
    revert is ``refused`` (Unprocessable unless given), a node failure is Unavailable. After it
    left (``sent``: waiting for its receipt): a revert is Unprocessable, a node failure is
    Unavailable and says the write is ``kept``."""
    if isinstance(e, ContractRevert):
        if sent:
            return Unprocessable(f"the registry contract reverted the {what}: {e}")
        if content_hash is not None and e.name == "ContentAlreadyRegistered":
            return Conflict(f"content hash {content_hash} is already registered on-chain as token {e.args_[1]}",
                            token_id=int(e.args_[1]))
        return (refused or Unprocessable)(f"the registry contract refused the {what}: {e}")
    return Unavailable(f"chain: {e}; {kept}" if sent else f"chain: {e}")
