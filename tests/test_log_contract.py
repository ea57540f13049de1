"""The registry's registration-log functions on a real anvil: log anchors (sizes strictly
increase, ANCHOR_ROLE only), the Solidity RFC 9162 inclusion check against the Rust verifier
(nftreg._core.tlog / nftreg.log) for every index of small trees and samples of larger ones, and
minting a private registration from a real log (nftreg.log.RegistrationLog) with its proof.
The gas of a log-proof mint at several tree sizes is printed for bench/README.md."""

from __future__ import annotations

import os
import random

import pytest
import requests
from eth_account import Account
from nftreg._core import tlog
from nftreg.chain import Chain, LogAnchor, Registry
from nftreg.errors import ContractRevert, InvalidInputError
from nftreg.keys import Signer
from nftreg.log import EntryKind, LogEntry, RegistrationLog, leaf_hash, verify_inclusion

pytestmark = pytest.mark.anvil


@pytest.fixture(scope="module")
def chain(anvil):
    return Chain.connect(anvil.url, private_key=anvil.dev_key)


@pytest.fixture
def registry(chain):
    return Registry.deploy(chain)  # a fresh one per test: anchors only move forward


def funded(chain: Chain) -> Chain:
    acct = Account.from_key(os.urandom(32))
    chain.transact({"to": acct.address, "value": 10**18})
    return Chain(chain.w3, Signer(acct), kind=chain.kind)


def revert(fn, *args, **kw) -> ContractRevert:
    with pytest.raises(ContractRevert) as e:
        fn(*args, **kw)
    return e.value


def private_entry(chain: Chain, registry: Registry, *, kind: EntryKind = EntryKind.PRIVATE, owner: str | None = None,
                  cid: str = "bafkreilogentry", bind: bool = True, **kw) -> LogEntry:
    """A registration-log entry (private by default) bound to this chain and registry."""
    fields = {"owner": owner or Account.create().address, "content_hash": os.urandom(32), "metadata_cid": cid,
              "log_time_ms": 1_700_000_000_000}
    if bind:
        fields.update(chain_id=chain.chain_id, contract=registry.address)
    fields.update(kw)
    return LogEntry.of(kind, **fields)


# ---------------------------------------------------------------------------- anchors


def test_anchor_log_sizes_strictly_increase(registry, chain):
    assert registry.latest_log_anchor() is None and registry.log_root_at(5) is None
    r5, r9 = os.urandom(32), os.urandom(32)
    tx = registry.anchor_log(5, r5)
    receipt = chain.rpc.receipts([tx.tx_hash])[0]
    ev = [e for e in registry.decode_logs(receipt["logs"]) if e.name == "LogAnchored"]
    ts = chain.w3.eth.get_block(tx.block_number)["timestamp"]
    assert len(ev) == 1 and ev[0].args == {"treeSize": 5, "rootHash": r5, "timestamp": ts}
    assert registry.log_root_at(5) == r5 and registry.log_root_at(4) is None
    assert registry.latest_log_anchor() == LogAnchor(5, r5, ts)
    for size, root in ((5, r5), (5, r9), (3, r9), (0, r9)):  # the same checkpoint again, or older
        e = revert(registry.anchor_log, size, root)
        assert e.name == "LogSizeNotIncreasing" and e.args_ == (5, size)
    assert revert(registry.anchor_log, 6, bytes(32)).name == "EmptyLogRoot"
    registry.anchor_log(9, r9)
    assert registry.latest_log_anchor().tree_size == 9 and registry.log_root_at(9) == r9
    assert registry.log_root_at(5) == r5  # earlier anchors stay usable


def test_anchor_log_needs_anchor_role(registry, chain):
    outsider = funded(chain)
    as_outsider = Registry(outsider, registry.address)
    e = revert(as_outsider.anchor_log, 1, os.urandom(32))
    assert e.name == "AccessControlUnauthorizedAccount" and e.args_[0] == outsider.address
    registry.grant_role("ANCHOR_ROLE", outsider.address)
    as_outsider.anchor_log(1, os.urandom(32))
    assert registry.latest_log_anchor().tree_size == 1


def test_anchor_log_argument_checks(registry):
    with pytest.raises(InvalidInputError, match="tree_size"):
        registry.build_anchor_log(1 << 64, os.urandom(32))
    with pytest.raises(InvalidInputError, match="root"):
        registry.build_anchor_log(1, b"short")
    with pytest.raises(InvalidInputError, match="root: not 0x-hex"):
        registry.build_anchor_log(1, "0xzz")
    with pytest.raises(InvalidInputError, match="entry: not 0x-hex"):
        registry.build_mint_with_log_proof("0xq", 0, 1, [])
    with pytest.raises(InvalidInputError, match="receipt"):
        registry.build_mint_with_log_receipt({"index": 0})


