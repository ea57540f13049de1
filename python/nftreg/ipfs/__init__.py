"""Content stores: a real Kubo node over its HTTP API, or an embedded blockstore under the data
directory that produces the same CIDs. Both implement ``ContentStore`` (the ``BlockStore`` and
``Pinner`` roles); ``open_store(url)`` picks one from a URL.

Store URLs:

- ``embedded://PATH``: the embedded store under PATH (``embedded:///abs/path`` or
  ``embedded://relative/path``);
- ``kubo+http://HOST:PORT`` (or ``kubo+https://``): a Kubo daemon's RPC API;
- ``pinning+https://HOST/PATH?local=STORE_URL[&token_env=VAR][&name=NAME]``: content kept in
  the ``local`` store and pinned at an IPFS Pinning Service API endpoint (``nftreg.ipfs.remote``;
  ``pinning+http://`` for loopback endpoints only).

Adding a store: one module implementing the roles plus one entry in ``_OPENERS``.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from nftreg.cid import DEFAULT_PROFILE
from nftreg.errors import ConfigError
from nftreg.ipfs.base import BlockStore, ContentStore, Pinner, write_car
from nftreg.ipfs.embedded import EmbeddedStore
from nftreg.ipfs.kubo import KuboStore

__all__ = ["BlockStore", "ContentStore", "EmbeddedStore", "KuboStore", "Pinner", "open_store", "write_car"]


def _embedded(rest: str, profile: str) -> ContentStore:
    if not rest:
        raise ConfigError("embedded:// needs a directory: embedded:///var/lib/nftreg/ipfs")
    return EmbeddedStore(rest, profile=profile)


def _kubo(scheme: str) -> Callable[[str, str], ContentStore]:
    def opener(rest: str, profile: str) -> ContentStore:
        if not rest:
            raise ConfigError(f"kubo+{scheme}:// needs the daemon's host and port: kubo+{scheme}://127.0.0.1:5001")
        return KuboStore(f"{scheme}://{rest}", profile=profile)

    return opener


def _pinning(scheme: str) -> Callable[[str, str], ContentStore]:
    def opener(rest: str, profile: str) -> ContentStore:
        from nftreg.ipfs.remote import open_pinning_store

        return open_pinning_store(f"{scheme}://{rest}", profile)

    return opener


_OPENERS: dict[str, Callable[[str, str], ContentStore]] = {
    "embedded": _embedded,
    "kubo+http": _kubo("http"),
    "kubo+https": _kubo("https"),
    "pinning+https": _pinning("pinning+https"),
    "pinning+http": _pinning("pinning+http"),
}


def open_store(url: str | None = None, *, api: str | None = None, data_dir: str | os.PathLike[str] | None = None,
               profile: str = DEFAULT_PROFILE) -> ContentStore:
    """The content store a URL names (see the module docstring).

    The older keyword form still works: ``open_store(api=..., data_dir=...)`` is Kubo at ``api``
    (a multiaddr, an ``http(s)://`` URL, or a store URL) when given, else the embedded store
    under ``data_dir/ipfs``."""
    if url is None:
        if api:
            url = api if api.split("://", 1)[0] in _OPENERS else None
            if url is None:
                return KuboStore(api, profile=profile)
        elif data_dir is not None:
            return EmbeddedStore(os.path.join(os.fspath(data_dir), "ipfs"), profile=profile)
        else:
            raise ConfigError("open_store needs a store URL (embedded://PATH or kubo+http://HOST:PORT)")
    scheme, sep, rest = url.partition("://")
    opener = _OPENERS.get(scheme) if sep else None
    if opener is None:
        raise ConfigError(f"store URL {url!r}: unknown scheme {scheme!r}; expected one of "
                          + ", ".join(f"{s}://" for s in _OPENERS))
    return opener(rest, profile)
