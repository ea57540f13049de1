"""The main job and a signature on a fresh install, with and without coincurve.

Builds the wheel (`maturin build --release`, reusing target/), installs it into a fresh
virtual environment, and runs from an empty directory: `nftreg demo` (default sizes unless
given) and eth-account signing (a transaction and an EIP-191 message) — first as installed
(coincurve is a dependency, so eth-keys uses it), then with coincurve removed from that venv
(eth-keys' pure-Python curve, what a fresh install got before coincurve was a dependency).
Prints one table; anvil comes from the project's node_modules (as a user who installed it).

    .venv/bin/python bench/bench_install.py [--claims 100000] [--signatures 10000] [--venv DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SIGN = r"""
import json, time
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_keys import KeyAPI
acct = Account.from_key(b"\x01" * 32)
tx = {"to": "0x" + "22" * 20, "value": 1, "gas": 21000, "maxFeePerGas": 2 * 10**9,
      "maxPriorityFeePerGas": 10**9, "nonce": 0, "chainId": 31337, "type": 2}
n = 300
t = time.perf_counter()
for i in range(n):
    acct.sign_transaction({**tx, "nonce": i})
tx_ms = (time.perf_counter() - t) / n * 1e3
t = time.perf_counter()
for i in range(n):
    acct.sign_message(encode_defunct(text=f"I own token {i}"))
msg_ms = (time.perf_counter() - t) / n * 1e3
print(json.dumps({"backend": type(KeyAPI().backend).__name__, "tx_ms": tx_ms, "msg_ms": msg_ms}))
"""


def sh(cmd: list[str], **kw: object) -> str:
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw).stdout  # type: ignore[call-overload]


def measure(venv: Path, claims: int, signatures: int) -> dict:
    from nftreg.chain.anvil import anvil_binary

    env = {k: v for k, v in os.environ.items() if not k.startswith(("NFTREG_", "PYTHON", "VIRTUAL_ENV"))}
    env.update(PATH=f"{venv / 'bin'}:/usr/bin:/bin", NFTREG_ANVIL=anvil_binary())
    with tempfile.TemporaryDirectory() as work:
        sign = json.loads(sh([str(venv / "bin" / "python"), "-c", SIGN], cwd=work, env=env))
        report = json.loads(sh([str(venv / "bin" / "nftreg"), "demo", "--claims", str(claims), "--signatures",
                                str(signatures), "--json"], cwd=work, env=env))
    step = next(s for s in report["steps"] if s["step"].startswith("sign "))
    return {**sign, "demo_s": report["total_seconds"], "sign_step_s": step["seconds"]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--claims", type=int, default=100_000)
    ap.add_argument("--signatures", type=int, default=10_000)
    ap.add_argument("--venv", type=Path, help="reuse this venv (the wheel is installed into it)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        sh([str(Path(sys.executable).parent / "maturin"), "build", "--release", "--out", tmp, "-i", sys.executable],
           cwd=ROOT)
        (wheel,) = Path(tmp).glob("nftreg-*.whl")
        venv = args.venv or Path(tmp) / "venv"
        if not (venv / "bin" / "python").exists():
            sh([sys.executable, "-m", "venv", str(venv)])
        pip = [str(venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check"]
        sh([*pip, "--force-reinstall", "--no-deps", str(wheel)])
        sh([*pip, str(wheel)])
        fast = measure(venv, args.claims, args.signatures)
        sh([str(venv / "bin" / "pip"), "uninstall", "-y", "-q", "coincurve"])
        try:
            slow = measure(venv, args.claims, args.signatures)
        finally:
            sh([*pip, "coincurve>=20"])
    print(f"fresh wheel install, demo with {args.claims:,} claims and {args.signatures:,} signatures (anvil)")
    print(f"| {'':34} | {'coincurve (as installed)':>24} | {'pure-Python eth-keys':>20} | ratio |")
    print(f"|{'-' * 36}|{'-' * 26}|{'-' * 22}|-------|")
    for key, label in (("tx_ms", "sign a transaction (ms)"), ("msg_ms", "sign an EIP-191 message (ms)"),
                       ("sign_step_s", "demo: sign + verify step (s)"), ("demo_s", "demo total (s)")):
        print(f"| {label:34} | {fast[key]:>24.3f} | {slow[key]:>20.3f} | {slow[key] / fast[key]:>4.1f}x |")
    print(f"backends: {fast['backend']} / {slow['backend']}")


if __name__ == "__main__":
    main()
