"""JSON request bodies parsed safely: every router uses ``JsonRoute``, whose requests decode
JSON with ``nftreg.claims.parse_json`` instead of ``json.loads``. Starlette's ``Request.json``
uses ``json.loads``, and with the recursion limit that web3/py_ecc set (100,000) a body of a few
hundred KB of ``[`` overflows the C stack and kills the server (SIGSEGV) before any handler
runs; an integer of more than 4,300 digits raised a bare ValueError (a 400 that said nothing).
Every such body is now a ``json.JSONDecodeError``, which FastAPI answers with a 422 that names
the position."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

from nftreg.claims import parse_json

__all__ = ["JsonRoute"]


class _Request(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = parse_json(await self.body())
        return self._json


class JsonRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def safe_json(request: Request) -> Response:
            return await handler(_Request(request.scope, request.receive))

        return safe_json
