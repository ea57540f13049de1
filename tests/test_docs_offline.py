"""/docs and /redoc come from assets shipped in the package, under the same
Content-Security-Policy as every other response, and no page the server serves makes the
browser contact another host: every HTML/JS/CSS response the pages pull in is scanned."""

from __future__ import annotations

import hashlib
import os
import re
from html.parser import HTMLParser
from importlib import resources
from pathlib import Path
from urllib.parse import urljoin, urlparse

import pytest
from api_server import LiveServer
from nftreg.api.docs import CSP
from nftreg.settings import Settings

# hosts the documentation libraries would load from (CDNs, fonts, telemetry, the schema validator)
REMOTE_LOADERS = ("cdn.redoc.ly", "cdn.redocly.com", "cdn.jsdelivr.net", "unpkg.com", "fonts.googleapis.com",
                  "fonts.gstatic.com", "otel.cloud.redocly.com", "cdnjs.cloudflare.com")
# how a page or script pulls in a resource; a bare URL in a string (a link, an error message, an
# XML namespace) is not a request
LOADS = re.compile(r"""(?:\bsrc\s*[:=]\s*|\bhref\s*=\s*|url\(\s*|@import\s+|fetch\(\s*|importScripts\(\s*)["'`]?(?:https?:)?//""",
                   re.IGNORECASE)


class _Refs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.refs: list[str] = []
        self.inline_scripts = 0
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for k, v in attrs:
            if k in ("src", "href", "spec-url", "data-openapi", "action", "poster") and v:
                self.refs.append(v)
        self._in_script = tag == "script" and not dict(attrs).get("src")

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline_scripts += 1

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False


def _csp_sources(csp: str) -> set[str]:
    return {src for d in csp.split(";") for src in d.split()[1:]}


def test_docs_pages_and_everything_they_load_stay_on_this_server(tmp_path: Path):
    settings = Settings(data_dir=tmp_path, rpc_url="tester://", env="test", admin_api_key="k" * 32)
    assert _csp_sources(CSP) <= {"'self'", "'none'", "'unsafe-inline'", "data:", "blob:"}, CSP
    with LiveServer(settings) as srv, srv.client() as c:
        origin = urlparse(srv.url).netloc
        pages = ["/docs", "/redoc", "/"]
        seen: set[str] = set()
        scanned = {"html": 0, "js": 0, "css": 0}
        queue = list(pages)
        while queue:
            path = queue.pop()
            if path in seen:
                continue
            seen.add(path)
            r = c.get(path)
            if path == "/" and r.status_code == 404:
                continue  # no web app page on this build yet
            assert r.status_code == 200, (path, r.status_code)
            assert r.headers.get("content-security-policy"), path
            assert _csp_sources(r.headers["content-security-policy"]) <= {
                "'self'", "'none'", "'unsafe-inline'", "data:", "blob:"}, (path, r.headers["content-security-policy"])
            ctype = r.headers.get("content-type", "")
            text = r.text if ctype.startswith(("text/", "application/javascript", "application/json")) else ""
            if ctype.startswith("text/html"):
                scanned["html"] += 1
                p = _Refs()
                p.feed(text)
                assert p.inline_scripts == 0, f"{path}: inline script (the CSP refuses it)"
                for ref in p.refs:
                    target = urlparse(urljoin(srv.url + path, ref))
                    assert target.netloc == origin, f"{path} refers to {ref}"
                    if not target.path.endswith(".json"):
                        queue.append(target.path)
            elif "javascript" in ctype or ctype.startswith("text/css"):
                scanned["js" if "javascript" in ctype else "css"] += 1
                for host in REMOTE_LOADERS:
                    assert host not in text, f"{path} names {host}"
                assert not LOADS.search(text), f"{path} loads {LOADS.search(text).group(0)!r}"  # type: ignore[union-attr]
        assert scanned["html"] >= 2 and scanned["js"] >= 3 and scanned["css"] >= 1, scanned
        # Swagger UI never sends the schema to validator.swagger.io
        assert "validatorUrl: null" in c.get("/docs/assets/swagger-init.js").text
        assert c.get("/openapi.json").status_code == 200


def test_vendored_assets_match_their_manifest():
    static = Path(str(resources.files("nftreg.api") / "static" / "docs"))
    lines = (static / "MANIFEST.txt").read_text().splitlines()
    assert lines[0] == "swagger-ui-dist 5.35.0" and lines[1].startswith("redoc 2.5.2 ")
    files = [line.split() for line in lines[2:]]
    assert {name for _, name in files} >= {"swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js",
                                           "LICENSE.swagger-ui", "LICENSE.redoc"}
    for digest, name in files:
        assert hashlib.sha256((static / name).read_bytes()).hexdigest() == digest, name


@pytest.mark.browser
def test_docs_render_in_chromium_with_every_request_on_this_server(tmp_path: Path):
    """Debian's Chromium loads /docs and /redoc: both render the API, every request the pages
    make goes to this server, and nothing is refused by the CSP (console errors recorded)."""
    from playwright.sync_api import sync_playwright

    settings = Settings(data_dir=tmp_path, rpc_url="tester://", env="test", admin_api_key="k" * 32)
    with LiveServer(settings) as srv, sync_playwright() as p:
        origin = urlparse(srv.url).netloc
        browser = p.chromium.launch(executable_path=os.environ.get("NFTREG_CHROMIUM", "/usr/bin/chromium"),
                                    args=["--no-sandbox"])
        try:
            for path, rendered in (("/docs", ".opblock-tag"), ("/redoc", "[data-section-id]")):
                page = browser.new_page()
                requests: list[str] = []
                problems: list[str] = []
                page.on("request", lambda r, requests=requests: requests.append(r.url))
                page.on("console", lambda m, problems=problems: m.type == "error" and problems.append(m.text))
                page.on("pageerror", lambda e, problems=problems: problems.append(str(e)))
                page.goto(srv.url + path)
                page.wait_for_selector(rendered, timeout=60_000)
                assert "/v1/verify/signatures" in page.content(), path
                page.close()
                off_host = [u for u in requests if urlparse(u).scheme in ("http", "https")
                            and urlparse(u).netloc != origin]
                assert not off_host, (path, off_host)
                assert any(u.endswith("/openapi.json") for u in requests), (path, requests)
                assert not problems, (path, problems)
        finally:
            browser.close()
