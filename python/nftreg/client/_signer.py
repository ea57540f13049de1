"""Turn what a caller holds (a private key, an eth-account ``LocalAccount``, an encrypted
keystore) into a ``nftreg.keys.Signer``. The key stays in this process: only signatures leave."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, Union

from eth_account.signers.local import LocalAccount

from nftreg.errors import ConfigError
from nftreg.keys import Signer, signer_from_key, signer_from_keystore

__all__ = ["KeyLike", "as_signer"]

KeyLike = Union[Signer, LocalAccount, str, bytes, "os.PathLike[str]", dict]
_HEX_KEY = re.compile(r"^(0x)?[0-9a-fA-F]{64}$")


def as_signer(key: Any, *, password: str | None = None) -> Signer:
    """A ``Signer`` from a ``Signer``, a ``LocalAccount``, 32 raw key bytes, a 0x-hex private key,
    or an encrypted keystore (a path or its parsed JSON; the password from ``password`` or
    ``NFTREG_KEYSTORE_PASSWORD``)."""
    if isinstance(key, Signer):
        return key
    if isinstance(key, LocalAccount):
        return Signer(key)
    if isinstance(key, (bytes, bytearray)):
        return signer_from_key(bytes(key))
    if isinstance(key, str) and _HEX_KEY.match(key.strip()):
        return signer_from_key(key.strip())
    if isinstance(key, (str, os.PathLike, dict)):
        pw = password if password is not None else os.environ.get("NFTREG_KEYSTORE_PASSWORD")
        if pw is None:
            raise ConfigError("an encrypted keystore needs a password (password=... or NFTREG_KEYSTORE_PASSWORD)")
        if isinstance(key, dict):
            return signer_from_keystore(json.dumps(key), pw, "<keystore object>")
        return signer_from_keystore(Path(key), pw, str(key))
    raise ConfigError(f"cannot sign with a {type(key).__name__}: pass a private key, a LocalAccount or a keystore")
