"""Signing keys: from an argument, the NFTREG_PRIVATE_KEY environment variable, or an encrypted
keystore (NFTREG_KEYSTORE + NFTREG_KEYSTORE_PASSWORD). A key is never printed or logged: the
``Signer`` wrapper's repr shows the address only."""

from __future__ import annotations

import json
import os
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount

from nftreg.errors import ConfigError

__all__ = ["Signer", "load_signer", "signer_from_key", "signer_from_keystore"]


class Signer:
    """A local account whose secret never appears in repr, str or logs."""

    __slots__ = ("_account",)

    def __init__(self, account: LocalAccount):
        self._account = account

    @property
    def address(self) -> str:
        return self._account.address

    @property
    def account(self) -> LocalAccount:
        return self._account

    def __repr__(self) -> str:
        return f"Signer({self.address}, key=<redacted>)"

    __str__ = __repr__

    def __reduce__(self):  # never pickle a key by accident
        raise TypeError("Signer cannot be pickled")


def signer_from_key(key: str | bytes) -> Signer:
    try:
        return Signer(Account.from_key(key))
    except Exception:  # noqa: BLE001 (eth-account raises several types; none may echo the key)
        raise ConfigError("private key is malformed (expected 32 bytes as 0x-hex)") from None


def signer_from_keystore(keystore: str | Path, password: str, name: str) -> Signer:
    """An encrypted (Web3 Secret Storage) keystore: a path, or its JSON text."""
    try:
        data = json.loads(keystore.read_text() if isinstance(keystore, Path) else keystore)
        return Signer(Account.from_key(Account.decrypt(data, password)))
    except (OSError, ValueError) as e:
        raise ConfigError(f"cannot open keystore {name}: {type(e).__name__}") from None


def load_signer(private_key: str | bytes | None = None) -> Signer | None:
    """The signer from the argument, the environment or a keystore; None if none is configured."""
    key = private_key or os.environ.get("NFTREG_PRIVATE_KEY")
    if key:
        return signer_from_key(key)
    keystore = os.environ.get("NFTREG_KEYSTORE")
    if keystore:
        password = os.environ.get("NFTREG_KEYSTORE_PASSWORD")
        if password is None:
            raise ConfigError("NFTREG_KEYSTORE is set but NFTREG_KEYSTORE_PASSWORD is not")
        return signer_from_keystore(Path(keystore), password, keystore)
    return None
