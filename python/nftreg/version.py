"""``nftreg --version``: the package, the Rust core's CPU backends, the contract."""

from __future__ import annotations

import json
from typing import Any

__all__ = ["version_info", "version_text"]

# x86-64 features the Rust core's hashing and verification can use, as /proc/cpuinfo names them
_FEATURES = ("sse4_1", "avx2", "bmi2", "avx512f", "avx512vl", "sha_ni", "adx")


def _cpu_features() -> list[str]:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith(("flags", "Features")):
                    have = set(line.split(":", 1)[1].split())
                    return [x for x in _FEATURES if x in have]
    except OSError:
        pass
    return []


def version_info() -> dict[str, Any]:
    import platform
    from importlib import resources

    from nftreg import _core

    try:
        from importlib.metadata import version

        package = version("nftreg")
    except Exception:  # noqa: BLE001 - running from a source tree that was never installed
        package = _core.__version__
    backends = getattr(_core, "cpu_backends", None)  # the core's own report, where the build has one
    art = json.loads(resources.files("nftreg.contracts").joinpath("NftRegistry.json").read_text(encoding="utf-8"))
    code_hash = "0x" + _core.keccak(bytes.fromhex(art["deployedBytecode"].removeprefix("0x"))).hex()
    return {
        "nftreg": package,
        "core": _core.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpu_backends": backends() if callable(backends) else None,
        "cpu_features": _cpu_features(),
        "contract": {"name": art["contractName"], "solc": art["compiler"]["solc"].split("+")[0],
                     "openzeppelin": art["compiler"].get("openzeppelin"), "runtime_code_keccak": code_hash},
    }


def version_text() -> str:
    v = version_info()
    c = v["contract"]
    backends = v["cpu_backends"]
    lines = [
        f"nftreg {v['nftreg']} (Rust core {v['core']}, Python {v['python']}, {v['machine']})",
        "cpu backends: " + (", ".join(f"{k} {b}" for k, b in backends.items()) if isinstance(backends, dict)
                            else "not reported by this build of the core"),
        "cpu features detected: " + (", ".join(v["cpu_features"]) or "none of " + ", ".join(_FEATURES)),
        (f"contract {c['name']}: solc {c['solc']}, OpenZeppelin Contracts {c['openzeppelin']}, "
         f"runtime code keccak {c['runtime_code_keccak'][:18]}…"),
    ]
    return "\n".join(lines)
