"""The registry contract through the chain layer, on the in-process EVM and on a real anvil."""

from __future__ import annotations

import json
import os
import random
import subprocess
import threading
import time
from pathlib import Path

import pytest
from eth_account import Account
from nftreg.chain import AnvilProcess, Chain, Registry, Voucher
from nftreg.chain.anvil import ANVIL_DEV_KEY
from nftreg.errors import ContractRevert
from nftreg.keys import Signer
from nftreg.merkle import StandardMerkleTree
from nftreg.signatures import eip712_digest

ROOT = Path(__file__).resolve().parent.parent
ENC = ["address", "bytes32", "string"]
THAI = json.loads((Path(__file__).parent / "data" / "thai_titles.json").read_text("utf-8"))["titles"]


@pytest.fixture(params=["tester", pytest.param("anvil", marks=pytest.mark.anvil)], scope="module")
def chain(request):
    if request.param == "tester":
        c = Chain.connect("tester://")
    else:
        node = request.getfixturevalue("anvil")
        c = Chain.connect(node.url, private_key=node.dev_key)
    yield c


@pytest.fixture(scope="module")
def registry(chain):
    return Registry.deploy(chain, royalty_receiver=chain.address, royalty_bps=250)


def _h(i: int | str) -> bytes:
    return os.urandom(32) if i == "rand" else int(i).to_bytes(32, "big") if isinstance(i, int) else i


def other_chain(chain: Chain, key: bytes | None = None) -> Chain:
    acct = Account.from_key(key or os.urandom(32))
    chain.transact({"to": acct.address, "value": 10**18})
    return Chain(chain.w3, Signer(acct), kind=chain.kind)


def test_mint_uri_and_duplicate_content_hash(registry, chain):
    h = os.urandom(32)
    m = registry.mint(chain.address, h, "bafkreiexample")
    assert registry.owner_of(m.token_id) == chain.address
    assert registry.token_uri(m.token_id) == "ipfs://bafkreiexample"
    assert registry.content_hash_of(m.token_id) == h and registry.token_of_content(h) == m.token_id
    with pytest.raises(ContractRevert) as e:
        registry.mint(chain.address, h, "other")
    assert e.value.name == "ContentAlreadyRegistered" and e.value.args_ == ("0x" + h.hex(), m.token_id)
    with pytest.raises(ContractRevert, match="EmptyMetadataCid"):
        registry.mint(chain.address, os.urandom(32), "")
    with pytest.raises(ContractRevert, match="ERC721NonexistentToken"):
        registry.owner_of(10**9)


def test_roles_enforced(registry, chain):
    outsider = other_chain(chain)
    as_outsider = Registry(outsider, registry.address)
    with pytest.raises(ContractRevert) as e:
        as_outsider.mint(outsider.address, os.urandom(32), "cid")
    assert e.value.name == "AccessControlUnauthorizedAccount" and e.value.args_[0] == outsider.address
    with pytest.raises(ContractRevert, match="AccessControlUnauthorizedAccount"):
        as_outsider.anchor(os.urandom(32), "treecid")
    registry.grant_role("MINTER_ROLE", outsider.address)
    assert registry.has_role("MINTER_ROLE", outsider.address)
    assert as_outsider.mint(outsider.address, os.urandom(32), "cid").token_id > 0


def test_royalties_and_eip4906(registry, chain):
    m = registry.mint(chain.address, os.urandom(32), "v1")
    receiver, amount = registry.contract.functions.royaltyInfo(m.token_id, 10_000).call()
    assert receiver == chain.address and amount == 250
    assert registry.contract.functions.supportsInterface(bytes.fromhex("49064906")).call()
    assert registry.contract.functions.supportsInterface(bytes.fromhex("2a55205a")).call()  # ERC-2981
    receipt = chain.transact(registry.build_set_metadata(m.token_id, "v2"))
    from web3.logs import DISCARD

    updates = registry.contract.events.MetadataUpdate().process_receipt(receipt, errors=DISCARD)
    assert [u["args"]["_tokenId"] for u in updates] == [m.token_id]
    assert registry.token_uri(m.token_id) == "ipfs://v2"


def _claims(n: int, seed: int) -> list[list[str]]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        owner = Account.from_key(rng.randbytes(32)).address
        cid = rng.choice(THAI) if i % 3 == 0 else f"bafkrei{rng.getrandbits(64):x}"
        out.append([owner, "0x" + rng.randbytes(32).hex(), cid])
    return out


