"""`nftreg --remote URL …` against a real `nftreg serve` (embedded defaults): the same output and
exit codes as the local commands, through nftreg.Client."""

from __future__ import annotations

import json
import os

import pytest
from client_server import ADMIN, Server
from eth_account import Account
from eth_account.messages import encode_defunct
from nftreg import StandardMerkleTree
from nftreg.cid import cid_of, content_hash_hex
from nftreg.claims import CLAIM_LEAF_ENCODING
from nftreg.cli.main import app
from typer.testing import CliRunner

runner = CliRunner()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with Server(tmp_path_factory.mktemp("cli-remote"), NFTREG_RATE_LIMIT_PER_MINUTE="0",
                NFTREG_MAX_VERIFY_ITEMS="400") as srv:
        yield srv


def cli(*args: str, env: dict[str, str] | None = None):
    return runner.invoke(app, list(args), env=env, catch_exceptions=False)


def test_mint_lookup_assets(server, tmp_path):
    acct = Account.create()
    env = {"NFTREG_REMOTE": server.url, "NFTREG_PRIVATE_KEY": acct.key.hex()}
    art = tmp_path / "art.bin"
    art.write_bytes(os.urandom(300))
    r = cli("mint", str(art), "--name", "ภาพ", "--attr", "ศิลปิน=สมชาย", "--json", env=env)
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert set(out) == {"token_id", "owner", "content_hash", "asset_cid", "metadata_cid", "token_uri", "tx_hash",
                        "block", "contract", "chain_id"}  # the local mint's keys
    assert out["owner"] == acct.address and out["content_hash"] == content_hash_hex(art)
    again = cli("mint", str(art), "--name", "again", env=env)
    assert again.exit_code == 1
    assert f"is already registered as token {out['token_id']}" in again.stderr

    # --remote given as an option works the same as NFTREG_REMOTE
    r = cli("--remote", server.url, "lookup", str(art), "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["token_id"] == out["token_id"]
    other = tmp_path / "other.bin"
    other.write_bytes(b"nobody registered this " + os.urandom(8))
    r = cli("--remote", server.url, "lookup", str(other), "--json")
    assert r.exit_code == 4 and json.loads(r.stdout)["registered"] is False

    r = cli("--remote", server.url, "assets", "--owner", acct.address, "--json")
    assert r.exit_code == 0
    assert [json.loads(line)["token_id"] for line in r.stdout.splitlines()] == [out["token_id"]]
    assert cli("assets").exit_code == 1  # local mode has no index to list


def test_batch_build_and_proof_match_the_local_commands(server, tmp_path):
    mcid = cid_of(b"cli meta")
    owners = [Account.create().address for _ in range(6)]
    claims = tmp_path / "claims.csv"
    claims.write_text("owner,content_hash,metadata_cid\n" + "".join(
        f"{o},0x{os.urandom(32).hex()},{mcid}\n" for o in owners) + "not-an-address,0x12,bafy\n")
    local = cli("batch", "build", str(claims), "-o", str(tmp_path / "local.json"), "--json", "--verify")
    env = {"NFTREG_REMOTE": server.url, "NFTREG_API_KEY": ADMIN}
    remote = cli("batch", "build", str(claims), "-o", str(tmp_path / "remote.json"), "--json", "--verify", env=env)
    assert local.exit_code == remote.exit_code == 3  # one rejected line, the rest registered
    lo, ro = json.loads(local.stdout), json.loads(remote.stdout)
    assert ro["root"] == lo["root"] and ro["claims"] == lo["claims"] == 6 and ro["verified"] == 6
    assert ro["rejected"] == lo["rejected"] and ro["batch_id"] >= 1 and ro["tx_hash"]
    assert json.loads((tmp_path / "remote.json").read_text()) == json.loads((tmp_path / "local.json").read_text())

    for sel in (["--index", "2"], ["--owner", owners[4]]):
        lp = cli("batch", "proof", str(tmp_path / "local.json"), *sel)
        rp = cli("batch", "proof", str(ro["batch_id"]), *sel, env=env)
        assert lp.exit_code == rp.exit_code == 0, rp.output
        assert [json.loads(x) for x in rp.stdout.splitlines()] == [json.loads(x) for x in lp.stdout.splitlines()]
    assert cli("batch", "proof", "tree.json", "--index", "0", env=env).exit_code == 1  # not a batch id


def test_verify_matches_the_local_commands(server, tmp_path):
    values = [[Account.create().address, "0x" + os.urandom(32).hex(), cid_of(b"v")] for _ in range(900)]
    tree = StandardMerkleTree.of(values, CLAIM_LEAF_ENCODING)
    lines = [json.dumps({"root": tree.root, "leaf_encoding": CLAIM_LEAF_ENCODING, "value": v,
                         "proof": tree.get_proof(i)}) for i, v in tree.entries()]
    lines[10] = lines[10].replace(values[10][2], values[11][2]) if values[10][2] != values[11][2] else \
        json.dumps({"root": tree.root, "leaf_encoding": CLAIM_LEAF_ENCODING, "value": values[11],
                    "proof": tree.get_proof(10)})
    lines.insert(50, "{not json")
    lines.append(json.dumps({"root": "0x1234", "leaf_encoding": CLAIM_LEAF_ENCODING, "value": values[0],
                             "proof": []}))
    src = tmp_path / "proofs.jsonl"
    src.write_text("\n".join(lines) + "\n")
    local = cli("verify", "proofs", str(src))
    remote = cli("--remote", server.url, "verify", "proofs", str(src))
    assert local.exit_code == remote.exit_code == 4
    lo = [json.loads(x) for x in local.stdout.splitlines()]
    ro = [json.loads(x) for x in remote.stdout.splitlines()]
    assert [(x["line"], x["valid"]) for x in ro] == [(x["line"], x["valid"]) for x in lo]
    assert sum(x["valid"] for x in ro) == 899 and [x["line"] for x in ro if "error" in x] == \
        [x["line"] for x in lo if "error" in x]

    acct = Account.create()
    sigs = []
    for i in range(700):
        msg = f"ลายเซ็น {i}"
        sig = "0x" + bytes(acct.sign_message(encode_defunct(text=msg)).signature).hex()
        sigs.append({"scheme": "eip191", "message": msg + ("!" if i % 97 == 3 else ""), "signature": sig,
                     "address": acct.address})
    sigs[5] = {"scheme": "nope"}
    ssrc = tmp_path / "sigs.jsonl"
    ssrc.write_text("\n".join(json.dumps(s, ensure_ascii=False) for s in sigs) + "\n")
    local = cli("verify", "signatures", str(ssrc))
    remote = cli("--remote", server.url, "verify", "signatures", str(ssrc))
    assert local.exit_code == remote.exit_code == 4
    lo = [json.loads(x) for x in local.stdout.splitlines()]
    ro = [json.loads(x) for x in remote.stdout.splitlines()]
    assert [(x["line"], x["valid"], "error" in x) for x in ro] == [(x["line"], x["valid"], "error" in x) for x in lo]


def test_unreachable_registry_is_exit_2(tmp_path):
    from api_server import free_port

    url = f"http://127.0.0.1:{free_port()}"
    src = tmp_path / "s.jsonl"
    src.write_text(json.dumps({"scheme": "eip191", "message": "m", "signature": "0x00", "address": "0x00"}) + "\n")
    r = runner.invoke(app, ["--remote", url, "verify", "signatures", str(src)],
                      env={"NFTREG_REMOTE_RETRY_S": "2"})
    assert r.exit_code == 2 and f"registry {url} is unavailable" in r.stderr


def test_progress_bar_with_counts_and_rate_on_a_terminal(server, tmp_path):
    """On an interactive stderr (a real pseudo-terminal) a remote verify shows a progress bar
    with done/total counts and a rate; stdout (a pipe) still carries only the JSON lines."""
    import pty
    import re
    import subprocess
    import sys
    import threading

    values = [[f"0x{i:040x}", "0x" + os.urandom(32).hex(), cid_of(b"p")] for i in range(2000)]
    tree = StandardMerkleTree.of(values, CLAIM_LEAF_ENCODING)
    src = tmp_path / "proofs.jsonl"
    src.write_text("".join(json.dumps({"root": tree.root, "leaf_encoding": CLAIM_LEAF_ENCODING, "value": v,
                                       "proof": tree.get_proof(i)}) + "\n" for i, v in tree.entries()))
    before = server.proxy.seen["POST /v1/verify/proofs"]
    master, slave = pty.openpty()
    terminal: list[bytes] = []

    def drain() -> None:
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the slave side closed
                return
            if not chunk:
                return
            terminal.append(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    env = {**os.environ, "COLUMNS": "120", "TERM": "xterm-256color"}
    env.pop("NO_COLOR", None)
    proc = subprocess.run([sys.executable, "-m", "nftreg", "--remote", server.url, "verify", "proofs", str(src)],
                          stdout=subprocess.PIPE, stderr=slave, env=env, timeout=300, check=False)
    os.close(slave)
    reader.join(timeout=30)
    os.close(master)
    assert proc.returncode == 0, b"".join(terminal).decode(errors="replace")
    out = [json.loads(line) for line in proc.stdout.decode().splitlines()]
    assert len(out) == 2000 and all(x["valid"] for x in out)
    assert server.proxy.seen["POST /v1/verify/proofs"] - before >= 5  # 400 items a request: a multi-request run
    shown = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", b"".join(terminal).decode(errors="replace"))
    assert "verifying proofs" in shown, shown
    assert "2000/2000" in shown, shown  # done/total counts
    assert re.search(r"\d[\d,]*/s", shown), shown  # and a rate
    assert "━" in shown  # a bar, not a spinner
