"""The package as users get it: `maturin build --release` makes the wheel (reusing the
release build `scripts/setup.sh` left in target/), `pip install` puts it into a fresh virtual
environment (not editable; the source tree is not on sys.path), and the console script runs
from an empty temporary directory. Package data that did not make it into the wheel (contract
artifacts, migrations, docs assets, the web app) fails here. The sdist is built too, and a wheel
built from it must hold the same files.

Slow (a venv and its dependencies from the package index, a few minutes on two cores) but
part of the suite CI runs."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import httpx
import pytest
from api_server import serve_process

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow
ADMIN = "wheel-smoke-admin-key-0123456789"


def _sh(cmd: list[str], *, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 900,
        check: bool = True) -> subprocess.CompletedProcess[str]:
    out = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    if check and out.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} -> {out.returncode}\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    return out


def _maturin() -> str:
    exe = Path(sys.executable).parent / "maturin"
    return str(exe) if exe.exists() else "maturin"


def _package_files() -> set[str]:
    """Every file git tracks under python/nftreg (as wheel paths), plus the extension."""
    tracked = _sh(["git", "ls-files", "python/nftreg"], cwd=ROOT).stdout.split()
    files = {p.removeprefix("python/") for p in tracked}
    untracked_web = ROOT / "python" / "nftreg" / "web"
    if untracked_web.is_dir():  # the web app's built assets, whether tracked or generated
        files |= {str(p.relative_to(ROOT / "python")) for p in untracked_web.rglob("*") if p.is_file()}
    return {f for f in files if "__pycache__" not in f}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    _sh([_maturin(), "build", "--release", "--out", str(out), "-i", sys.executable], cwd=ROOT,
        env={**os.environ, "VIRTUAL_ENV": str(Path(sys.executable).parents[1])})
    (whl,) = out.glob("nftreg-*.whl")
    return whl


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory) -> Path:
    v = tmp_path_factory.mktemp("venv")
    _sh([sys.executable, "-m", "venv", str(v)])
    _sh([str(v / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", str(wheel)], timeout=1800)
    return v


def _user_env(venv: Path, **extra: str) -> dict[str, str]:
    """A user's shell: the venv's bin first, no NFTREG_* settings, no PYTHONPATH, no anvil on PATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NFTREG_", "PYTHON", "VIRTUAL_ENV"))}
    env["PATH"] = f"{venv / 'bin'}:/usr/bin:/bin"
    return {**env, **extra}


def test_wheel_holds_every_package_file(wheel: Path):
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = sorted(_package_files() - names)
    assert not missing, f"not in the wheel: {missing}"
    assert any(n.startswith("nftreg/_core") and n.endswith(".so") for n in names)
    for must in ("nftreg/contracts/NftRegistry.json", "nftreg/api/static/docs/swagger-ui-bundle.js",
                 "nftreg/api/static/docs/redoc.standalone.js"):
        assert must in names
    assert any(n.startswith("nftreg/migrations/versions/") for n in names)
    meta = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert "Requires-Dist: coincurve" in meta  # fast secp256k1 for eth-account on every install


def test_smoke_from_a_fresh_venv(venv: Path, tmp_path: Path):
    from nftreg.cid import cid_of

    nftreg = str(venv / "bin" / "nftreg")
    work = tmp_path / "cwd"
    work.mkdir()
    env = _user_env(venv)
    # the installed package, not the source tree
    where_code = f"import nftreg, sys; print(nftreg.__file__); print({str(ROOT / 'python')!r} in sys.path)"
    where = _sh([str(venv / "bin" / "python"), "-c", where_code], cwd=work, env=env)
    assert where.stdout.split()[0].startswith(str(venv)) and where.stdout.split()[1] == "False", where.stdout

    v = _sh([nftreg, "--version"], cwd=work, env=env)
    assert v.stdout.startswith("nftreg ") and "contract NftRegistry: solc 0.8.30" in v.stdout, v.stdout

    f = work / "ภาพ.bin"
    f.write_bytes(os.urandom(3 << 20))
    c = json.loads(_sh([nftreg, "cid", f.name, "--json"], cwd=work, env=env).stdout)
    assert c["cid"] == cid_of(f)

    tree_code = ("import nftreg; t = nftreg.StandardMerkleTree.of([['0x1111111111111111111111111111111111111111', "
                 "'5000000000000000000'], ['0x2222222222222222222222222222222222222222', '2500000000000000000']], "
                 "['address', 'uint256']); print(t.root); print(nftreg.StandardMerkleTree.verify(t.root, "
                 "['address', 'uint256'], t.at(0), t.get_proof(0)))")
    root = _sh([str(venv / "bin" / "python"), "-c", tree_code], cwd=work, env=env)
    assert root.stdout.split() == ["0xd4dee0beab2d53f2cc83e567171bd2820e49898130a22622b10ead383e90bd77", "True"]

    # eth-account signs with coincurve, not eth-keys' pure-Python curve
    backend = _sh([str(venv / "bin" / "python"), "-c",
                   "from eth_keys import KeyAPI; print(type(KeyAPI().backend).__name__)"], cwd=work, env=env)
    assert backend.stdout.strip() == "CoinCurveECCBackend", backend.stdout