def test_runtime_code_within_eip170(registry, chain):
    code = chain.rpc.code(registry.address)
    print(f"\nNftRegistry runtime code: {len(code):,} bytes (EIP-170 limit 24,576)")
    assert 0 < len(code) < 24_576


# ---------------------------------------------------------------------------- inclusion proofs


def _eth_calls(url: str, to: str, datas: list[str]) -> list[bool]:
    """Many eth_calls in JSON-RPC batches (one HTTP round trip per 500)."""
    out: list[bool] = []
    with requests.Session() as s:
        for k in range(0, len(datas), 500):
            body = [{"jsonrpc": "2.0", "id": i, "method": "eth_call", "params": [{"to": to, "data": d}, "latest"]}
                    for i, d in enumerate(datas[k:k + 500])]
            res = sorted(s.post(url, json=body, timeout=120).json(), key=lambda r: r["id"])
            assert len(res) == len(body) and all("result" in r for r in res), res[:2]
            out.extend(int(r["result"], 16) == 1 for r in res)
    return out


def test_verify_log_inclusion_agrees_with_rust_verifier(registry, anvil):
    rng = random.Random(6962)
    entries = [rng.randbytes(rng.randrange(0, 300)) for _ in range(4101)]
    tree = tlog.LogTree()
    tree.append(entries)
    leaves = [leaf_hash(e) for e in entries]
    assert registry.log_leaf_hash(entries[0]) == leaves[0] and registry.log_leaf_hash(b"") == leaf_hash(b"")

    cases: list[tuple[bytes, int, int, list[bytes], bytes, str]] = []
    sizes = [(n, range(n)) for n in range(1, 129)]
    sizes += [(n, sorted({0, n - 1, *rng.sample(range(n), 6)})) for n in range(129, 301)]
    sizes += [(n, sorted({0, n - 1, *rng.sample(range(n), 14)})) for n in (1000, 1023, 1024, 1025, 2047, 2048, 4097, 4100)]
    for n, idxs in sizes:
        root = tree.root(n)
        for i in idxs:
            proof = tree.inclusion_proof(i, n)
            e = entries[i]
            cases.append((e, i, n, proof, root, "valid"))
            if proof:
                bad = list(proof)
                j = rng.randrange(len(bad))
                bad[j] = bytes([bad[j][0] ^ 1]) + bad[j][1:]
                cases.append((e, i, n, bad, root, "wrong proof"))
                cases.append((e, i, n, proof[:-1], root, "short proof"))
            cases.append((e, i, n, [*proof, rng.randbytes(32)], root, "long proof"))
            if n > 1:
                cases.append((e, (i + 1 + rng.randrange(n - 1)) % n, n, proof, root, "wrong index"))
            cases.append((e, i, n + 1, proof, tree.root(n + 1), "wrong size"))
            cases.append((e, n, n, proof, root, "index >= size"))
            cases.append((e[:-1] + bytes([e[-1] ^ 0x80]) if e else b"\x00", i, n, proof, root, "wrong entry"))
            cases.append((e, i, n, proof, rng.randbytes(32), "wrong root"))
    datas = [registry._tx("verifyLogInclusion", e, i, n, p, r)["data"] for e, i, n, p, r, _ in cases]
    onchain = _eth_calls(anvil.url, registry.address, datas)
    kinds: dict[str, list[int]] = {}
    for (e, i, n, p, r, kind), got in zip(cases, onchain, strict=True):
        want = verify_inclusion(leaf_hash(e), i, n, p, r)
        assert got == want, (kind, i, n)
        stats = kinds.setdefault(kind, [0, 0])
        stats[0] += 1
        stats[1] += want
    print("\nverifyLogInclusion vs tlog.verify_inclusion:",
          {k: f"{ok}/{total} valid" for k, (total, ok) in kinds.items()})
    assert kinds["valid"][0] == kinds["valid"][1] > 8000  # every index of the trees of 1..128
    for k, (total, ok) in kinds.items():
        if k != "valid":
            assert ok == 0 and total > 0, k


# ---------------------------------------------------------------------------- minting from the log


def _log_with(tmp_path, entries: list[LogEntry]) -> tuple[RegistrationLog, list[int], list[bytes]]:
    log = RegistrationLog(tmp_path / "log", interval_s=0.05)
    futs = [log.append_bytes(e.encode()) for e in entries]
    idxs = [f.result(timeout=30) for f in futs]
    return log, idxs, [e.encode() for e in entries]


