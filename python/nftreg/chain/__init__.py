"""Chain access: ``Chain`` (tester://, anvil://, RPC URL) and the ``Registry`` contract."""

from nftreg.chain.anvil import AnvilProcess, anvil_binary
from nftreg.chain.core import Chain, ErrorDecoder, SignedTx
from nftreg.chain.registry import (
    AnchorInfo,
    MintResult,
    Registry,
    RegistryEvent,
    TxResult,
    Voucher,
    artifact,
)

__all__ = [
    "AnchorInfo",
    "AnvilProcess",
    "Chain",
    "ErrorDecoder",
    "MintResult",
    "Registry",
    "RegistryEvent",
    "SignedTx",
    "TxResult",
    "Voucher",
    "anvil_binary",
    "artifact",
]
