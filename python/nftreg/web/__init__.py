"""The creator and verifier web app: static files (plain ES modules, no build step) served at
``/`` over the same ``/v1`` API, under a strict Content-Security-Policy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

__all__ = ["CSP", "STATIC_DIR", "install"]

STATIC_DIR = Path(__file__).parent / "static"

# No inline script or style, no third-party host; blob: only for the local preview of a file the
# person chose and for the download of results the page computed.
CSP = ("default-src 'none'; script-src 'self'; worker-src 'self'; connect-src 'self'; style-src 'self'; "
       "img-src 'self' blob:; media-src 'self' blob:; font-src 'self'; manifest-src 'self'; "
       "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cache-Control": "no-cache",
}
_SERVED = {".html", ".js", ".css", ".svg", ".png", ".ico", ".webmanifest"}


class _Static(StaticFiles):
    """Only the app's own kinds of file, each with the security headers."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        if Path(path).suffix not in _SERVED:
            return Response("not found", status_code=404, media_type="text/plain")
        response = await super().get_response(path, scope)
        response.headers.update(_HEADERS)
        if path.endswith(".js"):
            response.headers["Content-Type"] = "text/javascript; charset=utf-8"
        return response


async def _index(request: Request) -> Response:
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html; charset=utf-8", headers=_HEADERS)


def install(app: Any) -> None:
    """Serve the page at ``/`` and its assets under ``/web/``."""
    from starlette.routing import Route

    app.mount("/web", _Static(directory=STATIC_DIR), name="web")
    app.router.routes.append(Route("/", endpoint=_index, methods=["GET", "HEAD"], include_in_schema=False))
