"""The shipped type stubs are a contract: they must match the compiled extension."""

import subprocess
import sys


def test_core_stub_matches_compiled_module():
    # stubtest walks the stub package: nftreg._core and its submodules merkle, sig, cid and tlog
    proc = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "nftreg._core"], check=False, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
