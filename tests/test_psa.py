"""The Pinning Service API both ways, against tools we did not write: a real Kubo adds nftreg
as a remote pinning service and pins, lists and removes through it (`ipfs pin remote`);
nftreg's RemotePinStore pins into a second `nftreg serve` process over the same API. The
spec's filters (cid, name, match, status, before/after, limit, meta) and its errors."""

from __future__ import annotations

import logging
import os
import secrets
import uuid

import httpx
import pytest
from api_server import LiveServer, serve_process
from nftreg.cid import cid_of
from nftreg.errors import IpfsError
from nftreg.ipfs.kubo import KuboStore
from nftreg.ipfs.remote import PinningService, RemotePinStore
from nftreg.settings import Settings

pytestmark = pytest.mark.kubo

ADMIN = "test-admin-key-0123456789-psa"


@pytest.fixture(scope="module")
def psa_server(kubo, tmp_path_factory):
    """nftreg on loopback with the session's real Kubo as its content store."""
    data = tmp_path_factory.mktemp("psa")
    settings = Settings(data_dir=data, rpc_url="tester://", env="test", admin_api_key=ADMIN, ipfs_api=kubo.api,
                        reconcile_interval_s=0)
    with LiveServer(settings) as srv:
        yield srv


def _psa(srv, token: str | None = ADMIN) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=srv.url + "/psa", headers=headers, timeout=60)


def _add_to_kubo(kubo, tmp_path, text: str) -> str:
    f = tmp_path / f"{uuid.uuid4().hex}.txt"
    f.write_text(text, encoding="utf-8")
    return kubo.cli("add", "-Q", "--pin=false", "--cid-version=1", str(f)).strip()


def test_kubo_pins_lists_and_removes_through_nftreg(kubo, psa_server, tmp_path):
    cid = _add_to_kubo(kubo, tmp_path, "ภาพวาด สีน้ำ " + secrets.token_hex(8))
    assert cid not in kubo.cli("pin", "ls", "--type=recursive", "-q")
    service = f"nftreg-{uuid.uuid4().hex[:8]}"
    kubo.cli("pin", "remote", "service", "add", service, psa_server.url + "/psa", ADMIN)
    try:
        out = kubo.cli("pin", "remote", "add", f"--service={service}", "--name=งานศิลป์-1", cid, timeout=120)
        assert cid in out and "pinned" in out.lower()
        # nftreg pinned it in its store (this Kubo), and says so over its own API
        assert cid in kubo.cli("pin", "ls", "--type=recursive", "-q")
        listed = kubo.cli("pin", "remote", "ls", f"--service={service}", f"--cid={cid}", "--status=pinned")
        assert cid in listed and "งานศิลป์-1" in listed
        by_name = kubo.cli("pin", "remote", "ls", f"--service={service}", "--name=งานศิลป์-1")
        assert cid in by_name
        with _psa(psa_server) as c:
            res = c.get("/pins", params={"cid": cid}).json()
            assert res["count"] == 1 and res["results"][0]["pin"]["name"] == "งานศิลป์-1"
        stat = kubo.cli("pin", "remote", "service", "ls", "--stat")
        assert service in stat
        kubo.cli("pin", "remote", "rm", f"--service={service}", f"--cid={cid}", "--force")
        assert cid not in kubo.cli("pin", "remote", "ls", f"--service={service}", f"--cid={cid}",
                                   "--status=queued,pinning,pinned,failed")
        assert cid not in kubo.cli("pin", "ls", "--type=recursive", "-q")  # nftreg released its pin
    finally:
        kubo.cli("pin", "remote", "service", "rm", service, check=False)


