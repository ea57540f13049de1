"""Verify EIP-191 ownership attestations in one batch call.

Run: .venv/bin/python examples/verify_signatures.py
"""

from eth_account import Account
from eth_account.messages import encode_defunct

from nftreg.signatures import recover_addresses, verify_personal_sign

holders = [Account.create() for _ in range(3)]
messages = [f"I hold token {i}" for i in range(3)]
signatures = [h.sign_message(encode_defunct(text=m)).signature for h, m in zip(holders, messages)]

print(verify_personal_sign(messages, signatures, [h.address for h in holders]))  # [True, True, True]
print(verify_personal_sign(messages, signatures, [holders[0].address] * 3))      # [True, False, False]
digests = [bytes(h.sign_message(encode_defunct(text=m)).message_hash) for h, m in zip(holders, messages)]
assert recover_addresses(digests, signatures) == [h.address for h in holders]