def test_mint_with_log_proof_full_flow(registry, chain, tmp_path):
    owner = funded(chain)
    e_relay = private_entry(chain, registry, cid="bafkreirelayed")
    e_nocid = private_entry(chain, registry, owner=owner.address, cid="")
    e_unbound = private_entry(chain, registry, bind=False, cid="bafkreiunbound")
    e_mint_kind = private_entry(chain, registry, kind=EntryKind.MINT, token_id=7)
    e_chain = private_entry(chain, registry, chain_id=chain.chain_id + 1)
    e_contract = private_entry(chain, registry, contract=Account.create().address)
    e_dup = private_entry(chain, registry)
    e_later = private_entry(chain, registry, cid="bafkreilater")
    filler = [private_entry(chain, registry) for _ in range(20)]
    first = [e_relay, *filler[:10], e_nocid, e_unbound, e_mint_kind, e_chain, e_contract, e_dup, *filler[10:]]
    log, idxs, raw = _log_with(tmp_path, first)
    try:
        at = {e: (i, b) for e, i, b in zip(first, idxs, raw, strict=True)}
        size = log.checkpoint.size
        assert size == len(first)
        registry.anchor_log(size, log.checkpoint.root)

        def args(e: LogEntry, n: int = size) -> tuple[bytes, int, int, list[bytes]]:
            i, b = at[e]
            return b, i, n, log.store.inclusion_proof(i, n)

        # a relayer (the deployer) mints for the entry's owner
        assert registry.verify_log_inclusion(*args(e_relay), log.checkpoint.root)
        m = registry.mint_with_log_proof(*args(e_relay))
        owner_addr = chain.w3.to_checksum_address(e_relay.owner)
        assert registry.owner_of(m.token_id) == owner_addr != chain.address
        assert registry.content_hash_of(m.token_id) == e_relay.content_hash
        assert registry.token_of_content(e_relay.content_hash) == m.token_id
        assert registry.token_uri(m.token_id) == "ipfs://bafkreirelayed"
        receipt = chain.rpc.receipts([m.tx_hash])[0]
        evs = {e.name: e.args for e in registry.decode_logs(receipt["logs"])}
        assert evs["Registered"] == {"tokenId": m.token_id, "owner": owner_addr,
                                     "contentHash": e_relay.content_hash, "metadataCid": "bafkreirelayed"}
        assert evs["MintedFromLog"] == {"tokenId": m.token_id, "logIndex": at[e_relay][0], "treeSize": size}

        # one token per content hash, whichever path came first
        e = revert(registry.mint_with_log_proof, *args(e_relay))
        assert e.name == "ContentAlreadyRegistered" and e.args_ == ("0x" + e_relay.content_hash.hex(), m.token_id)
        assert revert(registry.mint, chain.address, e_relay.content_hash, "x").name == "ContentAlreadyRegistered"
        registry.mint(chain.address, e_dup.content_hash, "bafkreiplainfirst")
        assert revert(registry.mint_with_log_proof, *args(e_dup)).name == "ContentAlreadyRegistered"

        # the proof must be against an anchored size and verify there
        b, i, _, _ = args(filler[0])
        e = revert(registry.mint_with_log_proof, b, i, size - 1, log.store.inclusion_proof(i, size - 1))
        assert e.name == "UnknownLogSize" and e.args_ == (size - 1,)
        e = revert(registry.mint_with_log_proof, b, i, size, log.store.inclusion_proof(i, size - 1))
        assert e.name == "InvalidLogProof" and e.args_ == (i, size)
        e = revert(registry.mint_with_log_proof, b, (i + 1) % size, size, log.store.inclusion_proof(i, size))
        assert e.name == "InvalidLogProof"

        # a tampered entry: another owner, content hash or CID no longer hashes to the leaf
        _, _, _, proof = args(filler[1])
        for off in (63, 83, 100, len(raw[0]) - 1):
            t = bytearray(at[filler[1]][1])
            t[off] ^= 0x01
            assert revert(registry.mint_with_log_proof, bytes(t), at[filler[1]][0], size, proof).name == "InvalidLogProof"

        # entries of another kind, or bound to another chain / contract, are refused even with a valid proof
        e = revert(registry.mint_with_log_proof, *args(e_mint_kind))
        assert e.name == "NotALogRegistration" and e.args_ == (1,)
        e = revert(registry.mint_with_log_proof, *args(e_chain))
        assert e.name == "LogEntryWrongChain" and e.args_ == (chain.chain_id + 1, chain.chain_id)
        e = revert(registry.mint_with_log_proof, *args(e_contract))
        assert e.name == "LogEntryWrongContract"
        assert e.args_ == (chain.w3.to_checksum_address(e_contract.contract), registry.address)

        # the CID: the entry's wins; a different argument is refused
        e = revert(registry.mint_with_log_proof, *args(filler[2]), "bafkreiother")
        assert e.name == "LogMetadataCidMismatch" and e.args_ == ("bafkreilogentry", "bafkreiother")
        m2 = registry.mint_with_log_proof(*args(filler[2]), "bafkreilogentry")
        assert registry.token_uri(m2.token_id) == "ipfs://bafkreilogentry"

        # an entry without a CID: only its owner mints, and names the CID
        e = revert(registry.mint_with_log_proof, *args(e_nocid), "bafkreichosen")
        assert e.name == "NotLogEntryOwner" and e.args_ == (owner.address, chain.address)
        as_owner = Registry(owner, registry.address)
        assert revert(as_owner.mint_with_log_proof, *args(e_nocid)).name == "EmptyMetadataCid"
        m3 = as_owner.mint_with_log_proof(*args(e_nocid), "bafkreichosen")
        assert registry.owner_of(m3.token_id) == owner.address and registry.token_uri(m3.token_id) == "ipfs://bafkreichosen"

        # an entry naming no chain and no contract is accepted (the anchor binds the log here)
        m4 = registry.mint_with_log_proof(*args(e_unbound))
        assert registry.token_of_content(e_unbound.content_hash) == m4.token_id

        # a later anchor: proofs against the earlier anchored size stay valid, new entries mint too
        later = [e_later, *[private_entry(chain, registry) for _ in range(5)]]
        futs = [log.append_bytes(e.encode()) for e in later]
        li = [f.result(timeout=30) for f in futs]
        size2 = log.checkpoint.size
        receipt = log.receipt(li[0])  # the JSON receipt the service hands out
        with pytest.raises(InvalidInputError, match=f"size {size2} is not anchored .*latest anchor: size {size};"):
            registry.build_mint_with_log_receipt(receipt)
        registry.anchor_log(size2, log.checkpoint.root)
        m5 = registry.mint_with_log_proof(*args(filler[3], size))
        m6 = registry.mint_with_log_receipt(receipt)
        with pytest.raises(InvalidInputError, match="root differs"):
            registry.build_mint_with_log_receipt({**receipt, "root": "0x" + os.urandom(32).hex()})
        assert registry.token_of_content(filler[3].content_hash) == m5.token_id
        assert registry.token_of_content(e_later.content_hash) == m6.token_id
        assert registry.total_minted() == 7
    finally:
        log.close()