def test_filters_pagination_and_errors(kubo, psa_server, tmp_path):
    token = ADMIN
    with _psa(psa_server, token) as c:
        cids = [_add_to_kubo(kubo, tmp_path, f"filter item {i} {secrets.token_hex(4)}") for i in range(4)]
        names = ["Sunset.PNG", "sunset-2.png", "Moon", "ทะเล"]
        made = []
        for i, (cid, name) in enumerate(zip(cids, names)):
            r = c.post("/pins", json={"cid": cid, "name": name, "meta": {"set": "a" if i % 2 else "b"},
                                      "origins": ["/ip4/127.0.0.1/tcp/4001"]})
            assert r.status_code == 202, r.text
            st = r.json()
            assert st["status"] == "pinned" and st["delegates"] and st["pin"]["cid"] == cid
            made.append(st)
        absent = cid_of(os.urandom(64))  # content no store holds: the request waits
        q = c.post("/pins", json={"cid": absent, "name": "later"}).json()
        assert q["status"] == "queued" and "waiting" in q["info"]["status_details"]

        def ls(**params) -> dict:
            r = c.get("/pins", params=params)
            assert r.status_code == 200, r.text
            return r.json()

        mine = {m["requestid"] for m in made}
        # no status filter: pinned only, newest first
        everything = ls(limit=1000)
        assert absent not in {x["pin"]["cid"] for x in everything["results"]}
        ours = [x for x in everything["results"] if x["requestid"] in mine]
        assert [x["pin"]["cid"] for x in ours] == cids[::-1]
        assert ls(status="queued", cid=absent)["results"][0]["requestid"] == q["requestid"]
        assert ls(status="queued,pinned", cid=f"{cids[0]},{absent}")["count"] == 2
        assert ls(cid=[cids[0], cids[1]])["count"] == 2  # ?cid=a&cid=b as well as ?cid=a,b
        assert {x["pin"]["name"] for x in ls(name="sunset", match="ipartial")["results"]} >= {"Sunset.PNG", "sunset-2.png"}
        assert [x["pin"]["name"] for x in ls(name="Sunset.PNG")["results"]] == ["Sunset.PNG"]
        assert ls(name="sunset.png", match="exact")["count"] == 0
        assert ls(name="sunset.png", match="iexact")["count"] >= 1
        assert ls(name="unset", match="partial", cid=cids[:2])["count"] == 2
        assert ls(name="ทะเล")["results"][0]["pin"]["cid"] == cids[3]
        assert ls(meta='{"set": "a"}', cid=cids)["count"] == 2
        # pagination with `before` = created of the oldest item seen; `after` the other way
        page1 = ls(limit=2, cid=cids)
        assert page1["count"] == 4 and len(page1["results"]) == 2
        page2 = ls(limit=2, cid=cids, before=page1["results"][-1]["created"])
        assert [x["pin"]["cid"] for x in page1["results"] + page2["results"]] == cids[::-1]
        assert ls(cid=cids, after=made[1]["created"])["count"] == 2
        # replace, get, delete
        rep = c.post(f"/pins/{made[2]['requestid']}", json={"cid": cids[2], "name": "Moon v2"})
        assert rep.status_code == 202 and rep.json()["requestid"] != made[2]["requestid"]
        assert c.get(f"/pins/{made[2]['requestid']}").status_code == 404
        assert c.get(f"/pins/{rep.json()['requestid']}").json()["pin"]["name"] == "Moon v2"
        assert c.delete(f"/pins/{rep.json()['requestid']}").status_code == 202
        assert c.delete(f"/pins/{rep.json()['requestid']}").json()["error"]["reason"] == "NOT_FOUND"

        def err(r: httpx.Response, status: int, reason: str) -> str:
            assert r.status_code == status, r.text
            assert r.json()["error"]["reason"] == reason
            return r.json()["error"]["details"]

        assert "not a valid CID" in err(c.post("/pins", json={"cid": "bafy-nope"}), 400, "BAD_REQUEST")
        assert "cid" in err(c.post("/pins", json={"name": "x"}), 400, "BAD_REQUEST")
        assert "unknown Pin field" in err(c.post("/pins", json={"cid": cids[0], "colour": "red"}), 400, "BAD_REQUEST")
        assert "255" in err(c.post("/pins", json={"cid": cids[0], "name": "x" * 256}), 400, "BAD_REQUEST")
        assert "origins" in err(c.post("/pins", json={"cid": cids[0], "origins": ["a"] * 2}), 400, "BAD_REQUEST")
        assert "not JSON" in err(c.post("/pins", content=b"{nope"), 400, "BAD_REQUEST")
        assert "limit" in err(c.get("/pins", params={"limit": 0}), 400, "BAD_REQUEST")
        assert "limit" in err(c.get("/pins", params={"limit": 1001}), 400, "BAD_REQUEST")
        assert "limit" in err(c.get("/pins", params={"limit": "ten"}), 400, "BAD_REQUEST")
        assert "status" in err(c.get("/pins", params={"status": "done"}), 400, "BAD_REQUEST")
        assert "match" in err(c.get("/pins", params={"name": "x", "match": "fuzzy"}), 400, "BAD_REQUEST")
        assert "before" in err(c.get("/pins", params={"before": "yesterday"}), 400, "BAD_REQUEST")
        assert "time zone" in err(c.get("/pins", params={"after": "2026-01-01T00:00:00"}), 400, "BAD_REQUEST")
        assert "meta" in err(c.get("/pins", params={"meta": "[1]"}), 400, "BAD_REQUEST")
        assert "1 to 10" in err(c.get("/pins", params={"cid": ",".join([cids[0]] * 11)}), 400, "BAD_REQUEST")
        assert "unknown query" in err(c.get("/pins", params={"sort": "asc"}), 400, "BAD_REQUEST")
        assert err(c.get("/pins/nope"), 404, "NOT_FOUND")
    for bad in (None, "wrong-key"):
        with _psa(psa_server, bad) as c:
            err(c.get("/pins"), 401, "UNAUTHORIZED")
            err(c.post("/pins", json={"cid": cids[0]}), 401, "UNAUTHORIZED")
    # pins belong to the token that made them
    other = psa_server.app.state.auth.create_api_key("other", "minter")
    with _psa(psa_server, other) as c:
        assert c.get("/pins", params={"cid": cids[0]}).json()["count"] == 0
        assert c.get(f"/pins/{made[0]['requestid']}").status_code == 404


