"""Media type from the first bytes of the content; the client's Content-Type is never trusted."""

from __future__ import annotations

_MAGIC: list[tuple[bytes, int, str]] = [
    (b"\x89PNG\r\n\x1a\n", 0, "image/png"),
    (b"\xff\xd8\xff", 0, "image/jpeg"),
    (b"GIF87a", 0, "image/gif"),
    (b"GIF89a", 0, "image/gif"),
    (b"%PDF-", 0, "application/pdf"),
    (b"PK\x03\x04", 0, "application/zip"),
    (b"OggS", 0, "audio/ogg"),
    (b"ID3", 0, "audio/mpeg"),
    (b"fLaC", 0, "audio/flac"),
    (b"\x1a\x45\xdf\xa3", 0, "video/webm"),
    (b"glTF", 0, "model/gltf-binary"),
]


def sniff(head: bytes) -> str:
    for magic, off, mt in _MAGIC:
        if head[off:off + len(magic)] == magic:
            return mt
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "audio/wav"
    if head[4:8] == b"ftyp":
        return "video/mp4"
    stripped = head.lstrip()
    if stripped[:5].lower() == b"<?xml" or stripped[:4].lower() == b"<svg":
        return "image/svg+xml" if b"<svg" in head.lower() else "application/xml"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        # a multi-byte character cut at the end of the sniffed window is still text
        try:
            text = head[:-3].decode("utf-8")
        except UnicodeDecodeError:
            return "application/octet-stream"
    if stripped[:1] in (b"{", b"["):
        return "application/json"
    if all(c.isprintable() or c in "\r\n\t" for c in text[:512]):
        return "text/plain; charset=utf-8"
    return "application/octet-stream"
