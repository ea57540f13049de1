"""``nftreg serve``: the REST API under uvicorn."""

from __future__ import annotations

from nftreg.settings import Settings

__all__ = ["run"]


def run(settings: Settings | None = None) -> None:
    import uvicorn

    from nftreg.api import create_app

    settings = settings or Settings()
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="info",
                proxy_headers=False, server_header=False)
