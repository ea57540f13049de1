"""ERC-721 metadata: validation, NFC normalisation and canonical bytes, so the same metadata
always has the same CID (Thai, emoji, combining marks), checked against a real Kubo too."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nftreg.cid import cid_of
from nftreg.errors import InvalidInputError
from nftreg.ipfs import KuboStore
from nftreg.metadata import build_metadata, canonical_json

THAI = json.loads((Path(__file__).parent / "data" / "thai_titles.json").read_text("utf-8"))["titles"]
IMAGE = "ipfs://bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
TITLE = "ภูเก็ตเมืองอัจฉริยะ"


def nfd(s: str) -> str:
    return unicodedata.normalize("NFD", s)


def test_thai_title_nfd_and_nfc_give_the_same_bytes_and_cid():
    a = build_metadata(name=TITLE, description="e\u0301 🎨", image=IMAGE,
                       attributes={"เมือง": "ภูเก็ต", "year": 2021})
    b = build_metadata(name=nfd(TITLE), description="\u00e9 🎨", image=IMAGE,
                       attributes=[{"trait_type": "เมือง", "value": "ภูเก็ต"}, {"trait_type": "year", "value": 2021}])
    assert canonical_json(a) == canonical_json(b)
    assert cid_of(canonical_json(a)) == cid_of(canonical_json(b))
    text = canonical_json(a).decode("utf-8")
    assert TITLE in text and "\\u" not in text and "é" in text
    assert json.loads(text) == a


def test_canonical_bytes_are_exact():
    meta = build_metadata(name="Café ☕", image=IMAGE, attributes=[{"trait_type": "n", "value": 1.5}],
                          extra={"z": [1, {"b": True, "a": None}]})
    assert canonical_json(meta) == (
        '{"attributes":[{"trait_type":"n","value":1.5}],"image":"' + IMAGE + '",'
        '"name":"Café ☕","z":[1,{"a":null,"b":true}]}').encode("utf-8")


@pytest.mark.parametrize("title", THAI)
def test_every_thai_title_round_trips(title):
    meta = build_metadata(name=title, description=title, attributes={title: title})
    data = canonical_json(meta)
    assert json.loads(data)["name"] == unicodedata.normalize("NFC", title)
    assert canonical_json(build_metadata(name=nfd(title), description=nfd(title), attributes={nfd(title): nfd(title)})) == data


@pytest.mark.parametrize("a,b", [
    ("Tiếng Việt", "Tie\u0302\u0301ng Vie\u0323\u0302t"),     # stacked diacritics, any order
    ("한국어", "\u1112\u1161\u11ab\u1100\u116e\u11a8\u110b\u1165"),  # Hangul syllables vs jamo
    ("Å", "\u212b"),                                              # ANGSTROM SIGN → Å
])
def test_combining_marks_normalise(a, b):
    assert canonical_json(build_metadata(name=a)) == canonical_json(build_metadata(name=b))


def test_emoji_sequences_are_kept_byte_for_byte():
    # ZWJ family, a flag, skin tone and a keycap: NFC must not touch them
    s = "👨‍👩‍👧 🇹🇭 👍🏽 1️⃣"
    assert json.loads(canonical_json(build_metadata(name=s)))["name"] == s


def test_keys_are_normalised_and_collisions_refused():
    meta = build_metadata(name="x", extra={nfd("clé"): 1})
    assert "clé" in meta
    with pytest.raises(InvalidInputError, match="collide"):
        canonical_json({"name": "x", "clé": 1, nfd("clé"): 2})


@settings(max_examples=200, deadline=None)
@given(st.text(st.characters(exclude_categories=("Cs",)), min_size=1).filter(lambda s: s.strip()))
def test_any_text_normal_form_gives_one_encoding(s):
    forms = {canonical_json(build_metadata(name=unicodedata.normalize(f, s), description=s))
             for f in ("NFC", "NFD")}
    assert len(forms) == 1
    assert canonical_json(json.loads(forms.pop())) == canonical_json(build_metadata(name=s, description=s))


@pytest.mark.kubo
def test_kubo_gives_the_same_cid_for_nfd_and_nfc_metadata(kubo):
    store = KuboStore(kubo.api)
    a = store.add_bytes(canonical_json(build_metadata(name=TITLE, image=IMAGE)))
    b = store.add_bytes(canonical_json(build_metadata(name=nfd(TITLE), image=IMAGE)))
    assert a == b == cid_of(canonical_json(build_metadata(name=TITLE, image=IMAGE)))
    assert json.loads(store.cat(a))["name"] == TITLE


@pytest.mark.parametrize("kwargs,match", [
    ({"name": ""}, "name"),
    ({"name": "   "}, "name"),
    ({"name": 5}, "name"),
    ({"name": "x", "description": 3}, "description"),
    ({"name": "x", "image": "http://x"}, "image"),
    ({"name": "x", "image": "ar://abc"}, "image"),
    ({"name": "x", "image": "ipfs://a b"}, "image"),
    ({"name": "x", "image": "ipfs://bafkreinotacid"}, "not a CID"),
    ({"name": "x", "image": "ipfs://"}, "not a CID"),
    ({"name": "x", "image": "https://"}, "host"),
    ({"name": "x", "animation_url": "file:///etc/passwd"}, "animation_url"),
    ({"name": "x", "external_url": "javascript:alert(1)"}, "external_url"),
    ({"name": "x", "attributes": [{"trait_type": "a"}]}, r"attributes\[0\]"),
    ({"name": "x", "attributes": ["a"]}, r"attributes\[0\]"),
    ({"name": "x", "attributes": [{"trait_type": 1, "value": 1}]}, r"attributes\[0\].trait_type"),
    ({"name": "x", "attributes": [{"value": True}]}, r"attributes\[0\].value"),
    ({"name": "x", "extra": {"name": "y"}}, "overwrite"),
    ({"name": "x", "extra": {"f": float("nan")}}, "NaN"),
    ({"name": "x", "extra": {"s": "\ud800"}}, "surrogate"),
    ({"name": "x", "extra": {"s": b"bytes"}}, "bytes is not JSON"),
    ({"name": "x", "extra": {1: "k"}}, "keys must be strings"),
    ({"name": "x" * 10_001}, "longer than"),
])
def test_validation_names_the_field(kwargs, match):
    with pytest.raises(InvalidInputError, match=match):
        build_metadata(**kwargs)


def test_valid_uris_accepted():
    meta = build_metadata(name="x", image="ipfs://QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH/a.png",
                          animation_url="https://example.org/a.mp4", external_url="https://example.org")
    assert meta["image"].endswith("a.png")