@pytest.mark.parametrize("n", [1, 2, 7, 33])
def test_onchain_merkle_proofs_agree_with_nftreg(registry, n):
    claims = _claims(n, seed=n)
    tree = StandardMerkleTree.of(claims, ENC)
    root = tree.root
    for i, c in enumerate(claims):
        proof = tree.get_proof(i)
        leaf = tree.leaf_hash(c)
        assert registry.leaf_hash(*c) == bytes.fromhex(leaf[2:])
        assert registry.verify_proof(root, proof, leaf) is True
        assert StandardMerkleTree.verify(root, ENC, c, proof)
        if proof:
            bad = list(proof)
            bad[0] = "0x" + bytes(b ^ 0xFF for b in bytes.fromhex(bad[0][2:])).hex()
            assert registry.verify_proof(root, bad, leaf) is False
            assert not StandardMerkleTree.verify(root, ENC, c, bad)
    rng = random.Random(n)
    for _ in range(3):
        idx = rng.sample(range(n), rng.randint(1, n))
        mp = tree.get_multiproof(idx)
        leaves = [tree.leaf_hash(v) for v in mp["leaves"]]
        assert registry.verify_multiproof(root, mp["proof"], mp["proof_flags"], leaves) is True
        assert StandardMerkleTree.verify_multiproof(root, ENC, mp)
        if mp["proof_flags"]:
            flags = list(mp["proof_flags"])
            flags[0] = not flags[0]
            onchain = _onchain_or_false(
                lambda mp=mp, flags=flags, leaves=leaves: registry.verify_multiproof(root, mp["proof"], flags, leaves))
            assert onchain is False
            assert not StandardMerkleTree.verify_multiproof(root, ENC, {**mp, "proof_flags": flags})


def _onchain_or_false(fn):
    try:
        return fn()
    except ContractRevert:  # MerkleProofInvalidMultiproof: malformed is rejected on-chain too
        return False


def test_anchor_claim_and_claim_many(registry, chain):
    claims = _claims(20, seed=99)
    tree = StandardMerkleTree.of(claims, ENC)
    with pytest.raises(ContractRevert, match="UnknownRoot"):
        registry.claim(tree.root, *claims[0], tree.get_proof(0))
    registry.anchor(tree.root, "bafytreecid")
    info = registry.anchored(tree.root)
    assert info and info.tree_cid == "bafytreecid" and info.anchorer == chain.address
    with pytest.raises(ContractRevert, match="RootAlreadyAnchored"):
        registry.anchor(tree.root, "again")
    m = registry.claim(tree.root, *claims[0], tree.get_proof(0))
    assert registry.owner_of(m.token_id) == claims[0][0]
    assert registry.is_claimed(tree.root, tree.leaf_hash(claims[0]))
    with pytest.raises(ContractRevert, match="LeafAlreadyClaimed"):
        registry.claim(tree.root, *claims[0], tree.get_proof(0))
    with pytest.raises(ContractRevert, match="InvalidProof"):
        registry.claim(tree.root, *claims[1], tree.get_proof(2))
    mp = tree.get_multiproof([3, 5, 8, 13])
    results = registry.claim_many(tree.root, [tuple(v) for v in mp["leaves"]], mp["proof"], mp["proof_flags"])
    assert sorted(registry.owner_of(r.token_id) for r in results) == sorted(claims[i][0] for i in (3, 5, 8, 13))


def _voucher(registry: Registry, to: str, deadline: int | None = None) -> Voucher:
    now = registry.chain.w3.eth.get_block("latest")["timestamp"]
    return Voucher(to, os.urandom(32), "bafkreivoucher", random.getrandbits(64), deadline if deadline is not None else now + 3600)


