"""``nftreg cid``: CIDs and content hashes computed locally."""

from __future__ import annotations

from pathlib import Path

import typer

from nftreg.cli.common import emit, progress


def cid_cmd(
    files: list[Path] = typer.Argument(..., exists=True, dir_okay=False, help="files to hash"),
    profile: str = typer.Option("unixfs-v1-2025", help="unixfs-v1-2025 (default) or unixfs-v0-2015"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """CID (as Kubo's `ipfs add` gives it) and SHA-256 content hash of each FILE, computed locally."""
    from nftreg.cid import cid_of, content_hash

    for f in files:
        with progress(f"hashing {f} ({f.stat().st_size:,} bytes)"):
            cid, h = cid_of(f, profile=profile), "0x" + content_hash(f).hex()
        emit({"file": str(f), "cid": cid, "content_hash": h, "profile": profile}, as_json, f"{cid}  {h}  {f}")
