"""The log's signed notes: its Ed25519 key (C2SP signed-note format) and the checkpoints it
signs, verifiable by Go's ``golang.org/x/mod/sumdb/note``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nftreg._core import tlog
from nftreg.errors import ConfigError

__all__ = ["DEFAULT_ORIGIN", "Checkpoint", "LogKey"]

DEFAULT_ORIGIN = "nftreg.localhost/log"


class LogKey:
    """The log's Ed25519 signing key; the seed never appears in repr, str or logs."""

    __slots__ = ("_seed", "name", "public_key")

    def __init__(self, name: str, seed: bytes):
        self.name = name
        self._seed = seed
        self.public_key: bytes = tlog.note_public_key(seed)

    @classmethod
    def from_signer_key(cls, skey: str) -> LogKey:
        try:
            name, seed = tlog.note_parse_signer_key(skey.strip())
        except ValueError as e:
            raise ConfigError(f"log signer key: {e}") from None
        return cls(name, seed)

    @property
    def verifier_key(self) -> str:
        """``<name>+<hash>+<keydata>``: what Go's ``note.NewVerifier`` and ``nftreg log`` take."""
        return tlog.note_verifier_key(self.name, self.public_key)

    @property
    def key_id(self) -> int:
        return tlog.note_key_id(self.name, self.public_key)

    def sign(self, text: str) -> str:
        return tlog.note_sign(text, self.name, self._seed)

    def signer_key(self) -> str:
        return tlog.note_signer_key(self.name, self._seed)

    def __repr__(self) -> str:
        return f"LogKey({self.verifier_key}, seed=<redacted>)"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError("LogKey cannot be pickled")


@dataclass(frozen=True, slots=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes
    note: str  # the whole signed note, as served

    @classmethod
    def open(cls, note: str, key_name: str, public_key: bytes) -> Checkpoint:
        """Verify the signature by (key_name, public_key) and parse the checkpoint."""
        text = tlog.note_open(note, key_name, public_key)
        origin, size, root, _ext = tlog.parse_checkpoint(text)
        return cls(origin, size, root, note)