def test_vouchers_redeem_once_and_bound_to_chain_and_contract(registry, chain):
    minter_key = chain.signer.account.key
    redeemer = other_chain(chain)
    as_redeemer = Registry(redeemer, registry.address)
    v = _voucher(registry, redeemer.address)
    typed = registry.voucher_typed_data(v)
    assert eip712_digest(typed) == bytes(registry.contract.functions.voucherDigest(v.as_tuple()).call())
    sig = registry.sign_voucher(v, minter_key)
    m = as_redeemer.redeem(v, sig)
    assert registry.owner_of(m.token_id) == redeemer.address
    with pytest.raises(ContractRevert, match="VoucherAlreadyUsed"):
        as_redeemer.redeem(v, sig)
    expired = _voucher(registry, redeemer.address, deadline=1)
    with pytest.raises(ContractRevert, match="VoucherExpired"):
        as_redeemer.redeem(expired, registry.sign_voucher(expired, minter_key))
    # signed for another chain id / another contract: recovers a different signer
    for field, value in (("chainId", chain.chain_id + 1), ("verifyingContract", "0x" + "11" * 20)):
        v2 = _voucher(registry, redeemer.address)
        t = registry.voucher_typed_data(v2)
        t["domain"][field] = value
        bad_sig = bytes(Account.sign_typed_data(minter_key, full_message=t).signature)
        with pytest.raises(ContractRevert) as e:
            as_redeemer.redeem(v2, bad_sig)
        assert e.value.name == "InvalidVoucherSigner" and e.value.args_[0] != chain.address
    v3 = _voucher(registry, redeemer.address)
    with pytest.raises(ContractRevert, match="InvalidVoucherSigner"):
        as_redeemer.redeem(v3, registry.sign_voucher(v3, redeemer.signer.account.key))


def test_concurrent_sends_and_dropped_transaction(registry, chain):
    results, errors = [], []

    def mint_one():
        try:
            results.append(registry.mint(chain.address, os.urandom(32), "c"))
        except Exception as e:  # noqa: BLE001 - collected and asserted below
            errors.append(e)

    threads = [threading.Thread(target=mint_one) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len({r.token_id for r in results}) == 12
    dropped = chain.sign_transaction(registry.build_mint(chain.address, os.urandom(32), "never-sent"))
    chain.reset_nonces()  # the dropped tx never reached the node: its nonce is free again
    m = registry.mint(chain.address, os.urandom(32), "after-drop")
    assert registry.owner_of(m.token_id) == chain.address
    assert not chain.transaction_known(dropped.hash)
    signed = chain.sign_transaction(registry.build_mint(chain.address, os.urandom(32), "twice"))
    assert chain.broadcast(signed) == chain.broadcast(signed) == signed.hash  # same bytes again: harmless
    assert chain.wait_receipt(signed.hash)["status"] == 1


def test_events_rebuild_the_index(registry):
    events = registry.events()
    registered = [e for e in events if e.name == "Registered"]
    assert len(registered) == registry.total_minted()
    for e in registered[:5]:
        assert registry.owner_of(e.args["tokenId"]) is not None


@pytest.mark.anvil
@pytest.mark.parametrize("graceful", [True, False], ids=["graceful", "kill-9"])
def test_managed_anvil_state_survives_restart(tmp_path, graceful):
    proc = AnvilProcess(tmp_path / "anvil")
    proc.start()
    try:
        chain = Chain.connect(proc.url, private_key=ANVIL_DEV_KEY)
        reg = Registry.deploy(chain)
        minted = [reg.mint(chain.address, os.urandom(32), f"c{i}") for i in range(3)]
        time.sleep(2.5)  # --state-interval 1: the state file is rewritten every second
        proc.restart(kill=not graceful)
        chain2 = Chain.connect(proc.url, private_key=ANVIL_DEV_KEY)
        reg2 = Registry.at(chain2, reg.address)
        assert [reg2.owner_of(m.token_id) for m in minted] == [chain.address] * 3
        assert reg2.mint(chain.address, os.urandom(32), "after").token_id == 4
    finally:
        proc.stop()


def test_anvil_url_backend_deploys_once(tmp_path):
    chain = Chain.connect("anvil://", data_dir=tmp_path)
    try:
        r1 = Registry.deploy_once(chain, tmp_path / "registry.json")
        r2 = Registry.deploy_once(chain, tmp_path / "registry.json")
        assert r1.address == r2.address
        assert "key" not in repr(chain.signer).replace("key=<redacted>", "")
    finally:
        chain.close()


def test_shipped_artifacts_are_fresh():
    out = subprocess.run(["node", str(ROOT / "scripts/compile_contracts.js"), "--check"], capture_output=True, text=True, cwd=ROOT, timeout=300, check=False)
    assert out.returncode == 0, out.stderr
