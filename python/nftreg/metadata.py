"""ERC-721 metadata JSON: validated, NFC-normalised, canonically serialised so the same metadata
always has the same bytes and therefore the same CID, in Thai or any other script."""

from __future__ import annotations

import json
import math
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any

from nftreg.errors import InvalidInputError

__all__ = ["build_metadata", "canonical_json", "normalise"]

MAX_STRING = 10_000
URI_SCHEMES = ("ipfs://", "https://")


def normalise(value: Any, path: str = "metadata") -> Any:
    """NFC-normalise every string (keys too); reject what JSON cannot carry faithfully."""
    if isinstance(value, str):
        if len(value) > MAX_STRING:
            raise InvalidInputError(f"{path}: string longer than {MAX_STRING} characters")
        if any(0xD800 <= ord(c) <= 0xDFFF for c in value):
            raise InvalidInputError(f"{path}: lone surrogate in string")
        return unicodedata.normalize("NFC", value)
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidInputError(f"{path}: NaN and infinities are not JSON")
        return value
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise InvalidInputError(f"{path}: keys must be strings")
            nk = unicodedata.normalize("NFC", k)
            if nk in out:
                raise InvalidInputError(f"{path}: keys {k!r} collide after NFC normalisation")
            out[nk] = normalise(v, f"{path}.{nk}")
        return out
    if isinstance(value, (list, tuple)):
        return [normalise(v, f"{path}[{i}]") for i, v in enumerate(value)]
    raise InvalidInputError(f"{path}: {type(value).__name__} is not JSON")


def _uri(value: Any, field: str) -> str:
    if not isinstance(value, str) or not value.startswith(URI_SCHEMES) or any(c.isspace() for c in value):
        raise InvalidInputError(f"{field}: expected an ipfs:// or https:// URI, got {value!r}")
    if value.startswith("ipfs://"):
        cid = value[len("ipfs://"):].split("/", 1)[0]
        # CIDs nftreg computes (Qm… and b…) are checked in full; other multibase forms only
        # for their alphabet, so links to content made elsewhere stay possible.
        if not cid.isascii() or not cid.isalnum() or (cid.startswith(("Qm", "baf")) and not _valid_cid(cid)):
            raise InvalidInputError(f"{field}: {cid!r} in {value!r} is not a CID")
    elif len(value) <= len("https://"):
        raise InvalidInputError(f"{field}: {value!r} has no host")
    return value


def _valid_cid(cid: str) -> bool:
    from nftreg import _core

    try:
        _core.cid.cid_info(cid)
    except ValueError:
        return False
    return True


def build_metadata(
    *,
    name: str,
    description: str | None = None,
    image: str | None = None,
    attributes: Sequence[Mapping[str, Any]] | Mapping[str, Any] | None = None,
    external_url: str | None = None,
    animation_url: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A validated ERC-721 metadata object (OpenSea-style ``attributes`` list). ``attributes``
    may also be a plain mapping ``{trait: value}``."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidInputError("name: required, a non-empty string")
    meta: dict[str, Any] = {"name": name}
    if description is not None:
        if not isinstance(description, str):
            raise InvalidInputError("description: expected a string")
        meta["description"] = description
    if image is not None:
        meta["image"] = _uri(image, "image")
    if animation_url is not None:
        meta["animation_url"] = _uri(animation_url, "animation_url")
    if external_url is not None:
        meta["external_url"] = _uri(external_url, "external_url")
    if attributes is not None:
        items = [{"trait_type": k, "value": v} for k, v in attributes.items()] if isinstance(attributes, Mapping) else list(attributes)
        out = []
        for i, a in enumerate(items):
            if not isinstance(a, Mapping) or "value" not in a:
                raise InvalidInputError(f"attributes[{i}]: expected {{trait_type, value}}")
            if "trait_type" in a and not isinstance(a["trait_type"], str):
                raise InvalidInputError(f"attributes[{i}].trait_type: expected a string")
            if not isinstance(a["value"], (str, int, float)) or isinstance(a["value"], bool):
                raise InvalidInputError(f"attributes[{i}].value: expected a string or a number")
            out.append(dict(a))
        meta["attributes"] = out
    for k, v in (extra or {}).items():
        if k in meta:
            raise InvalidInputError(f"extra.{k}: would overwrite a standard field")
        meta[k] = v
    return normalise(meta)


def canonical_json(meta: Mapping[str, Any]) -> bytes:
    """Canonical UTF-8 JSON: NFC strings, sorted keys, no insignificant whitespace, non-ASCII
    written as UTF-8 (not \\u escapes). Same metadata, same bytes, same CID."""
    return json.dumps(normalise(meta), ensure_ascii=False, sort_keys=True, separators=(",", ":"),
                      allow_nan=False).encode("utf-8")
