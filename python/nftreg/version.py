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


def _core_function(name: str) -> Any:
    """A function of the Rust core, wherever this build keeps it (``_core`` or a submodule)."""
    from nftreg import _core

    for mod in (_core, *(getattr(_core, sub, None) for sub in ("merkle", "sig", "cid", "eth"))):
        fn = getattr(mod, name, None) if mod is not None else None
        if callable(fn):
            return fn
    return None


def _backends() -> dict[str, str] | None:
    """The core's own report of the CPU code paths it picked (keccak today)."""
    active, available = _core_function("keccak_backend"), _core_function("keccak_backends")
    if active is None:
        return None
    chosen = str(active())
    others = [str(b) for b in available()] if available is not None else []
    return {"keccak": chosen + (f" (of {', '.join(others)})" if others else "")}


def version_info() -> dict[str, Any]:
    import platform
    from importlib import resources

    from nftreg import _core

    try:
        from importlib.metadata import version

        package = version("nftreg")
    except Exception:  # noqa: BLE001 - running from a source tree that was never installed
        package = _core.__version__
    art = json.loads(resources.files("nftreg.contracts").joinpath("NftRegistry.json").read_text(encoding="utf-8"))
    code_hash = "0x" + _core_function("keccak")(bytes.fromhex(art["deployedBytecode"].removeprefix("0x"))).hex()
    return {
        "nftreg": package,
        "core": _core.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpu_backends": _backends(),
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