class _FlakyFirst(httpx.HTTPTransport):
    """A real HTTP transport that answers the first ``n`` requests itself with 503 / 429, as an
    overloaded service would (the requests after it go to the real server)."""

    def __init__(self, n: int):
        super().__init__()
        self.left = n
        self.seen = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.seen += 1
        if self.left > 0:
            self.left -= 1
            return httpx.Response(503 if self.left % 2 else 429, headers={"Retry-After": "0"},
                                  json={"error": {"reason": "BUSY"}})
        return super().handle_request(request)


def test_remote_pin_store_pins_into_a_second_nftreg_serve(kubo, tmp_path, caplog):
    key = "psa-b-admin-key-" + secrets.token_hex(12)
    env = {"NFTREG_ENV": "test", "NFTREG_ADMIN_API_KEY": key, "NFTREG_RECONCILE_INTERVAL_S": "0"}
    with serve_process(tmp_path / "b", env=env, args=["--rpc-url", "tester://", "--ipfs-api", kubo.api]) as (url, _):
        flaky = _FlakyFirst(3)
        svc = PinningService(url + "/psa", key, name="nftreg-b", transport=flaky, backoff_s=0.01)
        assert key not in repr(svc)
        store = RemotePinStore(KuboStore(kubo.api), [svc])
        caplog.set_level(logging.DEBUG)
        data = ("ผลงาน " + secrets.token_hex(16)).encode()
        cid = store.add_bytes(data)
        assert flaky.seen > 3  # three refusals were retried
        assert key not in caplog.text
        assert store.where_pinned(cid) == {"local": True, "nftreg-b": "pinned"}
        with httpx.Client(headers={"Authorization": f"Bearer {key}"}) as c:
            res = c.get(url + "/psa/pins", params={"cid": cid}).json()
        assert res["count"] == 1 and res["results"][0]["status"] == "pinned"
        assert store.health()["pinning_services"]["nftreg-b"]["ok"]
        store.unpin(cid)
        assert store.where_pinned(cid) == {"local": False, "nftreg-b": None}
        bad = RemotePinStore(KuboStore(kubo.api), [PinningService(url + "/psa", "wrong-token", name="b2", retries=0)])
        with pytest.raises(IpfsError, match="UNAUTHORIZED"):
            bad.add_bytes(b"refused")
        store.close()


