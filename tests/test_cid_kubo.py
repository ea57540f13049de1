"""nftreg's CIDs against a real Kubo's `ipfs add --only-hash` with the same explicit options,
at every size where the DAG shape changes, in both profiles."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest
from nftreg.cid import KUBO_ADD_OPTIONS, cid_of, content_hash

pytestmark = pytest.mark.kubo

CHUNK = {"unixfs-v1-2025": 1 << 20, "unixfs-v0-2015": 256 << 10}
LINKS = {"unixfs-v1-2025": 1024, "unixfs-v0-2015": 174}


def _write(path: Path, size: int, seed: int) -> Path:
    rng = random.Random(seed)
    block = rng.randbytes(1 << 20)
    with path.open("wb") as f:
        written, i = 0, 0
        while written < size:
            n = min(len(block), size - written)
            # every MiB differs (a counter in front) so leaves are distinct
            f.write((i.to_bytes(8, "big") + block[8:])[:n])
            written += n
            i += 1
    return path


def _sizes(profile: str) -> list[tuple[str, int]]:
    c, l = CHUNK[profile], LINKS[profile]
    return [("0", 0), ("1", 1), ("chunk-1", c - 1), ("chunk", c), ("chunk+1", c + 1),
            ("links*chunk", l * c), ("links*chunk+1", l * c + 1)]


@pytest.mark.parametrize("profile", list(CHUNK))
def test_cids_equal_kubo_at_shape_boundaries(kubo, tmp_path, profile):
    opts = KUBO_ADD_OPTIONS[profile]
    for label, size in _sizes(profile):
        path = _write(tmp_path / f"f-{label}", size, seed=size)
        assert cid_of(path, profile=profile) == kubo.add_only_hash(path, opts), f"{profile} size {label}"
        if size <= 4 << 20:
            assert cid_of(path.read_bytes(), profile=profile) == cid_of(path, profile=profile)
        path.unlink()


@pytest.mark.slow
@pytest.mark.parametrize("profile", list(CHUNK))
def test_random_50mb_file_equals_kubo(kubo, tmp_path, profile):
    path = tmp_path / "big"
    path.write_bytes(os.urandom(50 * 1000 * 1000))
    assert cid_of(path, profile=profile) == kubo.add_only_hash(path, KUBO_ADD_OPTIONS[profile])


def test_default_kubo_add_equals_v0_profile(kubo, tmp_path):
    # Kubo's own defaults (no options) are the unixfs-v0-2015 profile.
    path = _write(tmp_path / "x", 3 * (256 << 10) + 17, seed=3)
    assert cid_of(path, profile="unixfs-v0-2015") == kubo.cli("add", "--only-hash", "-Q", str(path)).strip()


def test_content_hash_is_sha256(tmp_path):
    import hashlib

    data = os.urandom(3_000_000)
    p = tmp_path / "a"
    p.write_bytes(data)
    assert content_hash(p) == content_hash(data) == hashlib.sha256(data).digest()
