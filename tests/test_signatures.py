"""Batch signature verification against independent implementations: eth-account (EIP-191,
EIP-712) and PyNaCl / libsodium (Ed25519). Every security rule has its own test."""

from __future__ import annotations

import copy
import random

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct, encode_typed_data
from nacl.signing import SigningKey
from nftreg.errors import InvalidInputError
from nftreg.signatures import (
    eip712_digest,
    personal_sign_digest,
    recover_addresses,
    recover_addresses_packed,
    verify_ed25519,
    verify_personal_sign,
    verify_typed_data,
)

N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
RNG = random.Random(712)
ACCOUNTS = [Account.from_key(RNG.randbytes(32)) for _ in range(8)]
THAI = "ภูเก็ตเมืองอัจฉริยะ"


def _sig(r: int, s: int, v: int) -> bytes:
    return r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes([v])


def _split(sig: bytes) -> tuple[int, int, int]:
    return int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:64], "big"), sig[64]


def _signed(i: int = 0, text: str = "hello") -> tuple[str, bytes, bytes, str]:
    acct = ACCOUNTS[i % len(ACCOUNTS)]
    signed = acct.sign_message(encode_defunct(text=text))
    return text, bytes(signed.message_hash), bytes(signed.signature), acct.address


# ---- EIP-191 / recovery ------------------------------------------------------------------

def test_personal_sign_matches_eth_account_for_many_messages():
    msgs, sigs, addrs = [], [], []
    for i in range(200):
        text = f"{THAI} #{i} 🎨" if i % 2 else f"message {i}"
        acct = ACCOUNTS[i % len(ACCOUNTS)]
        msgs.append(text if i % 3 else text.encode())
        sigs.append(acct.sign_message(encode_defunct(text=text)).signature)
        addrs.append(acct.address if i % 4 else acct.address.lower())
    assert verify_personal_sign(msgs, sigs, addrs) == [True] * 200
    shifted = addrs[1:] + addrs[:1]
    assert verify_personal_sign(msgs, sigs, shifted) == [ACCOUNTS[i % 8].address == ACCOUNTS[(i + 1) % 8].address for i in range(200)]


def test_personal_sign_digest_is_eip191():
    from eth_account.messages import _hash_eip191_message

    for text in (THAI, "", "a" * 1000):
        assert personal_sign_digest(text) == bytes(_hash_eip191_message(encode_defunct(text=text)))
    assert personal_sign_digest(b"\x00\xff") == bytes(_hash_eip191_message(encode_defunct(primitive=b"\x00\xff")))


def test_recover_returns_checksummed_addresses_and_none_for_invalid():
    _, digest, sig, addr = _signed()
    bad = bytearray(sig)
    bad[64] = 29
    out = recover_addresses([digest, digest, "0x" + digest.hex()], [sig, bytes(bad), "0x" + sig.hex()])
    assert out == [addr, None, addr]