def test_pinning_store_url(kubo, psa_server, monkeypatch):
    """open_store("pinning+http://…?local=kubo+http://…"): the token comes from the environment."""
    from nftreg.errors import ConfigError
    from nftreg.ipfs import open_store

    host, port = kubo.api.split("/")[2], kubo.api.split("/")[4]
    url = f"pinning+http://{psa_server.url.removeprefix('http://')}/psa?local=kubo+http://{host}:{port}&name=mine"
    monkeypatch.delenv("NFTREG_PINNING_TOKEN", raising=False)
    with pytest.raises(ConfigError, match="NFTREG_PINNING_TOKEN is not set"):
        open_store(url)
    with pytest.raises(ConfigError, match="not the URL"):
        open_store(f"pinning+https://user:{ADMIN}@pins.example/psa?local=embedded:///tmp/x")
    with pytest.raises(ConfigError, match="loopback only"):
        open_store("pinning+http://pins.example/psa?local=embedded:///tmp/x")
    monkeypatch.setenv("NFTREG_PINNING_TOKEN", ADMIN)
    store = open_store(url)
    assert isinstance(store, RemotePinStore) and ADMIN not in repr(store)
    cid = store.add_bytes(os.urandom(100))
    assert store.where_pinned(cid) == {"local": True, "mine": "pinned"}
    store.close()


def test_asset_pins_show_where_an_asset_is_pinned(kubo, psa_server, tmp_path):
    """A service whose store is a RemotePinStore (pinning into psa_server) mints an asset; its
    /v1/assets/{id}/pins says where the asset and its metadata are pinned."""
    import threading
    import time

    import uvicorn
    from api_server import free_port
    from nftreg.api import create_app
    from nftreg.services import RegistryService

    key = "pins-admin-key-" + secrets.token_hex(8)
    settings = Settings(data_dir=tmp_path, rpc_url="tester://", env="test", admin_api_key=key, ipfs_api=kubo.api,
                        reconcile_interval_s=0)
    store = RemotePinStore(KuboStore(kubo.api), [PinningService(psa_server.url + "/psa", ADMIN, name="psa")])
    svc = RegistryService(settings, store=store)
    app = create_app(settings, service=svc)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    t = threading.Thread(target=server.run, daemon=True)
    t.start()
    try:
        while not server.started:
            assert t.is_alive()
            time.sleep(0.05)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120) as c:
            owner = "0x" + secrets.token_hex(20)
            r = c.post("/v1/assets", data={"metadata": '{"name": "ภาพ"}', "owner": owner},
                       files={"file": ("a.bin", os.urandom(256), "application/octet-stream")},
                       headers={"X-API-Key": key})
            assert r.status_code == 201, r.text
            asset = r.json()
            pins = c.get(f"/v1/assets/{asset['token_id']}/pins").json()["pins"]
        assert pins == {asset["asset_cid"]: {"local": True, "psa": "pinned"},
                        asset["metadata_cid"]: {"local": True, "psa": "pinned"}}
    finally:
        server.should_exit = True
        t.join(timeout=60)
        svc.close()
