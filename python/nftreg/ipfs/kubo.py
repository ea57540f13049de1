"""A real Kubo node through ``ipfshttpclient``, and a managed offline Kubo daemon (``KuboProcess``).

``ipfshttpclient.connect()`` refuses every Kubo since 0.9 with an outdated version check, so
the client is constructed directly. Every add sends cid-version, raw-leaves, chunker and
max-file-links explicitly, so the daemon's own Import config can never change our CIDs.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import ipfshttpclient
import ipfshttpclient.exceptions as ipfs_exc

from nftreg import _core
from nftreg.cid import DEFAULT_PROFILE, KUBO_ADD_OPTIONS, PROFILES, cid_of
from nftreg.errors import ContentIntegrityError, InvalidInputError, IpfsError, IpfsUnavailableError
from nftreg.ipfs.base import iter_file_chunks, write_car
from nftreg.managed import ManagedProcess
from nftreg.net import error_gist

__all__ = ["KuboProcess", "KuboStore", "kubo_binary"]


def _to_multiaddr(api: str) -> str:
    if api.startswith("/"):
        return api
    if api.startswith(("http://", "https://")):
        from urllib.parse import urlparse

        u = urlparse(api)
        host = u.hostname or "127.0.0.1"
        proto = "ip6" if ":" in host else ("ip4" if host.replace(".", "").isdigit() else "dns")
        return f"/{proto}/{host}/tcp/{u.port or 5001}/{'https' if u.scheme == 'https' else 'http'}"
    raise InvalidInputError(f"IPFS API address must be a multiaddr (/ip4/127.0.0.1/tcp/5001) or http URL, got {api!r}")


class KuboStore:
    def __init__(self, api: str, *, profile: str = DEFAULT_PROFILE, timeout: float = 30):
        if profile not in PROFILES:
            raise InvalidInputError(f"unknown profile {profile!r}; expected one of {', '.join(PROFILES)}")
        self.profile = profile
        self.api = _to_multiaddr(api)
        self.timeout = timeout
        self._client = ipfshttpclient.Client(self.api, timeout=timeout)

    def __repr__(self) -> str:
        return f"KuboStore({self.api!r}, profile={self.profile!r})"

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (ipfs_exc.ConnectionError, ipfs_exc.TimeoutError) as e:
            raise IpfsUnavailableError(f"IPFS daemon at {self.api} is unreachable during {what} ({error_gist(e)})") from None
        except ipfs_exc.ErrorResponse as e:
            # Kubo answered with its own error message: the daemon works, the request failed.
            raise IpfsError(f"IPFS {what} failed: {e}") from None
        except (ipfs_exc.StatusError, ipfs_exc.ProtocolError, ipfs_exc.DecodingError) as e:
            # An HTTP error without a Kubo error body (a proxy in front of a dead daemon) or a
            # garbled reply: the daemon is not serving.
            raise IpfsUnavailableError(f"IPFS daemon at {self.api} is failing during {what}: {e}") from None
        except ipfs_exc.Error as e:
            raise IpfsError(f"IPFS {what} failed: {e}") from None

    def _add(self, payload: Any, pin: bool, *more: Any) -> Any:
        """``ipfs add`` of ``payload`` (and ``more``, in the same request: one result each, in
        order) with the profile's options."""
        o = KUBO_ADD_OPTIONS[self.profile]
        res = self._call(
            "add", self._client.add, payload, *more, pin=pin, raw_leaves=bool(o["raw-leaves"]),
            cid_version=int(o["cid-version"]),  # type: ignore[call-overload]
            chunker=str(o["chunker"]), opts={"max-file-links": o["max-file-links"]},
        )
        return [r["Hash"] for r in res] if more else res["Hash"]

    def _checked(self, cid: str, expected: str) -> str:
        # A daemon that ignored one of the explicit options (an old Kubo without
        # max-file-links, say) would hand back a CID other tools cannot reproduce.
        if cid != expected:
            raise IpfsError(f"IPFS daemon at {self.api} returned {cid} but profile {self.profile} gives {expected}; "
                            "is the daemon older than Kubo 0.35?")
        return cid

    def add_bytes(self, data: bytes, *, pin: bool = True) -> str:
        data = bytes(data)
        return self._checked(self._add(io.BytesIO(data), pin), cid_of(data, profile=self.profile))

    def add_many(self, documents: list[bytes], *, pin: bool = True) -> list[str]:
        """Add (and pin) many small documents in one ``ipfs add`` request (one multipart part
        each); their CIDs in order, each checked against the profile's."""
        docs = [bytes(d) for d in documents]
        if len(docs) < 2:
            return [self.add_bytes(d, pin=pin) for d in docs]
        got = self._add(io.BytesIO(docs[0]), pin, *(io.BytesIO(d) for d in docs[1:]))
        if len(got) != len(docs):
            raise IpfsError(f"IPFS daemon at {self.api} answered {len(got)} CIDs for {len(docs)} documents")
        return [self._checked(c, cid_of(d, profile=self.profile)) for c, d in zip(got, docs, strict=True)]

    def add_file(self, path: str | os.PathLike[str], *, pin: bool = True) -> str:
        if not os.path.isfile(path):
            raise InvalidInputError(f"not a readable file: {os.fspath(path)!r}")
        with open(path, "rb") as f:
            cid = self._add(f, pin)
        return self._checked(cid, cid_of(path, profile=self.profile))

    def get_block(self, cid: str) -> bytes:
        block = self._call("block get", self._client.block.get, cid)
        if not _core.cid.block_matches(cid, block):
            raise ContentIntegrityError(f"block {cid} from the daemon does not hash to its CID")
        return block

    def cat(self, cid: str) -> bytes:
        return b"".join(self.iter_chunks(cid))

    def iter_chunks(self, cid: str) -> Iterator[bytes]:
        # block by block, so every block is checked against its CID here too
        yield from iter_file_chunks(cid, self.get_block)

    def has(self, cid: str) -> bool:
        try:
            self._call("block stat", self._client.block.stat, cid, offline=True)
            return True
        except IpfsUnavailableError:
            raise
        except IpfsError:
            return False

    def block_stat(self, cid: str) -> dict:
        return self._call("block stat", self._client.block.stat, cid)

    def pin(self, cid: str) -> None:
        self._call("pin add", self._client.pin.add, cid)

    def unpin(self, cid: str) -> None:
        self._call("pin rm", self._client.pin.rm, cid)

    def is_pinned(self, cid: str) -> bool:
        try:
            res = self._call("pin ls", self._client.pin.ls, cid, type="recursive")
        except IpfsUnavailableError:
            raise
        except IpfsError:
            return False
        keys = res.get("Keys", {})
        canonical = _core.cid.cid_info(cid)[3]
        return any(_core.cid.cid_info(k)[3] == canonical for k in keys)

    def export_car(self, cid: str, out: BinaryIO) -> None:
        write_car(cid, self.get_block, out)

    def version(self) -> str:
        return self._call("version", self._client.version)["Version"]

    def multiaddrs(self) -> list[str]:
        """This node's libp2p addresses, each ending in ``/p2p/<peer id>`` (pinning origins and
        delegates); an offline node announces none, so its loopback swarm port stands in."""
        ident = self._call("id", self._client.id)
        addrs = [a for a in ident.get("Addresses") or [] if "/p2p/" in a]
        return addrs or [f"/ip4/127.0.0.1/tcp/4001/p2p/{ident['ID']}"]

    def health(self) -> dict:
        return {"kind": "kubo", "api": self.api, "version": self.version(), "profile": self.profile}

    def close(self) -> None:
        self._client.close()



