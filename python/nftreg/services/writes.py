"""What the outbox and the modules that subscribe to its writes share: finality rules, the
record of a landed write, the hooks, and the crash and error helpers."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from nftreg.db.models import utcnow
from nftreg.errors import ChainError
from nftreg.services.auth import aware

__all__ = ["Finality", "Landed", "SimulatedCrash", "Waiter", "WriteHooks", "copy_error", "failpoint"]


def failpoint(env: str, point: str) -> None:
    """Fault injection, honoured only with NFTREG_ENV=test: when NFTREG_TEST_CRASH_AT names this
    point (e.g. ``mint:after_sign``) the process dies here as under ``kill -9`` (or raises
    SimulatedCrash with NFTREG_TEST_CRASH_MODE=raise)."""
    if env != "test" or os.environ.get("NFTREG_TEST_CRASH_AT") != point:
        return
    if os.environ.get("NFTREG_TEST_CRASH_MODE") == "raise":
        raise SimulatedCrash(point)
    os._exit(137)


class SimulatedCrash(BaseException):
    """Test hook (NFTREG_TEST_CRASH_AT with NFTREG_TEST_CRASH_MODE=raise): the process 'dies'
    at the named point without unwinding through the service's error handling."""


@dataclass(frozen=True)
class Finality:
    """When a write counts as final: this many blocks deep (its own block is 1) and this old."""

    depth: int
    age_s: float

    def reached(self, block: int, mined_at: Any, head: int) -> bool:
        return (head - block + 1 >= self.depth
                and (utcnow() - aware(mined_at)).total_seconds() >= self.age_s)

    def by_depth(self, block: int, head: int) -> bool:
        """For what the chain alone tells (events carry no time of their own)."""
        return head - block + 1 >= self.depth


@dataclass(frozen=True)
class Landed:
    outbox_id: int
    kind: str
    intent: dict[str, Any]
    tx_hash: str
    block_number: int
    block_hash: str
    final: bool
    receipt: dict[str, Any]


@dataclass
class WriteHooks:
    on_landed: Callable[[Session, Landed], None] | None = None
    on_dropped: Callable[[Session, int], None] | None = None
    on_failed: Callable[[Session, int], None] | None = None


@dataclass
class Waiter:
    """The requests waiting for one write's receipt (the first reads it for all)."""

    done: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None


def copy_error(e: BaseException) -> BaseException:
    """The same error for another thread to raise (one exception object raised in several
    threads would share, and garble, one traceback)."""
    import copy

    try:
        c = copy.copy(e)
        c.__traceback__ = None
        return c
    except Exception:  # noqa: BLE001 - an uncopyable error still reaches the caller
        return ChainError(str(e))
