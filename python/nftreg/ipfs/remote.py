"""Pinning at remote services through the IPFS Pinning Service API (Pinata, Filebase,
4EVERLAND, another ``nftreg serve`` …).

``PinningService`` is one service's client: ``POST /pins`` with origins, polling ``GET
/pins/{requestid}`` until ``pinned`` or ``failed``, listing with the spec's filters, removal;
429 and 5xx answers (and dropped connections) are retried with exponential back-off, honouring
``Retry-After``. The bearer token comes from configuration and is never logged or shown in a
``repr``.

``RemotePinStore`` wraps a local ``ContentStore`` (embedded or Kubo): content is added there,
then pinned by CID at every configured service; ``where_pinned(cid)`` says where it is pinned.
"""

from __future__ import annotations

import builtins
import logging
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, BinaryIO

import httpx

from nftreg.errors import ConfigError, IpfsError, IpfsUnavailableError
from nftreg.ipfs.base import ContentStore

__all__ = ["PinFailed", "PinningService", "RemotePinStore", "open_pinning_store"]

log = logging.getLogger(__name__)
_RETRY = frozenset({429, 500, 502, 503, 504})


class PinFailed(IpfsError):
    """A remote service answered ``failed`` (or never finished) for a pin request."""


class PinningService:
    """A client of one Pinning Service API endpoint (the URL before ``/pins``)."""

    def __init__(self, endpoint: str, token: str, *, name: str | None = None, timeout: float = 30,
                 retries: int = 5, backoff_s: float = 0.5, max_backoff_s: float = 30,
                 transport: httpx.BaseTransport | None = None):
        if not endpoint.startswith(("http://", "https://")):
            raise ConfigError(f"pinning service endpoint must be an http(s) URL, got {endpoint!r}")
        if not token:
            raise ConfigError(f"pinning service {name or endpoint}: no access token configured")
        self.endpoint = endpoint.rstrip("/")
        self.name = name or httpx.URL(endpoint).host
        self.retries = retries
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self._http = httpx.Client(base_url=self.endpoint, timeout=timeout, transport=transport,
                                  headers={"Authorization": f"Bearer {token}", "Accept": "application/json"})

    def __repr__(self) -> str:  # the token stays out of logs and tracebacks
        return f"PinningService({self.name!r}, {self.endpoint!r})"

    def close(self) -> None:
        self._http.close()

    def _request(self, method: str, path: str, **kw: Any) -> httpx.Response:
        delay = self.backoff_s
        for attempt in range(self.retries + 1):
            try:
                r = self._http.request(method, path, **kw)
            except httpx.TransportError as e:
                if attempt == self.retries:
                    raise IpfsUnavailableError(f"pinning service {self.name}: {type(e).__name__}: {e}") from None
                wait = delay
            else:
                if r.status_code not in _RETRY or attempt == self.retries:
                    return self._checked(r, method, path)
                wait = delay
                ra = r.headers.get("retry-after", "")
                if ra.isdigit():
                    wait = max(wait, float(ra))
            log.info("pinning service %s: %s %s, retry %d in %.1f s", self.name, method, path, attempt + 1, wait)
            time.sleep(min(wait, self.max_backoff_s))
            delay = min(delay * 2, self.max_backoff_s)
        raise AssertionError("unreachable")

    def _checked(self, r: httpx.Response, method: str, path: str) -> httpx.Response:
        if r.status_code < 400:
            return r
        try:
            err = r.json()["error"]
            what = f"{err.get('reason')}: {err.get('details', '')}".rstrip(": ")
        except (ValueError, KeyError, TypeError, AttributeError):
            what = r.text[:200]
        cls = IpfsUnavailableError if r.status_code >= 500 else IpfsError
        raise cls(f"pinning service {self.name}: {method} {path} -> {r.status_code} {what}")

    def add(self, cid: str, *, name: str | None = None, origins: Sequence[str] = (),
            meta: Mapping[str, str] | None = None) -> dict[str, Any]:
        pin: dict[str, Any] = {"cid": cid}
        if name is not None:
            pin["name"] = name
        if origins:
            pin["origins"] = list(dict.fromkeys(origins))[:20]
        if meta:
            pin["meta"] = dict(meta)
        return self._request("POST", "/pins", json=pin).json()

    def get(self, requestid: str) -> dict[str, Any]:
        return self._request("GET", f"/pins/{requestid}").json()

    def replace(self, requestid: str, cid: str, *, name: str | None = None) -> dict[str, Any]:
        pin: dict[str, Any] = {"cid": cid, **({"name": name} if name is not None else {})}
        return self._request("POST", f"/pins/{requestid}", json=pin).json()

    def remove(self, requestid: str) -> None:
        self._request("DELETE", f"/pins/{requestid}")

    def list(self, *, cid: Sequence[str] = (), name: str | None = None, match: str | None = None,
             status: Sequence[str] = (), before: str | None = None, after: str | None = None,
             limit: int | None = None, meta: Mapping[str, str] | None = None) -> dict[str, Any]:
        import json

        params: list[tuple[str, str]] = [("cid", c) for c in cid] + [("status", s) for s in status]
        for k, v in (("name", name), ("match", match), ("before", before), ("after", after)):
            if v is not None:
                params.append((k, v))
        if limit is not None:
            params.append(("limit", str(limit)))
        if meta:
            params.append(("meta", json.dumps(dict(meta))))
        return self._request("GET", "/pins", params=params).json()

    def wait(self, requestid: str, *, timeout: float = 300, poll_s: float = 0.2) -> dict[str, Any]:
        """Poll until the request is ``pinned`` or ``failed`` (``PinFailed`` on failed or timeout)."""
        deadline = time.monotonic() + timeout
        while True:
            st = self.get(requestid)
            if st["status"] == "pinned":
                return st
            if st["status"] == "failed":
                details = (st.get("info") or {}).get("status_details", "")
                raise PinFailed(f"pinning service {self.name}: pin {st['pin']['cid']} failed {details}".rstrip())
            if time.monotonic() > deadline:
                raise PinFailed(f"pinning service {self.name}: pin {st['pin']['cid']} still {st['status']} "
                                f"after {timeout:.0f} s")
            time.sleep(poll_s)
            poll_s = min(poll_s * 2, 5.0)

    def requests_for(self, cid: str) -> builtins.list[dict[str, Any]]:
        """Every pin request for ``cid`` at this service, whatever its status."""
        return self.list(cid=[cid], status=["queued", "pinning", "pinned", "failed"], limit=1000)["results"]


