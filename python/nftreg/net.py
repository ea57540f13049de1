"""Small network helpers shared by the service and the chain layer."""

from __future__ import annotations

import ipaddress

__all__ = ["is_loopback"]


def is_loopback(host: str) -> bool:
    """True when a host name (``localhost``, ``127.0.0.1``, ``[::1]``; no port) names this machine."""
    name = host.strip("[]").lower()
    try:
        return name == "localhost" or ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False
