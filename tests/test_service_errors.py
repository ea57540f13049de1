"""services.errors.from_chain: the one mapping of chain failures to what a client hears, for the
mint, the mint from the log and the batch anchor (each wrote it out before)."""

from __future__ import annotations

from nftreg.errors import ChainError, ContractRevert
from nftreg.services.errors import Conflict, Unavailable, Unprocessable, from_chain

H = "0x" + "ab" * 32


def test_before_the_write_left():
    taken = from_chain(ContractRevert("ContentAlreadyRegistered", (bytes.fromhex(H[2:]), 7)), "mint", sent=False,
                       content_hash=H)
    assert isinstance(taken, Conflict) and taken.status == 409 and taken.extra == {"token_id": 7}
    assert taken.detail == f"content hash {H} is already registered on-chain as token 7"
    other = from_chain(ContractRevert("EmptyMetadataCid"), "mint from the log", sent=False, content_hash=H)
    assert isinstance(other, Unprocessable) and other.detail.startswith(
        "the registry contract refused the mint from the log: ")
    # the anchor: a refusal is a conflict; without content_hash no token is named
    anchor = from_chain(ContractRevert("ContentAlreadyRegistered", (b"", 1)), "anchor", sent=False, refused=Conflict)
    assert isinstance(anchor, Conflict) and "token_id" not in anchor.extra and "refused the anchor" in anchor.detail
    down = from_chain(ChainError("connection refused"), "mint", sent=False)
    assert isinstance(down, Unavailable) and down.status == 503 and down.detail == "chain: connection refused"


def test_after_the_write_left():
    rev = from_chain(ContractRevert("ContentAlreadyRegistered", (b"", 3)), "mint", sent=True, content_hash=H)
    assert isinstance(rev, Unprocessable) and rev.detail.startswith("the registry contract reverted the mint: ")
    down = from_chain(ChainError("timeout"), "mint", sent=True)
    assert isinstance(down, Unavailable)
    assert down.detail == "chain: timeout; the signed transaction is kept and will be reconciled"
