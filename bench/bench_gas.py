"""Gas per registry operation on a real anvil (the same numbers hold on any EVM chain with the
same fork rules): mint, anchor, single claim, multiproof claim of k leaves, voucher redeem,
registration-log anchor and a private registration minted with its log inclusion proof.

Run: `.venv/bin/python bench/bench_gas.py` (needs `npm install` for anvil).
"""

from __future__ import annotations

import os
import random
import tempfile

from eth_account import Account
from nftreg._core import tlog
from nftreg.chain import AnvilProcess, Chain, Registry, Voucher
from nftreg.chain.anvil import ANVIL_DEV_KEY
from nftreg.log import EntryKind, LogEntry, leaf_hash
from nftreg.merkle import StandardMerkleTree

ENC = ["address", "bytes32", "string"]


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        proc = AnvilProcess(tmp)
        proc.start()
        try:
            chain = Chain.connect(proc.url, private_key=ANVIL_DEV_KEY)
            reg = Registry.deploy(chain)
            rng = random.Random(1)
            cid = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
            rows = []
            mints = [reg.mint(Account.from_key(rng.randbytes(32)).address, os.urandom(32), cid).gas_used for _ in range(5)]
            rows.append(("mint (new owner, 59-char CID)", sum(mints) // len(mints)))
            for k in (8, 32, 64):
                items = [(Account.from_key(rng.randbytes(32)).address, os.urandom(32), cid) for _ in range(k)]
                g = int(chain.transact(reg.build_mint_batch(items))["gasUsed"])
                rows.append((f"mintBatch, {k} items (the service's group commit)", g))
                rows.append(("  per item", g // k))
            claims = [[Account.from_key(rng.randbytes(32)).address, "0x" + rng.randbytes(32).hex(), cid] for _ in range(100_000)]
            tree = StandardMerkleTree.of(claims, ENC)
            rows.append(("anchor (root + tree CID)", reg.anchor(tree.root, cid).gas_used))
            single = [reg.claim(tree.root, *claims[i], tree.get_proof(i)).gas_used for i in range(5)]
            rows.append((f"claim, 1 leaf (proof depth {len(tree.get_proof(0))}, 100,000-leaf tree)", sum(single) // 5))
            for k in (4, 16, 64):
                idx = rng.sample(range(10, len(claims)), k)
                mp = tree.get_multiproof(idx)
                res = reg.claim_many(tree.root, [tuple(v) for v in mp["leaves"]], mp["proof"], mp["proof_flags"])
                rows.append((f"claimMany, {k} leaves (one multiproof)", res[0].gas_used))
                rows.append(("  per leaf", res[0].gas_used // k))
            now = chain.w3.eth.get_block("latest")["timestamp"]
            v = Voucher(chain.address, os.urandom(32), cid, 1, now + 3600)
            rows.append(("redeem EIP-712 voucher", reg.redeem(v, reg.sign_voucher(v, chain.signer.account.key)).gas_used))
            for k, size in enumerate((1_000, 1_000_000)):
                # a library-built log tree of `size` leaves with one private registration in the middle
                entry = LogEntry.of(EntryKind.PRIVATE, owner=Account.from_key(rng.randbytes(32)).address,
                                    content_hash=os.urandom(32), chain_id=chain.chain_id, contract=reg.address,
                                    metadata_cid=cid).encode()
                index = size // 2 + 1
                tree = tlog.LogTree()
                tree.append_leaf_hashes(rng.randbytes(32 * index) + leaf_hash(entry) + rng.randbytes(32 * (size - index - 1)))
                proof = tree.inclusion_proof(index, size)
                a = reg.anchor_log(size, tree.root(size)).gas_used
                rows.append(("anchorLog (first log anchor)" if k == 0 else "anchorLog (later anchors)", a))
                m = reg.mint_with_log_proof(entry, index, size, proof).gas_used
                rows.append((f"mintWithLogProof, {size:,}-entry log ({len(proof)} proof hashes)", m))
                del tree
            print("| operation | gas |")
            print("|---|---|")
            for what, gas in rows:
                print(f"| {what} | {gas:,} |")
        finally:
            proc.stop()


if __name__ == "__main__":
    main()
