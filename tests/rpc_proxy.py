"""A JSON-RPC proxy that sits between the service and a real anvil and breaks sends on purpose.

For ``eth_sendRawTransaction`` it may refuse the request (502, the node never sees it), lose
the reply (the node gets the transaction, the client gets a 502), or stall past the client's
timeout and deliver the transaction late. Other methods fail now and then with a 502. Every
transaction that reached the node is recorded by nonce, so a test can prove that a write was
only ever retried with the very same signed bytes.
"""

from __future__ import annotations

import json
import random
import threading
import time
import urllib.request
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import rlp
from eth_utils import keccak
from typing_extensions import Self


def tx_nonce(raw: bytes) -> int:
    """The nonce of a signed transaction: legacy RLP list, or EIP-2718 typed (type byte first)."""
    fields = rlp.decode(raw[1:]) if raw[0] < 0x7F else rlp.decode(raw)
    return int.from_bytes(fields[1] if raw[0] < 0x7F else fields[0], "big")


class FaultyRpcProxy:
    def __init__(self, upstream: str, *, seed: int = 1, p_refuse: float = 0.15, p_lose_reply: float = 0.15,
                 p_stall: float = 0.1, stall_s: float = 3.0, p_other: float = 0.02):
        self.upstream = upstream
        self.rng = random.Random(seed)
        self.p = (p_refuse, p_lose_reply, p_stall)
        self.p_other = p_other
        self.stall_s = stall_s
        self.enabled = True
        self.fail_methods: set[str] = set()  # while enabled, these methods always fail (502)
        self.lock = threading.Lock()
        self.faults: Counter[str] = Counter()
        self.delivered: dict[int, set[str]] = {}  # nonce -> hashes of the transactions the node got
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                proxy._handle(self, body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _pick(self, method: str) -> str:
        with self.lock:
            if not self.enabled:
                return "pass"
            if method in self.fail_methods:
                self.faults["error"] += 1
                return "error"
            r = self.rng.random()
            if method == "eth_sendRawTransaction":
                refuse, lose, stall = self.p
                fault = ("refuse" if r < refuse else "lose_reply" if r < refuse + lose
                         else "stall" if r < refuse + lose + stall else "pass")
            else:
                fault = "error" if r < self.p_other else "pass"
            if fault != "pass":
                self.faults[fault] += 1
            return fault

    def _forward(self, body: bytes) -> bytes:
        req = urllib.request.Request(self.upstream, data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.read()

    def _record(self, body: bytes) -> None:
        msg = json.loads(body)
        raw = bytes.fromhex(msg["params"][0].removeprefix("0x"))
        with self.lock:
            self.delivered.setdefault(tx_nonce(raw), set()).add("0x" + keccak(raw).hex())

    def _handle(self, h: BaseHTTPRequestHandler, body: bytes) -> None:
        try:
            method = json.loads(body).get("method", "")
        except (ValueError, AttributeError):
            method = ""
        fault = self._pick(method)
        try:
            if fault in ("refuse", "error"):
                return self._reply(h, 502, b"injected fault: bad gateway")
            if fault == "stall":
                time.sleep(self.stall_s)  # the client has given up by now; the node gets it late
            out = self._forward(body)
            if method == "eth_sendRawTransaction":
                self._record(body)
            if fault == "lose_reply":
                return self._reply(h, 502, b"injected fault: reply lost")
            self._reply(h, 200, out)
        except (BrokenPipeError, ConnectionResetError):
            pass

    @staticmethod
    def _reply(h: BaseHTTPRequestHandler, status: int, data: bytes) -> None:
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)
