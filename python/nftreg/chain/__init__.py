"""Chain access: ``Chain`` (tester://, anvil://, RPC URL) and the ``Registry`` contract."""

from nftreg.chain.anvil import AnvilProcess, anvil_binary
from nftreg.chain.core import Chain, ErrorDecoder, SignedTx
from nftreg.chain.registry import AnchorInfo, MintResult, Registry, RegistryEvent, TxResult, Voucher, artifact

__all__ = ["Chain", "SignedTx", "ErrorDecoder", "Registry", "Voucher", "MintResult", "TxResult", "AnchorInfo",
           "RegistryEvent", "AnvilProcess", "anvil_binary", "artifact"]
