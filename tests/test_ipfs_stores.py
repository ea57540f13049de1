"""Content stores: the embedded blockstore and a real Kubo node, every call nftreg uses."""

from __future__ import annotations

import io
import json
import os

import pytest
from nftreg.cid import cid_of
from nftreg.errors import ContentIntegrityError, InvalidInputError, IpfsError, IpfsUnavailableError
from nftreg.ipfs import ContentStore, EmbeddedStore, KuboStore, open_store


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
@pytest.mark.parametrize("profile", ["unixfs-v1-2025", "unixfs-v0-2015"])
def test_add_many_gives_kubo_and_the_embedded_store_the_same_cids(kubo, tmp_path, profile):
    """One ``ipfs add`` request of many documents (the batch registration path) against the
    embedded store's grouped import: the same CIDs, in order, all pinned and readable."""
    from nftreg.ipfs.base import add_many

    docs = [json.dumps({"name": f"เอกสาร {i}", "n": i}, ensure_ascii=False).encode() for i in range(25)]
    docs += [docs[3], os.urandom(400_000), b"x"]
    store = KuboStore(kubo.api, profile=profile)
    got = add_many(store, docs)
    emb = EmbeddedStore(tmp_path / "emb", profile=profile)
    assert got == add_many(emb, docs) == [cid_of(d, profile=profile) for d in docs]
    for c, d in zip(got, docs, strict=True):
        assert store.cat(c) == d and store.is_pinned(c)
    assert add_many(store, docs[:1]) == got[:1] and add_many(store, []) == []


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
@pytest.mark.parametrize("profile,size", [
    ("unixfs-v1-2025", 5 * (1 << 20) + 3),
    ("unixfs-v0-2015", 175 * (256 << 10) + 3),  # two levels of dag-pb nodes
    ("unixfs-v1-2025", 0),
])
def test_car_from_embedded_imports_into_kubo(kubo, tmp_path, profile, size):
    emb = EmbeddedStore(tmp_path / "s", profile=profile)
    data = os.urandom(size)
    cid = emb.add_bytes(data)
    car = tmp_path / "x.car"
    with car.open("wb") as f:
        emb.export_car(cid, f)
    out = kubo.cli("dag", "import", "--pin-roots", "--stats", str(car))
    assert cid in out
    store = KuboStore(kubo.api, profile=profile)
    assert store.is_pinned(cid) and store.cat(cid) == data
    store.unpin(cid)


def test_unreachable_daemon_is_a_clear_error():
    store = KuboStore("/ip4/127.0.0.1/tcp/9", timeout=2)
    with pytest.raises(IpfsUnavailableError, match="unreachable"):
        store.add_bytes(b"x")
    with pytest.raises(IpfsUnavailableError):
        store.health()


def test_embedded_re_add_repairs_a_corrupted_block(tmp_path):
    store = EmbeddedStore(tmp_path / "s")
    data = os.urandom(2 * (1 << 20) + 9)
    cid = store.add_bytes(data)
    leaf = next(b for b in (tmp_path / "s" / "blocks").rglob("*.data") if b.stat().st_size == 1 << 20)
    leaf.write_bytes(b"\0" * (1 << 20))
    with pytest.raises(ContentIntegrityError):
        store.cat(cid)
    assert store.add_bytes(data) == cid and store.cat(cid) == data
    assert not list((tmp_path / "s" / "blocks").rglob("*.tmp*"))


