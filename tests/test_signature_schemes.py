"""One signature-scheme registry (nftreg.signatures.schemes) behind the API, the CLI and the
OpenAPI schema: the same items get the same verdicts through `POST /v1/verify/signatures` and
`nftreg verify signatures`, including hex-encoded messages (the two used to disagree: the CLI
read any message starting with 0x as hex, the API only with "encoding": "hex")."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from api_server import LiveServer
from eth_account import Account
from eth_account.messages import encode_defunct
from nacl.signing import SigningKey
from nftreg.settings import Settings
from nftreg.signatures.schemes import SCHEMES, openapi_item_schema, verify_items

TYPED = {
    "types": {"EIP712Domain": [{"name": "name", "type": "string"}, {"name": "chainId", "type": "uint256"}],
              "Note": [{"name": "text", "type": "string"}, {"name": "n", "type": "uint256"}]},
    "primaryType": "Note", "domain": {"name": "nftreg", "chainId": 31337},
    "message": {"text": "ภูเก็ต", "n": 7},
}


def _items() -> list[Any]:
    acct = Account.from_key(b"\x11" * 32)
    sk = SigningKey(b"\x22" * 32)
    pk = "0x" + bytes(sk.verify_key).hex()
    raw = b"\x00\xffbinary \xe0\xb8"  # not UTF-8: only signable as bytes
    hex_text = "0x" + raw.hex()  # the same bytes written as hex, also a valid text message

    def s191(msg: bytes) -> str:
        return "0x" + bytes(acct.sign_message(encode_defunct(primitive=msg)).signature).hex()

    def sed(msg: bytes) -> str:
        return "0x" + sk.sign(msg).signature.hex()

    sig712 = "0x" + bytes(Account.sign_typed_data(acct.key, full_message=TYPED).signature).hex()
    return [
        {"scheme": "eip191", "message": "ภูเก็ต", "signature": s191("ภูเก็ต".encode()), "address": acct.address},
        # hex message: the bytes were signed, and the item says so
        {"scheme": "eip191", "message": hex_text, "encoding": "hex", "signature": s191(raw), "address": acct.address},
        # the same hex text without "encoding": it is text, so the signature over the bytes fails ...
        {"scheme": "eip191", "message": hex_text, "signature": s191(raw), "address": acct.address},
        # ... and a signature over the text itself holds
        {"scheme": "eip191", "message": hex_text, "signature": s191(hex_text.encode()), "address": acct.address},
        {"scheme": "eip191", "message": "zz", "encoding": "hex", "signature": s191(b"x"), "address": acct.address},
        {"scheme": "eip191", "message": "x", "encoding": "base64", "signature": s191(b"x"), "address": acct.address},
        {"scheme": "eip191", "message": "x", "signature": s191(b"x"), "address": acct.address.lower()},
        {"scheme": "eip191", "message": "x", "signature": s191(b"x"),
         "address": acct.address[:2] + acct.address[2:].swapcase()},
        {"scheme": "ed25519", "message": hex_text, "encoding": "hex", "signature": sed(raw), "public_key": pk},
        {"scheme": "ed25519", "message": hex_text, "signature": sed(raw), "public_key": pk},
        {"scheme": "ed25519", "message": "สวัสดี", "signature": sed("สวัสดี".encode()), "public_key": pk[2:]},
        {"scheme": "eip712", "typed_data": TYPED, "signature": sig712, "address": acct.address},
        {"scheme": "eip712", "typed_data": json.dumps(TYPED), "signature": sig712, "address": acct.address},
        {"scheme": "rsa", "signature": "00"},
        {"scheme": "eip191", "message": "x", "address": acct.address},
        "not an object",
    ]


EXPECTED = [True, True, False, True, False, False, True, False, True, False, True, True, False, False, False, False]


def test_registry_verdicts_and_errors():
    res = verify_items(_items())
    assert [ok for ok, _ in res] == EXPECTED
    errors = [err for _, err in res]
    assert "not hex" in errors[4] and "encoding" in errors[5] and "checksum" in errors[7]
    assert "typed_data" in errors[12] and "scheme must be one of eip191, eip712, ed25519" in errors[13]
    assert errors[14] == "signature: required" and errors[15] == "item must be an object"
    assert errors[0] is None and errors[2] is None  # a wrong signature is invalid, not malformed


def test_cli_and_api_give_identical_verdicts(tmp_path: Path):
    items = _items()
    cli = subprocess.run([sys.executable, "-m", "nftreg", "verify", "signatures", "-"], capture_output=True, text=True, check=False,
                         input="\n".join(json.dumps(x) for x in items) + "\n", timeout=120, env=os.environ.copy())
    assert cli.returncode == 4, cli.stderr
    cli_out = [json.loads(line) for line in cli.stdout.splitlines()]
    settings = Settings(data_dir=tmp_path, rpc_url="tester://", env="test", admin_api_key="k" * 32)
    with LiveServer(settings) as srv, srv.client() as c:
        r = c.post("/v1/verify/signatures", json={"items": items})
        assert r.status_code == 200, r.text
        api_out = r.json()["results"]
        spec = c.get("/openapi.json").json()
    assert [x["valid"] for x in cli_out] == [x["valid"] for x in api_out] == EXPECTED
    for i, (a, b) in enumerate(zip(cli_out, api_out)):
        assert ("error" in a) == ("error" in b), (i, a, b)
        if "error" in b:
            assert b["error"] == f"items[{i}]: {a['error']}"
    # the OpenAPI enum is the registry's list
    body = spec["paths"]["/v1/verify/signatures"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body["properties"]["items"]["items"]["properties"]["scheme"]["enum"] == list(SCHEMES)
    assert openapi_item_schema()["properties"]["scheme"]["enum"] == ["eip191", "eip712", "ed25519"]


@pytest.mark.parametrize("name", ["eip191", "eip712", "ed25519"])
def test_every_scheme_has_a_parser_and_a_batch_verifier(name):
    s = SCHEMES[name]
    assert s.name == name and callable(s.parse) and callable(s.verify) and s.description


def test_a_scheme_whose_every_item_is_malformed_is_no_batch():
    # found by the schema fuzzer: a group left empty by a failed parse, a lone surrogate in a
    # message, an unhashable scheme name
    res = verify_items([{"scheme": "eip191", "message": "\udbcc", "signature": "00", "address": "0x" + "11" * 20},
                        {"scheme": ["eip191"]}, {"scheme": "ed25519", "message": "x", "signature": "zz"}])
    assert res == [(False, "message: not valid Unicode text (a lone surrogate)"),
                   (False, "scheme must be one of eip191, eip712, ed25519"), (False, "signature: not hex")]