def test_every_single_bit_flip_fails():
    text, _digest, sig, addr = _signed(1, "flip me")
    msgs, sigs, addrs = [], [], []
    for bit in range(len(text.encode()) * 8):
        m = bytearray(text.encode())
        m[bit // 8] ^= 1 << (bit % 8)
        msgs.append(bytes(m)); sigs.append(sig); addrs.append(addr)
    for bit in range(65 * 8):
        s = bytearray(sig)
        s[bit // 8] ^= 1 << (bit % 8)
        msgs.append(text); sigs.append(bytes(s)); addrs.append(addr)
    for bit in range(160):
        a = bytearray(bytes.fromhex(addr[2:]))
        a[bit // 8] ^= 1 << (bit % 8)
        msgs.append(text); sigs.append(sig); addrs.append(bytes(a))
    assert not any(verify_personal_sign(msgs, sigs, addrs))


def test_high_s_malleated_signature_is_rejected():
    _, digest, sig, addr = _signed(2)
    r, s, v = _split(sig)
    malleated = _sig(r, N - s, 55 - v)  # (r, n-s, flipped v) recovers the same key on a lax verifier
    assert recover_addresses([digest], [malleated]) == [None]
    assert verify_personal_sign(["hello"], [malleated], [addr]) == [False]


def test_v_in_0_1_27_28_accepted():
    _, digest, sig, addr = _signed(3)
    r, s, v = _split(sig)
    parity = v - 27
    same = [_sig(r, s, parity), _sig(r, s, parity + 27)]
    other = [_sig(r, s, 1 - parity), _sig(r, s, 28 - parity)]
    assert recover_addresses([digest] * 2, same) == [addr, addr]
    assert addr not in recover_addresses([digest] * 2, other)


@pytest.mark.parametrize("v", [2, 26, 29, 35, 37, 255])
def test_v_outside_allowed_set_rejected(v):
    _, digest, sig, _ = _signed(3)
    r, s, _ = _split(sig)
    assert recover_addresses([digest], [_sig(r, s, v)]) == [None]


@pytest.mark.parametrize("r,s", [(0, 1), (1, 0), (N, 1), (1, N), (2**256 - 1, 1), (N + 5, 5)])
def test_r_s_out_of_range_rejected(r, s):
    _, digest, _, _ = _signed()
    assert recover_addresses([digest], [_sig(r, s, 27)]) == [None]
    assert recover_addresses([digest], [_sig(r, s, 28)]) == [None]


def test_eip2098_compact_signatures_only_when_allowed():
    _, digest, sig, addr = _signed(4)
    r, s, v = _split(sig)
    compact = r.to_bytes(32, "big") + ((v - 27) << 255 | s).to_bytes(32, "big")
    assert recover_addresses([digest], [compact]) == [None]
    assert recover_addresses([digest], [compact], allow_compact=True) == [addr]
    assert verify_personal_sign(["hello"], [compact], [addr]) == [False]
    assert verify_personal_sign(["hello"], [compact], [addr], allow_compact=True) == [True]


def test_packed_path_matches_list_path():
    digests, sigs, addrs = [], [], []
    for i in range(100):
        _, d, s, a = _signed(i, f"m{i}")
        digests.append(d); sigs.append(s); addrs.append(a)
    sigs[10] = sigs[10][:64] + bytes([40])
    packed, ok = recover_addresses_packed(b"".join(digests), b"".join(sigs))
    assert ok[10] == 0 and packed[200:220] == bytes(20)
    got = [("0x" + packed[20 * i: 20 * i + 20].hex()).lower() if ok[i] else None for i in range(100)]
    assert got == [a.lower() if i != 10 else None for i, a in enumerate(addrs)]
    with pytest.raises(InvalidInputError, match="multiple of 32"):
        recover_addresses_packed(b"\x00" * 33, b"\x00" * 65)
    with pytest.raises(InvalidInputError, match="lengths differ"):
        recover_addresses_packed(b"\x00" * 64, b"\x00" * 65)


def test_batch_shape_errors_raise_but_bad_items_do_not():
    _, d, s, a = _signed()
    with pytest.raises(InvalidInputError, match="lengths differ"):
        recover_addresses([d, d], [s])
    with pytest.raises(InvalidInputError, match="lengths differ"):
        verify_personal_sign(["x"], [s, s], [a])
    with pytest.raises(InvalidInputError, match="must be a list"):
        recover_addresses(d, s)
    assert recover_addresses([b"short", d, d], [s, b"\x01" * 10, "0xnothex"]) == [None, None, None]
    assert verify_personal_sign(["hello", "hello"], [s, s], ["0x1234", 5]) == [False, False]


# ---- EIP-712 ----------------------------------------------------------------------------

MAIL = {
    "types": {
        "EIP712Domain": [
            {"name": "name", "type": "string"}, {"name": "version", "type": "string"},
            {"name": "chainId", "type": "uint256"}, {"name": "verifyingContract", "type": "address"},
        ],
        "Person": [{"name": "name", "type": "string"}, {"name": "wallet", "type": "address"}],
        "Mail": [{"name": "from", "type": "Person"}, {"name": "to", "type": "Person"}, {"name": "contents", "type": "string"}],
    },
    "primaryType": "Mail",
    "domain": {"name": "Ether Mail", "version": "1", "chainId": 1, "verifyingContract": "0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC"},
    "message": {
        "from": {"name": "Cow", "wallet": "0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826"},
        "to": {"name": "Bob", "wallet": "0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB"},
        "contents": "Hello, Bob!",
    },
}

RICH = {
    "types": {
        "EIP712Domain": [
            {"name": "name", "type": "string"}, {"name": "version", "type": "string"},
            {"name": "chainId", "type": "uint256"}, {"name": "verifyingContract", "type": "address"},
            {"name": "salt", "type": "bytes32"},
        ],
        "Attribute": [{"name": "trait", "type": "string"}, {"name": "value", "type": "string"}],
        "Asset": [
            {"name": "owner", "type": "address"}, {"name": "contentHash", "type": "bytes32"},
            {"name": "title", "type": "string"}, {"name": "data", "type": "bytes"},
            {"name": "attributes", "type": "Attribute[]"}, {"name": "tags", "type": "string[]"},
            {"name": "amounts", "type": "uint256[2]"}, {"name": "delta", "type": "int64"},
            {"name": "flag", "type": "bool"}, {"name": "small", "type": "uint8"}, {"name": "sel", "type": "bytes4"},
        ],
        "Voucher": [{"name": "asset", "type": "Asset"}, {"name": "uid", "type": "uint256"}, {"name": "deadline", "type": "uint64"}],
    },
    "primaryType": "Voucher",
    "domain": {"name": "nftreg", "version": "1", "chainId": 31337,
               "verifyingContract": "0x5FbDB2315678afecb367f032d93F642f64180aa3", "salt": "0x" + "ab" * 32},
    "message": {
        "asset": {
            "owner": "0x70997970C51812dc3A010C7d01b50e0d17dc79C8", "contentHash": "0x" + "12" * 32,
            "title": THAI + " 🎨", "data": "0xdeadbeef",
            "attributes": [{"trait": "เมือง", "value": "ภูเก็ต"}, {"trait": "year", "value": "2021"}],
            "tags": ["art", "ศิลปะ", ""], "amounts": [2**255, 7], "delta": -42, "flag": True, "small": 255, "sel": "0x12345678",
        },
        "uid": 2**200 + 3,
        "deadline": 1_900_000_000,
    },
}


def _eth_account_digest(msg):
    from eth_account.messages import _hash_eip191_message
    return bytes(_hash_eip191_message(encode_typed_data(full_message=msg)))


@pytest.mark.parametrize("msg", [MAIL, RICH], ids=["mail", "rich"])
def test_eip712_digest_matches_eth_account(msg):
    assert eip712_digest(msg) == _eth_account_digest(msg)


def test_eip712_spec_mail_digest():
    assert eip712_digest(MAIL).hex() == "be609aee343fb3c4b28e1df9e632fca64fcfaede20f02e86244efddf30957bd2"


def test_eip712_domain_type_inferred_when_absent():
    msg = copy.deepcopy(RICH)
    del msg["types"]["EIP712Domain"]
    assert eip712_digest(msg) == _eth_account_digest(RICH)


def test_eip712_random_messages_match_eth_account_and_verify():
    msgs, sigs, addrs = [], [], []
    for i in range(40):
        m = copy.deepcopy(RICH)
        m["message"]["uid"] = RNG.getrandbits(256)
        m["message"]["asset"]["delta"] = RNG.randint(-(2**63), 2**63 - 1)
        m["message"]["asset"]["title"] = RNG.choice([THAI, "x", "", "e\u0301"]) * RNG.randint(0, 3)
        m["message"]["asset"]["tags"] = ["t"] * RNG.randint(0, 3)
        m["domain"]["chainId"] = RNG.choice([1, 5, 31337, 2**64])
        assert eip712_digest(m) == _eth_account_digest(m)
        acct = ACCOUNTS[i % 8]
        msgs.append(m); sigs.append(acct.sign_typed_data(full_message=m).signature); addrs.append(acct.address)
    assert verify_typed_data(msgs, sigs, addrs) == [True] * 40


def test_eip712_signature_bound_to_chain_and_contract():
    acct = ACCOUNTS[5]
    sig = acct.sign_typed_data(full_message=RICH).signature
    other_chain = copy.deepcopy(RICH); other_chain["domain"]["chainId"] = 1
    other_contract = copy.deepcopy(RICH); other_contract["domain"]["verifyingContract"] = "0x" + "11" * 20
    other_salt = copy.deepcopy(RICH); other_salt["domain"]["salt"] = "0x" + "cd" * 32
    other_uid = copy.deepcopy(RICH); other_uid["message"]["uid"] += 1
    assert verify_typed_data([RICH, other_chain, other_contract, other_salt, other_uid], [sig] * 5, [acct.address] * 5) == [
        True, False, False, False, False]


def test_eip712_bad_items_are_false_and_bad_single_digest_raises():
    acct = ACCOUNTS[0]
    sig = acct.sign_typed_data(full_message=MAIL).signature
    broken = copy.deepcopy(MAIL); del broken["message"]["contents"]
    wrong_type = copy.deepcopy(MAIL); wrong_type["message"]["from"]["wallet"] = "nope"
    assert verify_typed_data([MAIL, broken, wrong_type, "{not json"], [sig] * 4, [acct.address] * 4) == [True, False, False, False]
    with pytest.raises(InvalidInputError, match="message.contents: missing"):
        eip712_digest(broken)
    with pytest.raises(InvalidInputError, match="'Nope' is not the root"):
        eip712_digest({**MAIL, "primaryType": "Nope"})
    with pytest.raises(InvalidInputError, match="unknown type 'Nope'"):
        eip712_digest({**MAIL, "types": {"EIP712Domain": MAIL["types"]["EIP712Domain"], "Mail": [{"name": "x", "type": "Nope"}]},
                       "message": {"x": 1}})


# ---- Ed25519 ----------------------------------------------------------------------------

def _ed_batch(n: int, seed: int = 1):
    rng = random.Random(seed)
    keys = [SigningKey(rng.randbytes(32)) for _ in range(n)]
    msgs = [rng.randbytes(rng.randint(0, 100)) for _ in range(n)]
    sigs = [k.sign(m).signature for k, m in zip(keys, msgs)]
    pks = [bytes(k.verify_key) for k in keys]
    return msgs, sigs, pks


def test_ed25519_matches_pynacl_and_finds_bad_items():
    msgs, sigs, pks = _ed_batch(500)
    assert verify_ed25519(msgs, sigs, pks) == [True] * 500
    bad = set(RNG.sample(range(500), 7))
    sigs2 = [bytes([s[0] ^ 1]) + s[1:] if i in bad else s for i, s in enumerate(sigs)]
    assert [i for i, ok in enumerate(verify_ed25519(msgs, sigs2, pks)) if not ok] == sorted(bad)


def test_ed25519_every_bit_flip_fails():
    msgs, sigs, pks = _ed_batch(1, seed=9)
    m, s, k = msgs[0] or b"x", sigs[0], pks[0]
    s = SigningKey(random.Random(9).randbytes(32)).sign(m).signature
    M, S, K = [], [], []
    for bit in range(len(m) * 8):
        mm = bytearray(m); mm[bit // 8] ^= 1 << (bit % 8); M.append(bytes(mm)); S.append(s); K.append(k)
    for bit in range(512):
        ss = bytearray(s); ss[bit // 8] ^= 1 << (bit % 8); M.append(m); S.append(bytes(ss)); K.append(k)
    for bit in range(256):
        kk = bytearray(k); kk[bit // 8] ^= 1 << (bit % 8); M.append(m); S.append(s); K.append(bytes(kk))
    assert not any(verify_ed25519(M, S, K))


def test_ed25519_rfc8032_vector_and_malformed_items():
    pk = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
    sig = bytes.fromhex("e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b")
    weak = bytes(32)  # small-order point (identity encoding family): refused like libsodium
    assert verify_ed25519([b"", b"", b"", b""], [sig, sig[:63], sig, sig], [pk, pk, pk[:31], weak]) == [True, False, False, False]
    with pytest.raises(InvalidInputError, match="lengths differ"):
        verify_ed25519([b""], [sig, sig], [pk])


def test_ed25519_non_canonical_s_rejected():
    msgs, sigs, pks = _ed_batch(1, seed=3)
    r, s = sigs[0][:32], int.from_bytes(sigs[0][32:], "little")
    L = 2**252 + 27742317777372353535851937790883648493
    non_canonical = r + (s + L).to_bytes(32, "little")
    assert verify_ed25519(msgs, [non_canonical], pks) == [False]


# ---- EIP-712: eth-account's own examples and its validation rules -------------------------

EA_KEY = "0x" + "aa" * 32
EA_DOMAIN = {"name": "Ether Mail", "version": "1", "chainId": 1,
             "verifyingContract": "0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC", "salt": b"decafbeef"}
EA_TYPES = {
    "Person": [{"name": "name", "type": "string"}, {"name": "wallet", "type": "address"}],
    "Mail": [{"name": "from", "type": "Person"}, {"name": "to", "type": "Person"}, {"name": "contents", "type": "string"}],
}
EA_MESSAGE = MAIL["message"]


def test_eth_account_docstring_examples():
    """Both forms of eth-account's `encode_typed_data` docstring example (a 9-byte salt in a
    bytes32 field: right-padded, as eth-abi does)."""
    from eth_account.messages import _hash_eip191_message

    expected = "c5bb16ccc59ae9a3ad1cb8343d4e3351f057c994a97656e1aff8c134e56f7530"
    three_arg = encode_typed_data(EA_DOMAIN, EA_TYPES, EA_MESSAGE)
    assert bytes(_hash_eip191_message(three_arg)).hex() == expected
    full = {
        "types": {"EIP712Domain": [
            {"name": "name", "type": "string"}, {"name": "version", "type": "string"},
            {"name": "chainId", "type": "uint256"}, {"name": "verifyingContract", "type": "address"},
            {"name": "salt", "type": "bytes32"}], **EA_TYPES},
        "primaryType": "Mail", "domain": EA_DOMAIN, "message": EA_MESSAGE,
    }
    assert eip712_digest(full).hex() == expected
    assert eip712_digest({"types": EA_TYPES, "domain": EA_DOMAIN, "message": EA_MESSAGE}).hex() == expected
    signed = Account.sign_typed_data(EA_KEY, full_message=full)
    addr = Account.from_key(EA_KEY).address
    assert recover_addresses([signed.message_hash], [signed.signature]) == [addr]
    assert verify_typed_data([full], [signed.signature], [addr]) == [True]


def test_eip712_domain_hashed_in_canonical_order_like_eth_account():
    msg = copy.deepcopy(MAIL)
    msg["types"]["EIP712Domain"].reverse()
    assert eip712_digest(msg) == _eth_account_digest(msg) == _eth_account_digest(MAIL)


def _both_refuse(msg, match):
    from eth_abi.exceptions import EncodingError
    from eth_utils.exceptions import ValidationError

    with pytest.raises((ValueError, ValidationError, EncodingError)):
        encode_typed_data(full_message=msg)
    with pytest.raises(InvalidInputError, match=match):
        eip712_digest(msg)


def test_eip712_domain_must_match_declared_domain_type():
    """A chainId (or contract) present in the domain but left out of the signed domain type
    would not be bound by the signature: refused, as eth-account refuses it."""
    no_chain_type = copy.deepcopy(MAIL)
    no_chain_type["types"]["EIP712Domain"] = [f for f in MAIL["types"]["EIP712Domain"] if f["name"] != "chainId"]
    _both_refuse(no_chain_type, "EIP712Domain declares")
    no_chain_value = copy.deepcopy(MAIL)
    del no_chain_value["domain"]["chainId"]
    _both_refuse(no_chain_value, "EIP712Domain declares")
    extra_key = copy.deepcopy(MAIL)
    del extra_key["types"]["EIP712Domain"]
    extra_key["domain"]["network"] = "mainnet"
    _both_refuse(extra_key, "invalid key 'network'")


def test_eip712_primary_type_must_be_the_root():
    _both_refuse({**MAIL, "primaryType": "Person"}, "not the root")
    derived = {k: v for k, v in MAIL.items() if k != "primaryType"}
    assert eip712_digest(derived) == _eth_account_digest(derived) == _eth_account_digest(MAIL)
    two_roots = copy.deepcopy(MAIL)
    two_roots["types"]["Other"] = [{"name": "x", "type": "uint256"}]
    _both_refuse(two_roots, "primary type")


def test_eip712_short_bytes_n_padded_long_refused():
    msg = copy.deepcopy(RICH)
    msg["message"]["asset"]["sel"] = "0x12"
    assert eip712_digest(msg) == _eth_account_digest(msg)
    msg["message"]["asset"]["sel"] = "0x1234567890"
    _both_refuse(msg, "at most 4 bytes")


@pytest.mark.parametrize("field,value", [
    ("contents", None),        # eth-account hashes a null string as a zero word
    ("contents", 5),           # eth-account hashes the int's bytes
])
def test_eip712_stricter_than_eth_account_where_it_is_lax(field, value):
    msg = copy.deepcopy(MAIL)
    msg["message"][field] = value
    with pytest.raises(InvalidInputError, match="message.contents"):
        eip712_digest(msg)
    missing = copy.deepcopy(MAIL)
    del missing["message"]["to"]
    with pytest.raises(InvalidInputError, match="message.to: missing"):
        eip712_digest(missing)


def test_eip712_floats_and_odd_objects_refused_with_a_clear_error():
    msg = copy.deepcopy(MAIL)
    msg["domain"]["chainId"] = 1.0
    with pytest.raises(InvalidInputError, match="floats are not allowed"):
        eip712_digest(msg)
    msg["domain"]["chainId"] = object()
    with pytest.raises(InvalidInputError, match="cannot encode object"):
        eip712_digest(msg)
    with pytest.raises(InvalidInputError, match="mapping"):
        eip712_digest(42)


def test_eip712_dicts_text_and_mappings_agree_in_one_batch():
    import json
    from types import MappingProxyType

    from hexbytes import HexBytes

    acct = ACCOUNTS[6]
    items, sigs = [], []
    for i in range(30):
        m = copy.deepcopy(RICH)
        m["domain"]["chainId"] = 1 + i % 11  # more distinct domains than the context cache holds
        m["message"]["uid"] = i
        if i % 5 == 0:
            m["message"]["asset"]["contentHash"] = HexBytes(m["message"]["asset"]["contentHash"])
        sigs.append(acct.sign_typed_data(full_message=m).signature)
        items.append(json.dumps(m, default=lambda b: "0x" + bytes(b).hex()) if i % 3 == 0
                     else MappingProxyType(m) if i % 7 == 0 else m)
    assert verify_typed_data(items, sigs, [acct.address] * 30) == [True] * 30
    # each signature is bound to its own chainId: shifting them by one item must fail all
    assert not any(verify_typed_data(items, sigs[1:] + sigs[:1], [acct.address] * 30))


def test_eip712_equal_looking_domains_do_not_share_a_context():
    """chainId=True and chainId=1 compare equal in Python; the first is not a uint256 and
    must not borrow the context (domain separator) computed for the second."""
    acct = ACCOUNTS[7]
    sig = acct.sign_typed_data(full_message=MAIL).signature
    as_bool = copy.deepcopy(MAIL); as_bool["domain"]["chainId"] = True
    as_float = copy.deepcopy(MAIL); as_float["domain"]["chainId"] = 1.0
    shared_types = copy.deepcopy(MAIL); shared_types["types"] = MAIL["types"]
    assert verify_typed_data([MAIL, as_bool, as_float, shared_types, MAIL], [sig] * 5, [acct.address] * 5) == [
        True, False, False, True, True]


@pytest.mark.parametrize("field,value,match", [
    ("flag", "true", "message.asset.flag"),          # eth-account: any truthy value is true
    ("amounts", [1, 2, 3], "needs exactly 2 items"),  # eth-account hashes any length
    ("data", "not hex", "message.asset.data"),        # eth-account: UTF-8 bytes of the text
])
def test_eip712_lax_values_refused(field, value, match):
    msg = copy.deepcopy(RICH)
    msg["message"]["asset"][field] = value
    with pytest.raises(InvalidInputError, match=match):
        eip712_digest(msg)
    # eth-account signs it; nftreg still refuses the item (False, no exception)
    acct = ACCOUNTS[1]
    signed = acct.sign_typed_data(full_message=msg).signature
    assert verify_typed_data([msg, RICH], [signed, acct.sign_typed_data(full_message=RICH).signature],
                             [acct.address] * 2) == [False, True]
