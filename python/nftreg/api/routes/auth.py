"""Sign-In with Ethereum and operator API keys."""

from __future__ import annotations

from fastapi import APIRouter, Request

from nftreg.api.deps import ApiKeyHeader, AuthDep, SettingsDep
from nftreg.api.jsonbody import JsonRoute
from nftreg.net import is_loopback
from nftreg.schemas import ApiKeyIn, ApiKeyOut, Nonce, Session, SiweIn
from nftreg.services.errors import Unauthorized

router = APIRouter(tags=["auth"], route_class=JsonRoute)


@router.post("/v1/auth/nonce", response_model=Nonce)
def new_nonce(auth: AuthDep, settings: SettingsDep) -> Nonce:
    nonce, exp = auth.new_nonce()
    return Nonce(nonce=nonce, expires_at=exp.isoformat(), chain_id=auth.chain_id, domain=settings.siwe_domain)


def _loopback_host(host: str) -> str:
    """Without NFTREG_SIWE_DOMAIN the expected domain is the Host header, but only when it names
    this machine: otherwise a phishing site could relay a message signed for its own domain
    with a matching forged Host header and get a session."""
    if not is_loopback(host.rsplit(":", 1)[0] if not host.endswith("]") else host):
        raise Unauthorized(f"SIWE: the server has no NFTREG_SIWE_DOMAIN and Host {host[:100]!r} is not loopback; "
                           "sign-in is refused")
    return host


@router.post("/v1/auth/siwe", response_model=Session)
def sign_in(body: SiweIn, request: Request, auth: AuthDep, settings: SettingsDep) -> Session:
    domain = settings.siwe_domain or _loopback_host(request.headers.get("host", ""))
    token, address, exp = auth.sign_in(body.message, body.signature, expected_domain=domain)
    return Session(token=token, address=address, expires_at=exp.isoformat())


@router.post("/v1/admin/api-keys", response_model=ApiKeyOut, status_code=201)
def create_api_key(body: ApiKeyIn, auth: AuthDep, x_api_key: ApiKeyHeader = None) -> ApiKeyOut:
    auth.require_role(x_api_key, "admin")
    return ApiKeyOut(name=body.name, role=body.role, api_key=auth.create_api_key(body.name, body.role))


@router.post("/v1/admin/reindex")
def reindex(request: Request, auth: AuthDep, x_api_key: ApiKeyHeader = None) -> dict[str, int]:
    """Rebuild the asset index from the contract's events (admin only)."""
    auth.require_role(x_api_key, "admin")
    return {"tokens": request.app.state.service.reindex()}


@router.post("/v1/admin/reconcile")
def reconcile(request: Request, auth: AuthDep, x_api_key: ApiKeyHeader = None) -> dict[str, int]:
    """Finish signed-but-unconfirmed chain writes from the outbox (admin only; also run at start-up)."""
    auth.require_role(x_api_key, "admin")
    return request.app.state.service.reconcile()
