"""Content stores: a real Kubo node over its HTTP API, or an embedded blockstore under the data
directory that produces the same CIDs. Both implement ``ContentStore``."""

from __future__ import annotations

import os

from nftreg.cid import DEFAULT_PROFILE
from nftreg.ipfs.base import ContentStore, write_car
from nftreg.ipfs.embedded import EmbeddedStore
from nftreg.ipfs.kubo import KuboStore

__all__ = ["ContentStore", "EmbeddedStore", "KuboStore", "open_store", "write_car"]


def open_store(*, api: str | None, data_dir: str | os.PathLike[str], profile: str = DEFAULT_PROFILE) -> ContentStore:
    """Kubo at ``api`` when given, else the embedded store under ``data_dir/ipfs``."""
    if api:
        return KuboStore(api, profile=profile)
    return EmbeddedStore(os.path.join(os.fspath(data_dir), "ipfs"), profile=profile)
