"""What one task does to its lines: verify them with the Rust kernels and say why each bad
item failed. Pure functions over bytes (no Dask here), so the same code runs in a worker and
in-process, and a task's inputs and outputs are plain bytes, ints and strings.

Proof lines are the ``nftreg verify proofs`` format, ``{"root", "leaf_encoding", "value",
"proof"}`` where ``root`` and ``leaf_encoding`` may be left out and given for the whole job.
Signature lines are the ``nftreg verify signatures`` format (``scheme`` = eip191 | eip712 |
ed25519). Blank lines are not items.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from nftreg import _core
from nftreg.errors import NftregError

__all__ = ["ProofJob", "Verdicts", "verify_proof_block", "verify_signature_block"]

_SEGMENT = 256

Verdicts = tuple[list[int], list[bool], list[str | None]]
"""(index of each item among the task's lines, valid, reason when invalid)."""


class ProofJob:
    """The job-wide defaults a proof line may leave out."""

    __slots__ = ("leaf_encoding", "root")

    def __init__(self, root: str | None, leaf_encoding: Sequence[str] | None):
        self.root = root.lower() if root else None
        self.leaf_encoding = list(leaf_encoding) if leaf_encoding else None


def _strip(line: bytes) -> bytes:
    return line.strip(b" \t\r")


def _items(lines: Sequence[bytes]) -> tuple[list[int], list[bytes]]:
    idx, items = [], []
    for i, line in enumerate(lines):
        s = _strip(line)
        if s:
            idx.append(i)
            items.append(s)
    return idx, items


def _body(root: str, enc: Sequence[str], items: Sequence[bytes] | None, body_items: bytes = b"") -> bytes:
    head = json.dumps({"root": root, "leaf_encoding": list(enc)})[:-1].encode()
    return b"".join((head, b',"items":[', b",".join(items) if items is not None else body_items, b"]}"))


def _kernel(root: str, enc: Sequence[str], items: Sequence[bytes] | None, body_items: bytes = b"") -> list[bool]:
    return _core.merkle.verify_proofs_json(_body(root, enc, items, body_items), list(enc), 1 << 62)


def _why_proof_failed(item: Any, root: str | None, enc: Sequence[str] | None) -> str:
    """The reason an item the kernel refused is invalid (run for bad items only)."""
    if not isinstance(item, dict):
        return "malformed line: not a JSON object"
    if root is None:
        return "no root: the line has none and the job gives none"
    if enc is None:
        return "no leaf_encoding: the line has none and the job gives none"
    if "value" not in item or "proof" not in item:
        return "malformed line: needs 'value' and 'proof'"
    try:
        leaf = _core.merkle.standard_leaf_hash(list(enc), item["value"])
    except (NftregError, TypeError, ValueError, OverflowError) as e:
        return f"bad value: {e}"
    proof = item["proof"]
    if not isinstance(proof, list):
        return "bad proof: not a list"
    try:
        reached = bytes(_core.merkle.process_proof(leaf, proof))
    except (NftregError, TypeError, ValueError) as e:
        return f"bad proof: {e}"
    if "0x" + reached.hex() != root.lower():
        return "proof does not lead to the root"
    return "refused by the verifier"


def _line_job(item: Any, job: ProofJob) -> tuple[str | None, tuple[str, ...] | None]:
    if not isinstance(item, dict):
        return job.root, tuple(job.leaf_encoding) if job.leaf_encoding else None
    root = item.get("root", job.root)
    enc = item.get("leaf_encoding", item.get("leafEncoding", job.leaf_encoding))
    root = root.lower() if isinstance(root, str) else None
    enc_t = tuple(enc) if isinstance(enc, list) and all(isinstance(t, str) for t in enc) else None
    return root, enc_t


def verify_proof_block(block: bytes | None, job: ProofJob) -> Verdicts:
    """Verify every non-blank line of ``block`` (lines joined by ``\\n``); one bad line never
    affects another.

    Fast path: the block's lines become the ``items`` of one ``verify_proofs_json`` body (a
    byte replace, no per-line Python), checked against the job's root in Rust with the GIL
    released — when no line names another root or encoding and there are no blank lines. A line
    that is not JSON is found by bisection with parse-only kernel calls and set aside. Otherwise
    each line is parsed here and lines are grouped by (root, encoding), one kernel call per
    group. Only invalid items are looked at again in Python, to say why."""
    if not block:
        return [], [], []
    if (job.root and job.leaf_encoding and b"\n\n" not in block and b"\r" not in block
            and not block.startswith(b"\n") and _all_lines_match_job(block, job)):
        n = block.count(b"\n") + 1
        try:
            valid = _kernel(job.root, job.leaf_encoding, None, body_items=block.replace(b"\n", b","))
            reasons: list[str | None] = [None] * n
        except NftregError:
            # some line is not JSON: find those lines, verify the rest
            lines = block.split(b"\n")
            bad = _malformed(job.root, job.leaf_encoding, lines, 0, len(lines))
            keep = [k for k in range(n) if k not in bad] if bad else list(range(n))
            oks = _kernel(job.root, job.leaf_encoding, [lines[k] for k in keep])
            valid = [False] * n
            reasons = [None] * n
            for k, ok in zip(keep, oks):
                valid[k] = ok
            for k in bad:
                reasons[k] = _reason_of_line(lines[k], job)
            block_lines: list[bytes] | None = lines
        else:
            block_lines = None
        if not all(valid):
            block_lines = block_lines or block.split(b"\n")
            for k, ok in enumerate(valid):
                if not ok and reasons[k] is None:
                    reasons[k] = _reason_of_line(block_lines[k], job)
        return list(range(n)), valid, reasons
    idx, items = _items(block.split(b"\n"))
    return (idx, *_verify_lines_one_by_one(items, job))


def _parses(root: str, enc: Sequence[str], lines: Sequence[bytes]) -> bool:
    """Do these lines make a well-formed body? (A parse-only kernel call: with ``max_items``
    0 the kernel refuses before hashing, naming the item count only if the body parsed.)"""
    try:
        _core.merkle.verify_proofs_json(_body(root, enc, lines), list(enc), 0)
    except NftregError as e:
        return str(e).startswith("at most 0 items")
    return True


def _malformed(root: str, enc: Sequence[str], lines: Sequence[bytes], lo: int, hi: int) -> set[int]:
    """Indices in ``[lo, hi)`` of the lines that are not well-formed items: segments of 256
    lines are parse-checked, and a segment that fails is bisected (a broken line can make the
    parser fail lines later, so the error position cannot be trusted to name it)."""
    bad: set[int] = set()
    for s in range(lo, hi, _SEGMENT):
        bad |= _bisect(root, enc, lines, s, min(hi, s + _SEGMENT))
    return bad


def _bisect(root: str, enc: Sequence[str], lines: Sequence[bytes], lo: int, hi: int) -> set[int]:
    if hi <= lo or _parses(root, enc, lines[lo:hi]):
        return set()
    if hi - lo == 1:
        return {lo}
    mid = (lo + hi) // 2
    return _bisect(root, enc, lines, lo, mid) | _bisect(root, enc, lines, mid, hi)


def _all_lines_match_job(joined: bytes, job: ProofJob) -> bool:
    """True when no line names a root or encoding other than the job's (a byte-level check:
    a line spelling the same root differently takes the slow path, which is still right)."""
    if b'"leafEncoding"' in joined:
        return False
    if b'"root"' not in joined and b'"leaf_encoding"' not in joined:
        return True
    n_root = joined.count(b'"root"')
    if n_root and joined.count(b'"root":"' + str(job.root).encode() + b'"') != n_root:
        return False
    n_enc = joined.count(b'"leaf_encoding"')
    if n_enc:
        spelled = b'"leaf_encoding":' + json.dumps(job.leaf_encoding, separators=(",", ":")).encode()
        spelled_sp = b'"leaf_encoding": ' + json.dumps(job.leaf_encoding).encode()
        if joined.count(spelled) + joined.count(spelled_sp) != n_enc:
            return False
    return True


def _reason_of_line(raw: bytes, job: ProofJob) -> str:
    try:
        item = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as e:
        return f"malformed line: {e}"
    root, enc = _line_job(item, job)
    return _why_proof_failed(item, root, enc)


def _verify_lines_one_by_one(items: Sequence[bytes], job: ProofJob) -> tuple[list[bool], list[str | None]]:
    valid = [False] * len(items)
    reasons: list[str | None] = [None] * len(items)
    groups: dict[tuple[str, tuple[str, ...]], list[int]] = {}
    for k, raw in enumerate(items):
        try:
            item = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as e:
            reasons[k] = f"malformed line: {e}"
            continue
        root, enc = _line_job(item, job)
        if not isinstance(item, dict) or root is None or enc is None:
            reasons[k] = _why_proof_failed(item, root, enc)
            continue
        groups.setdefault((root, enc), []).append(k)
    for (root, enc), ks in groups.items():
        try:
            oks = _kernel(root, enc, [items[k] for k in ks])
        except NftregError as e:
            group = [items[k] for k in ks]
            bad = _malformed(root, enc, group, 0, len(group)) if _parses(root, enc, []) else set()
            if not bad:  # a bad root or encoding fails its group only
                for k in ks:
                    reasons[k] = str(e)
                continue
            for j in bad:
                reasons[ks[j]] = "malformed line: not a proof item the verifier can read"
            ks = [k for j, k in enumerate(ks) if j not in bad]
            oks = _kernel(root, enc, [items[k] for k in ks])
        for k, ok in zip(ks, oks):
            valid[k] = ok
            if not ok:
                reasons[k] = _reason_of_line(items[k], job)
    return valid, reasons


def verify_signature_block(block: bytes | None) -> Verdicts:
    """Verify every non-blank signature line of ``block`` with the scheme registry
    (``nftreg.signatures.schemes``: the rules of ``nftreg verify signatures`` and the service),
    one batch kernel call per scheme."""
    from nftreg.signatures.schemes import verify_items

    idx, items = _items(block.split(b"\n") if block else [])
    parsed: list[Any] = []
    reasons: list[str | None] = [None] * len(items)
    for k, raw in enumerate(items):
        try:
            parsed.append(json.loads(raw))
        except (ValueError, UnicodeDecodeError) as e:
            parsed.append(None)
            reasons[k] = f"malformed line: {e}"
    valid = [False] * len(items)
    for k, (ok, err) in enumerate(verify_items(parsed)):
        if reasons[k] is None:
            valid[k] = ok
            reasons[k] = None if ok else (err or "signature does not verify")
    return idx, valid, reasons
