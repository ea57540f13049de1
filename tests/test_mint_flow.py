"""One mint flow: the same file and fields give the same metadata CID through the REST API,
the CLI and the library; an empty asset is refused everywhere; oversized request headers are
refused with 431. Real parts only: the app under uvicorn, `nftreg mint` as a process, the
in-process EVM and the embedded content store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from api_server import LiveServer
from eth_account import Account
from nftreg.chain import Chain, Registry
from nftreg.cid import cid_of, content_hash
from nftreg.ipfs import EmbeddedStore
from nftreg.metadata import build_metadata
from nftreg.services.errors import Unprocessable
from nftreg.services.minting import describe, mint_file
from nftreg.settings import Settings

ADMIN = "mint-flow-admin-key-0123456789"
NAME, DESCRIPTION = "ภูเก็ตเมืองอัจฉริยะ", "แผนผังเมือง (smart city plan)"
ATTRS = [{"trait_type": "เมือง", "value": "ภูเก็ต"}]


def _settings(tmp: Path, **kw) -> Settings:
    return Settings(data_dir=tmp, rpc_url="tester://", env="test", admin_api_key=ADMIN, reconcile_interval_s=0, **kw)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with LiveServer(_settings(tmp_path_factory.mktemp("api"))) as srv:
        yield srv


@pytest.fixture(scope="module")
def minter(server) -> str:
    r = httpx.post(server.url + "/v1/admin/api-keys", json={"name": "m", "role": "minter"},
                   headers={"X-API-Key": ADMIN}, timeout=60)
    assert r.status_code in (200, 201), r.text
    return r.json()["api_key"]


def _api_mint(server, key: str, data: bytes | None, meta: dict, **form) -> httpx.Response:
    files = {"file": ("a.bin", data, "application/octet-stream")} if data is not None else None
    return httpx.post(server.url + "/v1/assets", headers={"X-API-Key": key}, files=files, timeout=120,
                      data={"metadata": json.dumps(meta, ensure_ascii=False), **form})


@pytest.mark.parametrize("kind", ["png", "text"])
def test_same_file_and_fields_same_metadata_cid_via_api_cli_and_library(server, minter, tmp_path, kind):
    data = (b"\x89PNG\r\n\x1a\n" if kind == "png" else b"plain text asset\n") + os.urandom(5000)
    art = tmp_path / "art.bin"
    art.write_bytes(data)
    owner = Account.create().address
    ch = "0x" + content_hash(data).hex()

    # REST API
    r = _api_mint(server, minter, data, {"name": NAME, "description": DESCRIPTION, "attributes": ATTRS}, owner=owner)
    assert r.status_code == 201, r.text
    via_api = r.json()

    # CLI (its own data dir and in-process chain: a content hash mints once per registry)
    cli_dir = tmp_path / "cli"
    out = subprocess.run([sys.executable, "-m", "nftreg", "mint", str(art), "--name", NAME, "--description", DESCRIPTION,
                          "--attr", "เมือง=ภูเก็ต", "--to", owner, "--data-dir", str(cli_dir), "--rpc-url", "tester://",
                          "--json"], capture_output=True, text=True, timeout=600, check=False)
    assert out.returncode == 0, out.stderr
    via_cli = json.loads(out.stdout)

    # library
    chain = Chain.connect("tester://")
    store = EmbeddedStore(tmp_path / "lib-ipfs")
    fields = build_metadata(name=NAME, description=DESCRIPTION, attributes=ATTRS)
    via_lib = mint_file(Registry.deploy(chain), store, art, fields, owner)

    assert via_api["metadata_cid"] == via_cli["metadata_cid"] == via_lib["metadata_cid"]
    assert via_api["asset_cid"] == via_cli["asset_cid"] == via_lib["asset_cid"] == cid_of(data)
    assert via_api["content_hash"] == via_cli["content_hash"] == via_lib["content_hash"] == ch
    meta = json.loads(store.cat(via_lib["metadata_cid"]))
    assert meta["properties"] == {"content_hash": ch} and meta["name"] == NAME
    assert ("image" in meta) == (kind == "png")  # an image links itself; other media do not
    # and the bytes are the one rule's bytes
    media_type = "image/png" if kind == "png" else None
    assert cid_of(describe(fields, ch, cid_of(data), media_type)) == via_lib["metadata_cid"]


def test_empty_upload_is_refused_and_nothing_is_minted(server, minter, tmp_path):
    svc = server.service
    before = svc.registry.total_minted()
    r = _api_mint(server, minter, b"", {"name": "ว่างเปล่า"}, owner=Account.create().address)
    assert r.status_code == 422, r.text
    assert "empty" in r.json()["detail"] and r.headers["content-type"].startswith("application/problem+json")
    # the same refusal for a private registration of the empty content's hash
    empty = "0x" + content_hash(b"").hex()
    r = _api_mint(server, minter, None, {"name": "ว่างเปล่า"}, owner=Account.create().address, content_hash=empty)
    assert r.status_code == 422 and "zero bytes" in r.json()["detail"], r.text
    assert svc.registry.total_minted() == before
    assert httpx.get(server.url + "/v1/assets", params={"content_hash": empty}, timeout=30).json()["items"] == []
    # the library and the CLI refuse it too
    f = tmp_path / "empty.bin"
    f.write_bytes(b"")
    chain = Chain.connect("tester://")
    with pytest.raises(Unprocessable, match="empty"):
        mint_file(Registry.deploy(chain), EmbeddedStore(tmp_path / "ipfs"), f, {"name": "x"}, chain.address)
    out = subprocess.run([sys.executable, "-m", "nftreg", "mint", str(f), "--name", "x", "--data-dir",
                          str(tmp_path / "cli"), "--rpc-url", "tester://"], capture_output=True, text=True, timeout=600, check=False)
    assert out.returncode == 1 and "empty" in out.stderr and "Traceback" not in out.stderr


def test_request_headers_are_capped_with_431(server):
    limit = server.service.settings.max_header_bytes
    assert limit == 64 * 1024
    big = {"X-Padding": "a" * (limit + 1)}
    r = httpx.get(server.url + "/healthz", headers=big, timeout=30)
    assert r.status_code == 431, r.text
    assert str(limit) in r.json()["detail"]
    r = httpx.get(server.url + "/healthz", headers={f"X-Pad-{i}": "b" * 1000 for i in range(70)}, timeout=30)
    assert r.status_code == 431  # many small headers count together
    huge = {"X-Padding": "c" * (1 << 20)}  # the 1 MiB header of the report
    assert httpx.get(server.url + "/healthz", headers=huge, timeout=30).status_code == 431
    assert httpx.get(server.url + "/healthz", headers={"X-Padding": "d" * 60_000}, timeout=30).status_code == 200
