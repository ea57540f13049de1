"""Small network helpers shared by the service and the chain layer."""

from __future__ import annotations

import ipaddress
import re

__all__ = ["error_gist", "is_loopback"]


def is_loopback(host: str) -> bool:
    """True when a host name (``localhost``, ``127.0.0.1``, ``[::1]``; no port) names this machine."""
    name = host.strip("[]").lower()
    try:
        return name == "localhost" or ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def error_gist(e: BaseException, limit: int = 160) -> str:
    """The gist of a client library's connection error for a one-line message: the operating
    system's words where the chain of wrappers carries them ("Connection refused"), else the
    first line, cut at ``limit`` characters."""
    text = str(getattr(e, "reason", None) or getattr(e, "orig", None) or e).strip()
    m = re.search(r"\[Errno -?\d+\] ([^'\")\]]+)", text)
    if m:
        return m.group(1).strip()
    first = text.splitlines()[0] if text else type(e).__name__
    return first if len(first) <= limit else first[: limit - 3] + "..."