def kubo_binary() -> str:
    """Locate Kubo: $NFTREG_KUBO, the build scripts/install_kubo.sh caches, then ``ipfs`` on PATH."""
    env = os.environ.get("NFTREG_KUBO")
    if env:
        return env
    cached = sorted(Path.home().glob(".cache/nftreg/kubo-*/ipfs"))
    if cached:
        return str(cached[-1])
    found = shutil.which("ipfs")
    if found:
        return found
    raise IpfsUnavailableError("no Kubo binary: install Kubo (`ipfs` on PATH), run scripts/install_kubo.sh "
                               "(builds and caches it) or set NFTREG_KUBO")


class KuboProcess(ManagedProcess):
    """``ipfs daemon --offline`` with its repo (``IPFS_PATH``) in the state directory and its
    API on 127.0.0.1:PORT; ``api`` is the multiaddr to give ``NFTREG_IPFS_API``."""

    name = "kubo"
    error = IpfsUnavailableError

    def __init__(self, state_dir: str | os.PathLike[str], *, port: int | None = None):
        super().__init__(state_dir, port=port)
        self.binary = kubo_binary()

    @property
    def api(self) -> str:
        return f"/ip4/127.0.0.1/tcp/{self.port}"

    def environment(self) -> dict[str, str]:
        return {**os.environ, "IPFS_PATH": str(self.state_dir)}

    def prepare(self) -> None:
        env = self.environment()
        try:
            if not (self.state_dir / "config").exists():
                subprocess.run([self.binary, "init", "--profile=test"], env=env, check=True, capture_output=True)
            subprocess.run([self.binary, "config", "Addresses.API", self.api], env=env, check=True, capture_output=True)
        except (OSError, subprocess.CalledProcessError) as e:
            detail = e.stderr.decode(errors="replace").strip() if isinstance(e, subprocess.CalledProcessError) else e
            raise IpfsUnavailableError(f"cannot prepare the Kubo repo {self.state_dir} with {self.binary}: {detail}") from None

    def command(self) -> list[str]:
        return [self.binary, "daemon", "--offline"]

    def is_ready(self) -> bool:
        return (self.state_dir / "api").exists() and super().is_ready()

    def info(self) -> dict[str, str]:
        return {"api": self.api}
