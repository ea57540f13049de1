"""Chain access. ``Chain`` (connection.py) joins a node transport (rpc.py), the signer with the
only nonce and fee rules (sender.py) and revert decoding (reverts.py); ``Registry``
(contract.py) is the NftRegistry contract, its events decoded from the ABI (events.py)."""

from nftreg.chain.anvil import AnvilProcess, anvil_binary
from nftreg.chain.connection import Chain
from nftreg.chain.contract import (
    AnchorInfo,
    LogAnchor,
    MintResult,
    Registry,
    RegistryEvent,
    TxResult,
    Voucher,
    artifact,
)
from nftreg.chain.events import ContractEvent
from nftreg.chain.reverts import ErrorDecoder
from nftreg.chain.sender import FeePolicy, SignedTx

__all__ = [
    "AnchorInfo",
    "AnvilProcess",
    "Chain",
    "ContractEvent",
    "ErrorDecoder",
    "FeePolicy",
    "LogAnchor",
    "MintResult",
    "Registry",
    "RegistryEvent",
    "SignedTx",
    "TxResult",
    "Voucher",
    "anvil_binary",
    "artifact",
]
