"""Byte ranges of JSON-lines files, read by the task that owns them.

A file is cut into ranges of about ``chunk_bytes``; the range ``[start, end)`` owns every line
that *starts* inside it (a line starts at 0 or just after a ``\\n``), so each line belongs to
exactly one range however the cuts fall. Files are opened with fsspec, so a range can be read
from a local path or any URL the worker can reach (``s3://``, ``https://``, ``memory://`` …);
nothing but the path and two offsets travels to the task.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import fsspec

__all__ = ["ByteRange", "count_line_starts", "normalise_url", "plan_ranges", "read_block"]

_READ_AHEAD = 1 << 16


@dataclass(frozen=True)
class ByteRange:
    """Lines starting in ``[start, end)`` of input number ``file_index`` (``url``)."""

    file_index: int
    url: str
    start: int
    end: int
    chunk_index: int


def normalise_url(path: str | os.PathLike[str]) -> str:
    """A URL every worker resolves to the same file: local paths become absolute."""
    text = os.fspath(path)
    if "://" in text:
        return text
    return os.path.abspath(text)


def plan_ranges(urls: list[str], sizes: list[int], chunk_bytes: int) -> list[ByteRange]:
    """Cut each file into ranges of about ``chunk_bytes`` (the last one takes the remainder)."""
    out: list[ByteRange] = []
    for fi, (url, size) in enumerate(zip(urls, sizes)):
        n = max(1, -(-size // chunk_bytes))
        step = -(-size // n) if size else 0
        for ci in range(n):
            out.append(ByteRange(fi, url, min(ci * step, size), min((ci + 1) * step, size), ci))
    return out


def _open(url: str):
    return fsspec.open(url, "rb").open()


def count_line_starts(url: str, start: int, end: int) -> int:
    """How many lines (blank ones included) start in ``[start, end)``: position p starts a
    line when p == 0 or byte p-1 is a newline."""
    if end <= start:
        return 0
    with _open(url) as f:
        if start == 0:
            f.seek(0)
            data = f.read(end)
            # p = 0 starts a line; p in (0, end) starts one after each newline in [0, end-1)
            return 1 + data.count(b"\n", 0, max(end - 1, 0)) if data else 0
        f.seek(start - 1)
        data = f.read(end - start)
        return data.count(b"\n")


def read_block(url: str, start: int, end: int) -> bytes | None:
    """The lines starting in ``[start, end)`` joined by ``\n``, without the last line end (a
    last line that runs past ``end`` is read to its newline or the end of the file); ``None``
    when no line starts there."""
    if end <= start:
        return None
    with _open(url) as f:
        if start == 0:
            data = f.read(end)
        else:
            f.seek(start - 1)
            data = f.read(end - start + 1)
            nl = data.find(b"\n")
            # the first line starting at or after `start` follows the first newline at >= start-1
            if nl < 0 or nl == len(data) - 1:
                return None
            data = data[nl + 1:]
        if data and not data.endswith(b"\n"):
            tail = bytearray()
            while True:
                more = f.read(_READ_AHEAD)
                if not more:
                    break
                nl = more.find(b"\n")
                if nl >= 0:
                    tail += more[:nl]
                    break
                tail += more
            data += bytes(tail)
        elif data.endswith(b"\n"):
            data = data[:-1]
    return data