def test_malformed_entries_are_refused_with_a_reason(registry, chain):
    registry.anchor_log(1, os.urandom(32))
    good = private_entry(chain, registry).encode()

    def reason(entry: bytes) -> tuple[str, tuple]:
        e = revert(registry.mint_with_log_proof, entry, 0, 1, [])
        return e.name, e.args_

    def with_byte(off: int, v: int) -> bytes:
        b = bytearray(good)
        b[off] = v
        return bytes(b)

    assert reason(good[:164]) == ("MalformedLogEntry", ("shorter than the 165-byte header",))
    assert reason(b"") == ("MalformedLogEntry", ("shorter than the 165-byte header",))
    assert reason(with_byte(0, 2)) == ("MalformedLogEntry", ("unknown format version",))
    assert reason(with_byte(1, 9)) == ("NotALogRegistration", (9,))
    assert reason(with_byte(2, good[2] | 0x10)) == ("MalformedLogEntry", ("unknown flag bits",))
    assert reason(good + b"x") == ("MalformedLogEntry", ("CID length does not match the entry length",))
    assert reason(good[:-1]) == ("MalformedLogEntry", ("CID length does not match the entry length",))
    assert reason(with_byte(2, good[2] | 0x02)) == ("MalformedLogEntry", ("a private registration names no token id",))
    assert reason(with_byte(40, 1)) == ("MalformedLogEntry", ("token id absent but not zero",))
    assert reason(with_byte(120, 1)) == ("MalformedLogEntry", ("tx hash absent but not zero",))
    assert reason(with_byte(150, 1)) == ("MalformedLogEntry", ("block absent but not zero",))
    unbound = private_entry(chain, registry, bind=False).encode()
    b = bytearray(unbound)
    b[20] = 1
    assert reason(bytes(b)) == ("MalformedLogEntry", ("contract absent but not zero",))
    # well-formed but not in the anchored tree
    assert reason(good) == ("InvalidLogProof", (0, 1))
    # a Python-decodable entry is what the contract reads: same owner, hash, CID
    d = LogEntry.decode(good)
    assert d.kind == EntryKind.PRIVATE and d.contract == bytes.fromhex(registry.address[2:])


