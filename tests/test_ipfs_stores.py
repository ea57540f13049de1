"""Content stores: the embedded blockstore and a real Kubo node, and metadata CIDs."""

from __future__ import annotations

import io
import json
import os
import unicodedata
from pathlib import Path

import pytest

from nftreg.cid import cid_of
from nftreg.errors import ContentIntegrityError, InvalidInputError, IpfsUnavailableError
from nftreg.ipfs import EmbeddedStore, KuboStore, open_store
from nftreg.metadata import build_metadata, canonical_json

THAI = json.loads((Path(__file__).parent / "data" / "thai_titles.json").read_text("utf-8"))["titles"]


@pytest.mark.parametrize("profile", ["unixfs-v1-2025", "unixfs-v0-2015"])
def test_embedded_round_trip_and_cids(tmp_path, profile):
    store = EmbeddedStore(tmp_path / "s", profile=profile)
    for size in (0, 1, 1000, (1 << 20) + 5, 3 * (256 << 10) + 1):
        data = os.urandom(size)
        cid = store.add_bytes(data)
        assert cid == cid_of(data, profile=profile)
        assert store.cat(cid) == data and store.is_pinned(cid) and store.has(cid)
    f = tmp_path / "file"
    f.write_bytes(os.urandom(5_000_000))
    cid = store.add_file(f, pin=False)
    assert store.cat(cid) == f.read_bytes() and not store.is_pinned(cid)
    store.pin(cid)
    assert store.is_pinned(cid)
    store.unpin(cid)
    assert not store.is_pinned(cid)


def test_embedded_corrupted_block_is_never_served(tmp_path):
    store = EmbeddedStore(tmp_path / "s")
    data = os.urandom(3 * (1 << 20))
    cid = store.add_bytes(data)
    blocks = sorted((tmp_path / "s" / "blocks").rglob("*.data"))
    leaf = next(b for b in blocks if b.stat().st_size == 1 << 20)
    raw = bytearray(leaf.read_bytes())
    raw[100] ^= 1
    leaf.write_bytes(bytes(raw))
    with pytest.raises(ContentIntegrityError, match="corrupted"):
        store.cat(cid)


def test_open_store_picks_embedded_without_api(tmp_path):
    store = open_store(api=None, data_dir=tmp_path)
    assert isinstance(store, EmbeddedStore) and store.health()["kind"] == "embedded"
    with pytest.raises(InvalidInputError):
        EmbeddedStore(tmp_path, profile="nope")


@pytest.mark.kubo
@pytest.mark.parametrize("profile", ["unixfs-v1-2025", "unixfs-v0-2015"])
def test_kubo_store_every_call(kubo, tmp_path, profile):
    store = KuboStore(kubo.api, profile=profile)
    assert store.version().startswith("0.41")
    data = os.urandom(2 * (1 << 20) + 7)
    cid = store.add_bytes(data)
    assert cid == cid_of(data, profile=profile)  # explicit options win over the daemon's config
    assert store.cat(cid) == data and store.is_pinned(cid) and store.has(cid)
    assert store.block_stat(cid)["Key"]
    f = tmp_path / "f"
    f.write_bytes(os.urandom(300_000))
    assert store.add_file(f) == cid_of(f, profile=profile)
    store.unpin(cid)
    assert not store.is_pinned(cid)
    store.pin(cid)
    assert store.is_pinned(cid)


@pytest.mark.kubo
def test_kubo_daemon_config_cannot_change_our_cids(kubo, tmp_path):
    kubo.cli("config", "--json", "Import.CidVersion", "0")
    kubo.cli("config", "Import.UnixFSChunker", "size-4096")
    try:
        kubo.restart()
        store = KuboStore(kubo.api)
        data = os.urandom(3 * (1 << 20))
        assert store.add_bytes(data) == cid_of(data)
    finally:
        kubo.cli("config", "--json", "Import.CidVersion", "null", check=False)
        kubo.cli("config", "Import.UnixFSChunker", "size-262144", check=False)
        kubo.restart()


@pytest.mark.kubo
def test_pins_survive_restart_and_gc(kubo):
    store = KuboStore(kubo.api)
    pinned = store.add_bytes(os.urandom(1_500_000))
    loose = store.add_bytes(os.urandom(10_000), pin=False)
    kubo.restart(kill=True)
    kubo.cli("repo", "gc")
    store = KuboStore(kubo.api)
    assert store.is_pinned(pinned) and len(store.cat(pinned)) == 1_500_000
    assert not store.has(loose)


@pytest.mark.kubo
def test_car_from_embedded_imports_into_kubo(kubo, tmp_path):
    emb = EmbeddedStore(tmp_path / "s")
    data = os.urandom(5 * (1 << 20) + 3)
    cid = emb.add_bytes(data)
    car = tmp_path / "x.car"
    with car.open("wb") as f:
        emb.export_car(cid, f)
    out = kubo.cli("dag", "import", "--pin-roots", "--stats", str(car))
    assert cid in out
    store = KuboStore(kubo.api)
    assert store.is_pinned(cid) and store.cat(cid) == data


def test_unreachable_daemon_is_a_clear_error():
    store = KuboStore("/ip4/127.0.0.1/tcp/9", timeout=2)
    with pytest.raises(IpfsUnavailableError, match="unreachable"):
        store.add_bytes(b"x")
    with pytest.raises(IpfsUnavailableError):
        store.health()


def test_metadata_canonical_and_nfc():
    title = "ภูเก็ตเมืองอัจฉริยะ"
    a = build_metadata(name=title, description="e\u0301 🎨", image="ipfs://bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku",
                       attributes={"เมือง": "ภูเก็ต", "year": 2021})
    b = build_metadata(name=unicodedata.normalize("NFD", title), description="\u00e9 🎨",
                       image="ipfs://bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku",
                       attributes=[{"trait_type": "เมือง", "value": "ภูเก็ต"}, {"trait_type": "year", "value": 2021}])
    assert canonical_json(a) == canonical_json(b)
    assert cid_of(canonical_json(a)) == cid_of(canonical_json(b))
    text = canonical_json(a).decode("utf-8")
    assert title in text and "\\u" not in text and json.loads(text)["name"] == title
    for t in THAI:
        assert json.loads(canonical_json(build_metadata(name=t)))["name"] == unicodedata.normalize("NFC", t)


@pytest.mark.parametrize("kwargs,match", [
    ({"name": ""}, "name"),
    ({"name": "x", "image": "http://x"}, "image"),
    ({"name": "x", "image": "ipfs://a b"}, "image"),
    ({"name": "x", "attributes": [{"trait_type": "a"}]}, r"attributes\[0\]"),
    ({"name": "x", "attributes": [{"value": True}]}, r"attributes\[0\].value"),
    ({"name": "x", "extra": {"name": "y"}}, "overwrite"),
    ({"name": "x", "extra": {"f": float("nan")}}, "NaN"),
    ({"name": "x", "extra": {"s": "\ud800"}}, "surrogate"),
])
def test_metadata_validation(kwargs, match):
    with pytest.raises(InvalidInputError, match=match):
        build_metadata(**kwargs)