def test_embedded_concurrent_adds_of_the_same_content(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    store = EmbeddedStore(tmp_path / "s")
    data = os.urandom(3 * (1 << 20))
    with ThreadPoolExecutor(4) as pool:
        cids = set(pool.map(lambda _: store.add_bytes(data), range(8)))
    assert cids == {cid_of(data)} and store.cat(cids.pop()) == data


def test_embedded_bad_input_and_missing_content(tmp_path):
    store = EmbeddedStore(tmp_path / "s")
    with pytest.raises(InvalidInputError, match="not a readable file"):
        store.add_file(tmp_path / "missing")
    with pytest.raises(InvalidInputError, match="not a valid CID"):
        store.cat("not-a-cid")
    absent = cid_of(b"never added")
    assert not store.has(absent)
    with pytest.raises(IpfsError, match="not in the local store"):
        store.cat(absent)
    with pytest.raises(IpfsError, match="cannot pin"):
        store.pin(absent)
    assert not store.is_pinned(absent)
    assert isinstance(store, ContentStore)


def test_embedded_iter_chunks_streams_leaf_by_leaf(tmp_path):
    store = EmbeddedStore(tmp_path / "s", profile="unixfs-v0-2015")
    data = os.urandom(175 * (256 << 10) + 3)  # two levels: more leaves than one node's links
    cid = store.add_bytes(data)
    chunks = list(store.iter_chunks(cid))
    assert len(chunks) == 176 and max(map(len, chunks)) == 256 << 10 and b"".join(chunks) == data


def test_embedded_health_when_the_store_is_gone(tmp_path):
    import shutil

    store = EmbeddedStore(tmp_path / "s")
    shutil.rmtree(tmp_path / "s")
    with pytest.raises(IpfsUnavailableError, match="missing or not writable"):
        store.health()


def test_car_layout(tmp_path):
    # CARv1: varint-framed DAG-CBOR header {roots:[root], version:1}, then cid+block sections
    store = EmbeddedStore(tmp_path / "s")
    data = os.urandom(2 * (1 << 20) + 1)
    cid = store.add_bytes(data)
    buf = io.BytesIO()
    store.export_car(cid, buf)
    car = buf.getvalue()
    hlen = car[0]
    header = car[1:1 + hlen]
    assert header.startswith(b"\xa2\x65roots\x81\xd8\x2a") and header.endswith(b"\x67version\x01")
    from nftreg import _core

    assert _core.cid.cid_info(cid)[2] in header
    assert car.count(data[:4096]) == 1 and len(car) > len(data)


@pytest.mark.kubo
def test_stopped_daemon_is_unavailable_and_nothing_is_pinned(kubo):
    store = KuboStore(kubo.api, timeout=5)
    data = os.urandom(100_000)
    kubo.stop()
    try:
        with pytest.raises(IpfsUnavailableError, match="unreachable during add"):
            store.add_bytes(data)
        with pytest.raises(IpfsUnavailableError):
            store.health()
        with pytest.raises(IpfsUnavailableError):
            store.is_pinned(cid_of(data))
    finally:
        kubo.start()
    store = KuboStore(kubo.api)
    assert not store.is_pinned(cid_of(data)) and not store.has(cid_of(data))


@pytest.mark.kubo
def test_daemon_errors_are_ipfs_errors(kubo):
    store = KuboStore(kubo.api)
    absent = cid_of(b"nobody added this")
    with pytest.raises(IpfsError) as e:
        store.cat(absent)
    assert not isinstance(e.value, IpfsUnavailableError)
    with pytest.raises(IpfsError):
        store.pin(absent)
    assert not store.is_pinned(absent)
    assert isinstance(open_store(api=kubo.api, data_dir="unused"), KuboStore)
    assert isinstance(store, ContentStore) and store.health()["version"].startswith("0.41")


def test_failing_gateway_in_front_of_the_daemon_is_unavailable():
    # A reverse proxy whose Kubo is down answers 502 without Kubo's JSON error body.
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class BadGateway(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(502)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(b"<html>502 Bad Gateway</html>")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), BadGateway)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        store = KuboStore(f"http://127.0.0.1:{server.server_address[1]}", timeout=5)
        with pytest.raises(IpfsUnavailableError, match="failing during version"):
            store.health()
        with pytest.raises(IpfsUnavailableError, match="failing during pin add"):
            store.pin(cid_of(b"x"))
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("api", ["localhost:5001", "tcp://1.2.3.4", ""])
def test_bad_api_address(api):
    with pytest.raises(InvalidInputError, match="multiaddr"):
        KuboStore(api)


def test_embedded_gc_keeps_pinned_dags_only(tmp_path):
    store = EmbeddedStore(tmp_path / "s", profile="unixfs-v0-2015")
    keep = os.urandom(3 * (256 << 10) + 5)
    drop = os.urandom(2 * (256 << 10) + 1)
    kept, dropped = store.add_bytes(keep), store.add_bytes(drop, pin=False)
    assert store.pinned() == [kept]
    assert store.gc() == 4  # three leaves and the root of the unpinned file
    assert store.cat(kept) == keep and not store.has(dropped)
    store.unpin(kept)
    assert store.gc() == 5 and not store.has(kept)
