"""Sign-In with Ethereum (EIP-4361) with server-issued single-use nonces, bearer sessions for
the signed-in address, and operator API keys stored only as SHA-256 hashes."""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from datetime import datetime, timedelta, timezone

from eth_utils import is_checksum_address

from nftreg.db import ApiKey, AuthNonce, Database, SessionToken
from nftreg.db.models import utcnow
from nftreg.services.errors import Forbidden, Unauthorized, Unprocessable
from nftreg.signatures import personal_sign_digest, recover_addresses

__all__ = ["AuthService", "SiweMessage", "aware", "hash_secret", "parse_siwe"]

_HEADER = re.compile(r"^(?P<domain>[^\s/]+) wants you to sign in with your Ethereum account:$")


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def aware(dt: datetime) -> datetime:
    # SQLite hands back naive datetimes; every timestamp we write is UTC
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def _parse_time(v: str, field: str) -> datetime:
    try:
        return aware(datetime.fromisoformat(v.replace("Z", "+00:00")))
    except ValueError:
        raise Unprocessable(f"SIWE message: {field} is not an RFC 3339 timestamp") from None


class SiweMessage:
    def __init__(self, domain: str, address: str, fields: dict[str, str]):
        self.domain, self.address, self.fields = domain, address, fields

    @property
    def chain_id(self) -> int:
        try:
            return int(self.fields["Chain ID"])
        except (KeyError, ValueError):
            raise Unprocessable("SIWE message: Chain ID missing or not a number") from None


def parse_siwe(message: str) -> SiweMessage:
    lines = message.split("\n")
    if len(lines) < 3:
        raise Unprocessable("SIWE message: too short to be an EIP-4361 message")
    m = _HEADER.match(lines[0])
    if not m:
        raise Unprocessable("SIWE message: first line must be '<domain> wants you to sign in with your Ethereum account:'")
    address = lines[1].strip()
    if not is_checksum_address(address):
        raise Unprocessable("SIWE message: second line must be an EIP-55 checksummed address")
    fields: dict[str, str] = {}
    for line in lines[2:]:
        k, sep, v = line.partition(": ")
        if sep and k in ("URI", "Version", "Chain ID", "Nonce", "Issued At", "Expiration Time", "Not Before",
                         "Request ID"):
            fields[k] = v.strip()
    for required in ("URI", "Version", "Chain ID", "Nonce", "Issued At"):
        if required not in fields:
            raise Unprocessable(f"SIWE message: '{required}:' line missing")
    if fields["Version"] != "1":
        raise Unprocessable("SIWE message: Version must be 1")
    return SiweMessage(m.group("domain"), address, fields)


class AuthService:
    def __init__(self, db: Database, *, chain_id: int, nonce_ttl_s: int, session_ttl_s: int, admin_api_key: str):
        self.db = db
        self.chain_id = chain_id
        self.nonce_ttl = timedelta(seconds=nonce_ttl_s)
        self.session_ttl = timedelta(seconds=session_ttl_s)
        self._admin_hash = hash_secret(admin_api_key)
        self._key_cache: dict[str, tuple[str, float]] = {}

    def new_nonce(self) -> tuple[str, datetime]:
        nonce = secrets.token_hex(16)  # EIP-4361: at least 8 alphanumeric characters
        expires = utcnow() + self.nonce_ttl
        with self.db.write() as s:
            s.add(AuthNonce(nonce=nonce, expires_at=expires, used=False))
        return nonce, expires

    def sign_in(self, message: str, signature: str, *, expected_domain: str) -> tuple[str, str, datetime]:
        """Check the message and signature, burn the nonce, return (token, address, expiry)."""
        msg = parse_siwe(message)
        if msg.domain != expected_domain:
            raise Unauthorized(f"SIWE message is for domain {msg.domain!r}, this server is {expected_domain!r}")
        if msg.chain_id != self.chain_id:
            raise Unauthorized(f"SIWE message is for chain {msg.chain_id}, this server is on chain {self.chain_id}")
        now = utcnow()
        if "Expiration Time" in msg.fields and _parse_time(msg.fields["Expiration Time"], "Expiration Time") <= now:
            raise Unauthorized("SIWE message has expired")
        if "Not Before" in msg.fields and _parse_time(msg.fields["Not Before"], "Not Before") > now:
            raise Unauthorized("SIWE message is not valid yet (Not Before)")
        _parse_time(msg.fields["Issued At"], "Issued At")
        try:
            sig = bytes.fromhex(signature.removeprefix("0x"))
        except ValueError:
            raise Unprocessable("signature: expected 0x-hex") from None
        signer = recover_addresses([personal_sign_digest(message.encode())], [sig])[0]
        if signer is None or signer != msg.address:
            raise Unauthorized("signature does not match the address in the SIWE message")
        with self.db.write() as s:
            n = s.get(AuthNonce, msg.fields["Nonce"])
            if n is None or n.used or aware(n.expires_at) <= now:
                raise Unauthorized("SIWE nonce unknown, expired or already used; request a new one")
            n.used = True
            token = secrets.token_urlsafe(32)
            expires = now + self.session_ttl
            s.add(SessionToken(token_hash=hash_secret(token), address=msg.address, expires_at=expires))
        return token, msg.address, expires

    def session_address(self, token: str) -> str:
        with self.db.read() as s:
            row = s.get(SessionToken, hash_secret(token))
        if row is None or aware(row.expires_at) <= utcnow():
            raise Unauthorized("session token unknown or expired; sign in again")
        return row.address

    def api_key_role(self, key: str) -> str:
        h = hash_secret(key)
        if secrets.compare_digest(h, self._admin_hash):
            return "admin"
        hit = self._key_cache.get(h)
        if hit is not None and hit[1] > time.monotonic():
            return hit[0]
        with self.db.read() as s:
            row = s.get(ApiKey, h)
        if row is None:
            raise Unauthorized("API key not recognised")
        # a minter sends one request per asset: its key is looked up once per 30 s, not each time
        self._key_cache[h] = (row.role, time.monotonic() + 30)
        return row.role

    def require_role(self, key: str | None, *roles: str) -> str:
        if not key:
            raise Unauthorized("this route needs an operator API key (X-API-Key)")
        role = self.api_key_role(key)
        if role not in roles and role != "admin":
            raise Forbidden(f"API key role {role!r} may not use this route")
        return role

    def create_api_key(self, name: str, role: str) -> str:
        if role not in ("admin", "minter"):
            raise Unprocessable("role must be 'admin' or 'minter'")
        key = "nftreg_" + secrets.token_urlsafe(32)
        with self.db.write() as s:
            s.add(ApiKey(key_hash=hash_secret(key), name=name, role=role))
        return key
