"""The API's documentation pages, ``/docs`` (Swagger UI) and ``/redoc``, served entirely from
assets shipped in the package (``static/docs``: Swagger UI and Redoc at the versions in its
MANIFEST.txt, refreshed by scripts/vendor_docs_assets.sh), so they work on a host without
internet access; and the Content-Security-Policy every response carries unless a route sets a
stricter one: the browser loads scripts, styles, images, fonts and data from this server only.
"""

from __future__ import annotations

from html import escape
from importlib import resources
from typing import Any

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

__all__ = ["CSP", "SecurityHeaders", "install"]

ASSETS = "/docs/assets"
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; object-src 'none'; base-uri 'self'; "
       "frame-ancestors 'none'; form-action 'self'")


def _page(title: str, body: str, head: str = "") -> HTMLResponse:
    return HTMLResponse(f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title>
<link rel="icon" type="image/png" href="{ASSETS}/favicon-32x32.png">
{head}
</head>
<body>
{body}
</body>
</html>
""")


def install(app: FastAPI) -> None:
    """Serve /docs, /redoc and their assets (create the app with docs_url=None, redoc_url=None)."""
    static = resources.files("nftreg.api") / "static" / "docs"
    app.mount(ASSETS, StaticFiles(directory=str(static)), name="docs-assets")
    title = f"{app.title} API"
    spec = escape(app.openapi_url or "/openapi.json")

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return _page(title, f'<div id="swagger-ui" data-openapi="{spec}"></div>\n'
                            f'<script src="{ASSETS}/swagger-ui-bundle.js"></script>\n'
                            f'<script src="{ASSETS}/swagger-init.js"></script>',
                     head=f'<link rel="stylesheet" href="{ASSETS}/swagger-ui.css">')

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        # the standalone bundle renders every <redoc spec-url> element it finds on load
        return _page(title, f'<redoc spec-url="{spec}"></redoc>\n<script src="{ASSETS}/redoc.standalone.js"></script>')


class SecurityHeaders:
    """Adds the CSP (and nosniff) to every HTTP response that has not set its own (pure ASGI)."""

    def __init__(self, inner: Any, csp: str = CSP):
        self.inner = inner
        self.csp = csp.encode()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.inner(scope, receive, send)

        async def send_(msg: Any) -> None:
            if msg["type"] == "http.response.start":
                headers = list(msg.get("headers", []))
                names = {k.lower() for k, _ in headers}
                if b"content-security-policy" not in names:
                    headers.append((b"content-security-policy", self.csp))
                if b"x-content-type-options" not in names:
                    headers.append((b"x-content-type-options", b"nosniff"))
                msg = {**msg, "headers": headers}
            await send(msg)

        await self.inner(scope, receive, send_)