def test_unreachable_parts_from_a_fresh_venv(venv: Path, tmp_path: Path):
    """A chain RPC, Kubo or PostgreSQL that is not there: one line naming what and the fix, exit 2,
    no traceback, from the installed wheel (which has no PostgreSQL driver: that is an extra)."""
    from api_server import free_port

    env = _user_env(venv)
    nftreg = str(venv / "bin" / "nftreg")
    port = free_port()
    cases = [
        (["--rpc-url", f"http://127.0.0.1:{port}"], ["chain RPC", f"127.0.0.1:{port}", "--rpc-url"]),
        (["--rpc-url", "tester://", "--ipfs-api", f"/ip4/127.0.0.1/tcp/{port}"], ["Kubo API", "NFTREG_IPFS_API"]),
        (["--rpc-url", "tester://", "--database-url", f"postgresql+psycopg://u:pw-secret@127.0.0.1:{port}/db"],
         ["database", f"127.0.0.1:{port}/db", "pip install 'nftreg[postgres]'"]),
    ]
    for i, (args, words) in enumerate(cases):
        out = subprocess.run([nftreg, "serve", "--data-dir", str(tmp_path / f"d{i}"), *args], capture_output=True,
                             text=True, env=env, cwd=tmp_path, timeout=300, check=False)
        lines = out.stderr.strip().splitlines()
        assert out.returncode == 2 and len(lines) == 1 and lines[0].startswith("nftreg: error: "), out.stderr
        assert "Traceback" not in out.stderr and "pw-secret" not in out.stderr
        for w in words:
            assert w in lines[0], (w, lines[0])


def test_demo_from_a_fresh_venv(venv: Path, tmp_path: Path):
    from nftreg.chain.anvil import anvil_binary

    env = _user_env(venv, NFTREG_ANVIL=anvil_binary())  # a user who installed anvil
    out = _sh([str(venv / "bin" / "nftreg"), "demo", "--claims", "2000", "--signatures", "200", "--json"],
              cwd=tmp_path, env=env, timeout=600)
    report = json.loads(out.stdout)
    assert report["steps"][0]["chain"] == "anvil://" and len(report["minted"]) == 3
    assert report["claimed"]["token_id"] == 4 and report["signatures"]["count"] == 200
    assert (tmp_path / ".nftreg" / "demo" / "anvil" / "state.json").exists()


def test_serve_mint_and_docs_from_a_fresh_venv(venv: Path, tmp_path: Path):
    env = _user_env(venv, NFTREG_ADMIN_API_KEY=ADMIN)  # no anvil: the in-process chain, with its warning
    static = venv.glob("lib/python3*/site-packages/nftreg/api/static/docs")
    manifest = {name: digest for digest, name in (line.split() for line in
                (next(static) / "MANIFEST.txt").read_text().splitlines()[2:])}
    work = tmp_path / "cwd"
    work.mkdir()
    with serve_process(tmp_path / "data", cmd=[str(venv / "bin" / "nftreg"), "serve"], env=env, cwd=work,
                       inherit_env=False) as (url, _proc), \
            httpx.Client(base_url=url, timeout=60) as c:
        data = os.urandom(4096)
        r = c.post("/v1/assets", headers={"X-API-Key": ADMIN},
                   data={"metadata": json.dumps({"name": "ขอนแก่น"}, ensure_ascii=False),
                         "owner": "0x" + "11" * 20},
                   files={"file": ("a.bin", data, "application/octet-stream")})
        assert r.status_code == 201, r.text
        token = r.json()
        assert token["content_hash"] == "0x" + hashlib.sha256(data).hexdigest()
        assert c.get(f"/v1/assets/{token['token_id']}").status_code == 200
        for page, asset in (("/docs", "swagger-ui-bundle.js"), ("/redoc", "redoc.standalone.js")):
            html = c.get(page)
            assert html.status_code == 200 and f"/docs/assets/{asset}" in html.text
            body = c.get(f"/docs/assets/{asset}")
            assert body.status_code == 200 and hashlib.sha256(body.content).hexdigest() == manifest[asset]
        # the web app: its first page, and every file of it byte for byte from the installed package
        home = c.get("/")
        assert home.status_code == 200 and home.headers["content-type"].startswith("text/html")
        static = ROOT / "python" / "nftreg" / "web" / "static"
        assert home.content == (static / "index.html").read_bytes()
        referenced = set(re.findall(r'(?:src|href)="(/web/[^"]+)"', home.text))
        assert {"/web/js/app.js", "/web/app.css"} <= referenced
        shipped = {"/web/" + f.relative_to(static).as_posix(): f for f in static.rglob("*")
                   if f.is_file() and f.name != "index.html"}
        assert referenced <= set(shipped)
        for path, f in sorted(shipped.items()):
            got = c.get(path)
            assert got.status_code == 200 and got.content == f.read_bytes(), path
    log = (tmp_path / "data" / "server.log").read_text()
    assert "nftreg: warning: anvil not found" in log and "Traceback" not in log


def test_sdist_builds_the_same_wheel(wheel: Path, tmp_path: Path):
    _sh([_maturin(), "sdist", "--out", str(tmp_path)], cwd=ROOT)
    (sdist,) = tmp_path.glob("nftreg-*.tar.gz")
    with tarfile.open(sdist) as t:
        t.extractall(tmp_path / "src", filter="data")
    (src,) = (tmp_path / "src").iterdir()
    # the same target directory: dependencies are reused, only nftreg's own crates compile again
    _sh([_maturin(), "build", "--release", "--out", str(tmp_path / "out"), "-i", sys.executable], cwd=src,
        env={**os.environ, "CARGO_TARGET_DIR": str(ROOT / "target")}, timeout=1800)
    (rebuilt,) = (tmp_path / "out").glob("nftreg-*.whl")
    assert set(zipfile.ZipFile(rebuilt).namelist()) == set(zipfile.ZipFile(wheel).namelist())
