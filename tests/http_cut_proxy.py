"""A TCP proxy between a client and the API that breaks connections on purpose: it can cut a
connection after the server has received a request (and answered it), so the client never
sees the answer, and it tells the test when a request line passes (to kill the server while
that request is being served). The upstream address can change while it runs (a restarted
server on another port); while the upstream is down, new connections are closed at once."""

from __future__ import annotations

import re
import socket
import threading
from collections import Counter
from collections.abc import Callable

from typing_extensions import Self

_REQUEST_LINE = re.compile(rb"^(GET|POST|PUT|DELETE|PATCH|HEAD) (\S+) HTTP/1\.[01]\r\n")


class CutProxy:
    def __init__(self, upstream_port: int):
        self.upstream_port = upstream_port
        self.lock = threading.Lock()
        self.cut_next: Counter[str] = Counter()  # "POST /v1/assets" -> answers still to drop
        self.cuts: Counter[str] = Counter()
        self.seen: Counter[str] = Counter()
        self.on_request: Callable[[str], None] | None = None
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(256)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._stop = False
        self._conns: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop = True
        self.sock.close()
        with self.lock:
            for c in self._conns:
                _close(c)

    def cut(self, route: str, times: int = 1) -> None:
        """Drop the answer to the next ``times`` requests whose line starts with ``route``."""
        with self.lock:
            self.cut_next[route] += times

    def _accept(self) -> None:
        while not self._stop:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=5)
                upstream.settimeout(None)
            except OSError:
                _close(client)  # the server is down: the client sees a reset and retries
                continue
            with self.lock:
                self._conns += [client, upstream]
            state = {"route": ""}
            threading.Thread(target=self._up, args=(client, upstream, state), daemon=True).start()
            threading.Thread(target=self._down, args=(client, upstream, state), daemon=True).start()

    def _up(self, client: socket.socket, upstream: socket.socket, state: dict[str, str]) -> None:
        try:
            while data := client.recv(1 << 16):
                m = _REQUEST_LINE.match(data)
                if m:
                    route = f"{m.group(1).decode()} {m.group(2).decode().split('?')[0]}"
                    state["route"] = route
                    with self.lock:
                        self.seen[route] += 1
                    if self.on_request:
                        self.on_request(route)
                upstream.sendall(data)
        except OSError:
            pass
        _close(client, upstream)

    def _down(self, client: socket.socket, upstream: socket.socket, state: dict[str, str]) -> None:
        try:
            while data := upstream.recv(1 << 16):
                with self.lock:
                    hit = next((r for r, n in self.cut_next.items() if n > 0 and state["route"].startswith(r)), None)
                    if hit:
                        self.cut_next[hit] -= 1
                        self.cuts[hit] += 1
                if hit:
                    break  # the server answered; the client never hears it
                client.sendall(data)
        except OSError:
            pass
        _close(client, upstream)


def _close(*socks: socket.socket) -> None:
    for s in socks:
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        s.close()