# ---------------------------------------------------------------------------- gas


def perfect_tree_path(leaf: bytes, index: int, depth: int, rng: random.Random) -> tuple[list[bytes], bytes]:
    """A random audit path of ``leaf`` at ``index`` in a perfect tree of 2^depth leaves, and the
    root it folds to (for tree sizes too large to build; checked by the Rust verifier)."""
    path = [rng.randbytes(32) for _ in range(depth)]
    r = leaf
    for level, p in enumerate(path):
        r = tlog.node_hash(p, r) if index >> level & 1 else tlog.node_hash(r, p)
    assert verify_inclusion(leaf, index, 1 << depth, path, r)
    return path, r


def test_log_proof_mint_gas_by_tree_size(registry, chain):
    """Gas of mintWithLogProof at tree sizes 1 .. 2^40 next to a plain mint of the same CID
    (printed for bench/README.md; gas is deterministic, nothing timed). Trees up to 2^20 are
    built with the library; 2^30 and 2^40 are perfect trees folded from a random path."""
    rng = random.Random(1)
    cid = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"  # a CIDv1 raw-leaf length
    plain = registry.mint(chain.address, os.urandom(32), cid)
    rows = []
    anchors = []
    for size in (1, 1_000, 1_000_000, 1 << 20, 1 << 30, 1 << 40):
        entry = private_entry(chain, registry, cid=cid).encode()
        index = size // 2 + 1 if size > 2 else 0
        if size <= 1 << 20:
            tree = tlog.LogTree()
            tree.append_leaf_hashes(rng.randbytes(32 * index) + leaf_hash(entry) + rng.randbytes(32 * (size - index - 1)))
            proof, root = tree.inclusion_proof(index, size), tree.root(size)
            del tree
        else:
            proof, root = perfect_tree_path(leaf_hash(entry), index, size.bit_length() - 1, rng)
        anchors.append(registry.anchor_log(size, root).gas_used)
        assert registry.verify_log_inclusion(entry, index, size, proof, root)
        m = registry.mint_with_log_proof(entry, index, size, proof)
        assert registry.token_of_content(LogEntry.decode(entry).content_hash) == m.token_id
        rows.append((size, len(proof), m.gas_used))
    print(f"\nanchorLog gas: first {anchors[0]:,}, later {anchors[1]:,}")
    print("| tree size | proof hashes | mintWithLogProof gas | plain mint gas | ratio |")
    print("|---:|---:|---:|---:|---:|")
    for size, plen, gas in rows:
        print(f"| {size:,} | {plen} | {gas:,} | {plain.gas_used:,} | {gas / plain.gas_used:.2f} |")
    per_hash = (rows[-1][2] - rows[1][2]) / (rows[-1][1] - rows[1][1])
    print(f"per proof hash: {per_hash:.0f} gas")
    assert [r[1] for r in rows] == [0, 10, 20, 20, 30, 40]
    g = [r[2] for r in rows]
    assert g[0] < g[1] < g[2] and g[3] < g[4] < g[5]  # each 10 more proof hashes cost more
    assert all(plain.gas_used < g < plain.gas_used + 70_000 for _, _, g in rows)
    assert 500 < per_hash < 3000  # calldata (32 bytes) + one SHA-256 precompile call per level


def test_log_functions_on_the_in_process_evm(tmp_path):
    """The embedded default chain (py-evm) runs the same SHA-256 precompile path."""
    chain = Chain.connect("tester://")
    registry = Registry.deploy(chain)
    entries = [private_entry(chain, registry, cid=f"bafkreitester{i}") for i in range(7)]
    log, idxs, raw = _log_with(tmp_path, entries)
    try:
        cp = log.checkpoint
        registry.anchor_log(cp.size, cp.root)
        for i, b in zip(idxs, raw, strict=True):
            assert registry.verify_log_inclusion(b, i, cp.size, log.store.inclusion_proof(i, cp.size), cp.root)
            assert not registry.verify_log_inclusion(b, i, cp.size, log.store.inclusion_proof(i, cp.size), bytes(32))
        m = registry.mint_with_log_proof(raw[3], idxs[3], cp.size, log.store.inclusion_proof(idxs[3], cp.size))
        assert registry.owner_of(m.token_id) == chain.w3.to_checksum_address(entries[3].owner)
        assert registry.token_uri(m.token_id) == "ipfs://bafkreitester3"
    finally:
        log.close()
