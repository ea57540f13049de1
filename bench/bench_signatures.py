"""Signature benchmark: nftreg side by side with eth-account, coincurve (libsecp256k1) and
PyNaCl (libsodium) on the same inputs in one run. Prints throughput and ratios.

Run: `.venv/bin/python bench/bench_signatures.py` after `maturin develop --release`.
"""

from __future__ import annotations

import os
import random
import time

import coincurve
from eth_account import Account
from eth_account.messages import _hash_eip191_message, encode_defunct
from eth_hash.auto import keccak
from nacl.signing import SigningKey, VerifyKey

from nftreg import signatures as sig

N_ECDSA = 20_000
N_ED = 40_000


def rate(n: int, fn) -> float:
    t0 = time.perf_counter()
    fn()
    return n / (time.perf_counter() - t0)


def best(n: int, fn, reps: int = 3) -> float:
    return max(rate(n, fn) for _ in range(reps))


def main() -> None:
    rng = random.Random(1)
    accts = [Account.from_key(rng.randbytes(32)) for _ in range(50)]
    msgs = [f"nftreg ownership attestation #{i} ภูเก็ต".encode() for i in range(N_ECDSA)]
    signed = [accts[i % 50].sign_message(encode_defunct(primitive=m)) for i, m in enumerate(msgs)]
    sigs = [bytes(s.signature) for s in signed]
    digests = [bytes(s.message_hash) for s in signed]
    addrs = [accts[i % 50].address for i in range(N_ECDSA)]
    rows = []

    k = 2_000
    ea = rate(k, lambda: [Account.recover_message(encode_defunct(primitive=msgs[i]), signature=sigs[i]) for i in range(k)])

    def cc():
        for i in range(N_ECDSA):
            s = sigs[i]
            rec = s[:64] + bytes([s[64] - 27])
            pub = coincurve.PublicKey.from_signature_and_message(rec, digests[i], hasher=None)
            keccak(pub.format(compressed=False)[1:])[12:]

    cc_rate = best(N_ECDSA, cc, reps=1)
    ours_rec = best(N_ECDSA, lambda: sig.recover_addresses(digests, sigs))
    assert sig.recover_addresses(digests[:100], sigs[:100]) == addrs[:100]
    packed_d, packed_s = b"".join(digests), b"".join(sigs)
    ours_packed = best(N_ECDSA, lambda: sig.recover_addresses_packed(packed_d, packed_s))
    ours_191 = best(N_ECDSA, lambda: sig.verify_personal_sign(msgs, sigs, addrs))
    assert all(sig.verify_personal_sign(msgs[:100], sigs[:100], addrs[:100]))
    rows.append(("secp256k1 recovery (digest+sig -> address)", ours_rec,
                 f"eth-account {ea:,.0f} | coincurve 1 thread {cc_rate:,.0f}",
                 f"{ours_rec / ea:.1f}x eth-account, {ours_rec / cc_rate:.2f}x coincurve"))
    rows.append(("  same, packed buffers", ours_packed, "", f"{ours_packed / cc_rate:.2f}x coincurve"))
    rows.append(("EIP-191 verify_personal_sign", ours_191, f"eth-account {ea:,.0f}", f"{ours_191 / ea:.1f}x eth-account"))

    # EIP-712, 5-field struct
    typed = []
    for i in range(N_ECDSA // 4):
        typed.append({
            "types": {"EIP712Domain": [{"name": "name", "type": "string"}, {"name": "version", "type": "string"},
                                        {"name": "chainId", "type": "uint256"}, {"name": "verifyingContract", "type": "address"}],
                      "Voucher": [{"name": "to", "type": "address"}, {"name": "contentHash", "type": "bytes32"},
                                  {"name": "uri", "type": "string"}, {"name": "uid", "type": "uint256"},
                                  {"name": "deadline", "type": "uint64"}]},
            "primaryType": "Voucher",
            "domain": {"name": "nftreg", "version": "1", "chainId": 31337, "verifyingContract": "0x5FbDB2315678afecb367f032d93F642f64180aa3"},
            "message": {"to": addrs[i], "contentHash": "0x" + rng.randbytes(32).hex(), "uri": f"ipfs://bafy{i}",
                        "uid": i, "deadline": 1_900_000_000},
        })
    n712 = len(typed)
    t_sigs = [accts[i % 50].sign_typed_data(full_message=t).signature for i, t in enumerate(typed)]
    t_addrs = addrs[:n712]
    import json
    texts = [json.dumps(t) for t in typed]
    ours_712 = best(n712, lambda: sig.verify_typed_data(texts, t_sigs, t_addrs))
    ours_712_dicts = best(n712, lambda: sig.verify_typed_data(typed, t_sigs, t_addrs))
    assert all(sig.verify_typed_data(texts, t_sigs, t_addrs))
    rows.append(("EIP-712 verify, 5-field struct (JSON text)", ours_712, f"raw recovery {ours_rec:,.0f}",
                 f"{ours_712 / ours_rec:.0%} of raw recovery"))
    rows.append(("EIP-712 verify, 5-field struct (dicts)", ours_712_dicts, "", f"{ours_712_dicts / ours_rec:.0%} of raw recovery"))

    # Ed25519
    keys = [SigningKey(rng.randbytes(32)) for _ in range(100)]
    ed_msgs = [rng.randbytes(64) for _ in range(N_ED)]
    ed_sigs = [keys[i % 100].sign(m).signature for i, m in enumerate(ed_msgs)]
    ed_pks = [bytes(keys[i % 100].verify_key) for i in range(N_ED)]
    vks = [VerifyKey(pk) for pk in ed_pks]
    nacl_rate = best(N_ED, lambda: [vks[i].verify(ed_msgs[i], ed_sigs[i]) for i in range(N_ED)], reps=1)
    ours_ed = best(N_ED, lambda: sig.verify_ed25519(ed_msgs, ed_sigs, ed_pks))
    assert all(sig.verify_ed25519(ed_msgs[:100], ed_sigs[:100], ed_pks[:100]))
    rows.append(("Ed25519 verify (batches of 64)", ours_ed, f"PyNaCl 1 thread {nacl_rate:,.0f}", f"{ours_ed / nacl_rate:.2f}x PyNaCl"))

    print(f"cpus: {os.cpu_count()}")
    print("| what | nftreg /s | anchors /s | ratio |")
    print("|---|---|---|---|")
    for what, ours, anchors, ratio in rows:
        print(f"| {what} | {ours:,.0f} | {anchors} | {ratio} |")

    def target(name: str, ok: bool, got: str) -> None:
        print(f"target {name}: {'met' if ok else 'NOT met'} ({got})")

    print()
    target("recovery >= 45,000/s", ours_rec >= 45_000, f"{ours_rec:,.0f}/s")
    target("recovery >= 4.5x eth-account", ours_rec >= 4.5 * ea, f"{ours_rec / ea:.1f}x")
    target("recovery >= 1.85x coincurve", ours_rec >= 1.85 * cc_rate, f"{ours_rec / cc_rate:.2f}x")
    target("EIP-712 (JSON text) within 10% of recovery", ours_712 >= 0.9 * ours_rec, f"{ours_712 / ours_rec:.0%}")
    target("EIP-712 (dicts) within 10% of recovery", ours_712_dicts >= 0.9 * ours_rec, f"{ours_712_dicts / ours_rec:.0%}")
    target("Ed25519 >= 60,000/s", ours_ed >= 60_000, f"{ours_ed:,.0f}/s")
    target("Ed25519 >= 2.8x PyNaCl", ours_ed >= 2.8 * nacl_rate, f"{ours_ed / nacl_rate:.2f}x")


if __name__ == "__main__":
    main()
