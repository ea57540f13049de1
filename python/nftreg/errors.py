"""Every exception nftreg raises, in one module.

``InvalidInputError`` (a ``ValueError``) means the caller gave bad input and the message names
what is wrong; ``InvariantError`` (a ``RuntimeError``) means nftreg or the data it was handed
is broken. Service-level errors map onto HTTP problem details in ``nftreg.api``.
"""

from __future__ import annotations

from typing import Any


class NftregError(Exception):
    """Base class of every nftreg error."""


class InvalidInputError(NftregError, ValueError):
    """The caller gave bad input; the message names the index and field where it can."""


class InvariantError(NftregError, RuntimeError):
    """An internal invariant broke (a bug, or tampered data that passed earlier checks)."""


class ConfigError(NftregError, ValueError):
    """A setting is missing or refused (e.g. a default secret outside dev mode)."""


class ChainError(NftregError, RuntimeError):
    """The chain backend failed: RPC unreachable, timeout, dropped transaction."""


class ContractRevert(ChainError):
    """A contract call reverted; ``name`` and ``args`` carry the decoded custom error."""

    def __init__(self, name: str, args: tuple[Any, ...] = (), message: str | None = None):
        self.name = name
        self.args_ = tuple(args)
        super().__init__(message or f"{name}({', '.join(map(repr, args))})")


class IpfsError(NftregError, RuntimeError):
    """The content store failed (daemon error, corrupted block, missing content)."""


class IpfsUnavailableError(IpfsError):
    """The IPFS daemon cannot be reached; nothing was recorded as pinned."""


class DependencyUnavailableError(NftregError, RuntimeError):
    """A part nftreg needs at start-up (chain RPC, Kubo, database, anvil) is missing or cannot
    be reached; the message names what, where and what to do. The CLI exits with code 2."""


class ContentIntegrityError(IpfsError):
    """A block's bytes do not hash to its CID: it is never served."""


__all__ = [
    "ChainError",
    "ConfigError",
    "ContentIntegrityError",
    "ContractRevert",
    "DependencyUnavailableError",
    "InvalidInputError",
    "InvariantError",
    "IpfsError",
    "IpfsUnavailableError",
    "NftregError",
]
