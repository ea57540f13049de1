# Type stubs for the private extension module nftreg._core, one stub file per submodule (each
# registered by rust_core/py/src/lib.rs).
# Checked against the compiled module by `python -m mypy.stubtest nftreg._core` (it walks the
# submodules too).

from . import cid as cid
from . import merkle as merkle
from . import ooc as ooc
from . import sig as sig
from . import tlog as tlog

__version__: str
__all__ = ["__version__", "cid", "merkle", "ooc", "sig", "tlog"]
