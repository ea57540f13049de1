"""cid_of / content_hash without a daemon: input kinds, bad input, bounded memory."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys

import pytest
from nftreg.cid import cid_of, content_hash, content_hash_hex
from nftreg.errors import InvalidInputError

EMPTY_V1 = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
EMPTY_V0 = "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH"


def test_known_cids():
    assert cid_of(b"") == EMPTY_V1
    assert cid_of(b"", profile="unixfs-v0-2015") == EMPTY_V0
    # `echo hello | ipfs add`
    assert cid_of(b"hello\n", profile="unixfs-v0-2015") == "QmZULkCELmmk5XNfCgTnCyFgAVxBRBXyDHGGMVoLFLiXEN"


def test_every_input_kind_gives_the_same_answer(tmp_path):
    data = os.urandom(3 * (1 << 20) + 11)
    p = tmp_path / "f"
    p.write_bytes(data)
    want = cid_of(data)
    for x in (bytearray(data), memoryview(data), p, str(p)):
        assert cid_of(x) == want
        assert content_hash(x) == hashlib.sha256(data).digest()
    assert content_hash_hex(data) == "0x" + hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("bad,match", [
    (5, "expected bytes, a buffer or a file path"),
    (None, "expected bytes"),
    (["a"], "expected bytes"),
])
def test_bad_input_is_named(bad, match):
    with pytest.raises(InvalidInputError, match=match):
        cid_of(bad)
    with pytest.raises(InvalidInputError, match=match):
        content_hash(bad)


def test_missing_path_and_directory(tmp_path):
    with pytest.raises(InvalidInputError, match="missing"):
        cid_of(tmp_path / "missing")
    with pytest.raises(InvalidInputError, match="read failed"):
        cid_of(tmp_path)


def test_unknown_profile():
    with pytest.raises(InvalidInputError, match='unknown profile "v2"'):
        cid_of(b"x", profile="v2")


@pytest.mark.slow
def test_memory_stays_bounded_for_a_large_file(tmp_path):
    # A sparse 512 MiB file reads fast; peak RSS must stay far below its size (32 batches).
    p = tmp_path / "sparse"
    with p.open("wb") as f:
        f.truncate(512 << 20)
    code = (
        "import resource, sys\n"
        "from nftreg.cid import cid_of\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "for prof in ('unixfs-v1-2025', 'unixfs-v0-2015'):\n"
        "    cid_of(sys.argv[1], profile=prof)\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(p)], capture_output=True, text=True, check=True)
    grown_mib = int(out.stdout) / 1024
    assert grown_mib < 64, f"peak RSS grew by {grown_mib:.0f} MiB"