class RemotePinStore:
    """A ``ContentStore`` that keeps content in ``local`` and pins it at remote services too.

    ``add_*(pin=True)`` and ``pin`` pin locally, then at every service (``POST /pins`` with the
    local node's addresses as origins, unless the service already pins the CID), and by default
    wait until each says ``pinned``; a service that fails raises ``PinFailed`` naming it (the
    local pin and the other services' pins stay). ``unpin`` removes the CID's pin requests at
    every service and the local pin."""

    def __init__(self, local: ContentStore, services: Sequence[PinningService], *, wait: bool = True,
                 timeout: float = 300):
        if not services:
            raise ConfigError("RemotePinStore needs at least one pinning service")
        self.local = local
        self.services = list(services)
        self.wait = wait
        self.timeout = timeout
        self.profile = local.profile

    def __repr__(self) -> str:
        return f"RemotePinStore({self.local!r}, {self.services!r})"

    def _origins(self) -> list[str]:
        addrs = getattr(self.local, "multiaddrs", None)
        return list(addrs()) if callable(addrs) else []

    def _pin_remote(self, cid: str, name: str | None = None) -> None:
        failures = []
        origins = self._origins()
        for svc in self.services:
            try:
                existing = [r for r in svc.requests_for(cid) if r["status"] != "failed"]
                st = existing[0] if existing else svc.add(cid, name=name, origins=origins)
                if self.wait and st["status"] != "pinned":
                    svc.wait(st["requestid"], timeout=self.timeout)
            except IpfsError as e:
                failures.append(str(e))
        if failures:
            raise PinFailed("; ".join(failures))

    def where_pinned(self, cid: str) -> dict[str, Any]:
        """``{"local": bool, "<service>": status or None or "unreachable: …"}``."""
        out: dict[str, Any] = {"local": self.local.is_pinned(cid)}
        for svc in self.services:
            try:
                reqs = svc.requests_for(cid)
                order = {"pinned": 0, "pinning": 1, "queued": 2, "failed": 3}
                out[svc.name] = min((r["status"] for r in reqs), key=order.__getitem__) if reqs else None
            except IpfsError as e:
                out[svc.name] = f"unreachable: {e}"
        return out

    def add_bytes(self, data: bytes, *, pin: bool = True) -> str:
        cid = self.local.add_bytes(data, pin=pin)
        if pin:
            self._pin_remote(cid)
        return cid

    def add_file(self, path: str | os.PathLike[str], *, pin: bool = True) -> str:
        cid = self.local.add_file(path, pin=pin)
        if pin:
            self._pin_remote(cid, name=os.path.basename(os.fspath(path))[:255] or None)
        return cid

    def pin(self, cid: str) -> None:
        self.local.pin(cid)
        self._pin_remote(cid)

    def unpin(self, cid: str) -> None:
        for svc in self.services:
            for r in svc.requests_for(cid):
                svc.remove(r["requestid"])
        if self.local.is_pinned(cid):  # a service sharing this node may have released it already
            self.local.unpin(cid)

    def cat(self, cid: str) -> bytes:
        return self.local.cat(cid)

    def iter_chunks(self, cid: str) -> Iterator[bytes]:
        return self.local.iter_chunks(cid)

    def has(self, cid: str) -> bool:
        return self.local.has(cid)

    def is_pinned(self, cid: str) -> bool:
        return self.local.is_pinned(cid)

    def export_car(self, cid: str, out: BinaryIO) -> None:
        self.local.export_car(cid, out)

    def get_block(self, cid: str) -> bytes:
        return self.local.get_block(cid)  # type: ignore[attr-defined]

    def health(self) -> dict:
        h = dict(self.local.health())
        remote: dict[str, dict[str, Any]] = {}
        for svc in self.services:
            try:
                svc.list(limit=1)
                remote[svc.name] = {"ok": True}
            except IpfsError as e:
                remote[svc.name] = {"ok": False, "error": str(e)}
        h["pinning_services"] = remote
        return h

    def close(self) -> None:
        for svc in self.services:
            svc.close()
        close = getattr(self.local, "close", None)
        if callable(close):
            close()


def open_pinning_store(url: str, profile: str) -> RemotePinStore:
    """The store a ``pinning+https://HOST/PATH?local=STORE_URL[&token_env=VAR][&name=NAME]``
    URL names: content kept in the ``local`` store (``embedded://…`` or ``kubo+http://…``) and
    pinned at the Pinning Service API endpoint ``https://HOST/PATH``. The bearer token is read
    from the environment variable ``token_env`` (default ``NFTREG_PINNING_TOKEN``), never from
    the URL, so URLs can be logged. (``pinning+http://`` is accepted for loopback endpoints.)"""
    from urllib.parse import unquote, urlsplit

    from nftreg.ipfs import open_store

    scheme, _, rest = url.partition("://")
    parts = urlsplit(f"{scheme.removeprefix('pinning+')}://{rest}")
    if parts.username or parts.password:
        raise ConfigError("pinning store URL: put the token in an environment variable (token_env=…), not the URL")
    if parts.scheme == "http" and parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise ConfigError(f"pinning store URL: plain http is for loopback only, got host {parts.hostname!r}")
    # '+' stays '+' (kubo+http://… is written as is), %XX is decoded
    query = {unquote(k): unquote(v) for k, _, v in (p.partition("=") for p in parts.query.split("&") if p)}
    unknown = set(query) - {"local", "token_env", "name"}
    if unknown:
        raise ConfigError(f"pinning store URL: unknown parameter(s) {', '.join(sorted(unknown))}")
    if "local" not in query:
        raise ConfigError("pinning store URL needs ?local=STORE_URL (embedded://PATH or kubo+http://HOST:PORT): "
                          "the content is added there, then pinned remotely")
    var = query.get("token_env", "NFTREG_PINNING_TOKEN")
    token = os.environ.get(var)
    if not token:
        raise ConfigError(f"pinning store URL: the access token variable {var} is not set")
    endpoint = f"{parts.scheme}://{parts.netloc}{parts.path}"
    local = open_store(query["local"], profile=profile)
    return RemotePinStore(local, [PinningService(endpoint, token, name=query.get("name"))])
