"""One settings object for the service, read from ``NFTREG_*`` environment variables (and
flags, which the CLI turns into keyword arguments).

Embedded defaults keep a first run self-contained under one data directory: a managed anvil
chain with persisted state, the embedded content store and a SQLite file. Outside ``dev`` the
object refuses to start with the built-in admin key, because a known secret is no secret.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from nftreg.errors import ConfigError

__all__ = ["DEV_ADMIN_KEY", "Settings", "default_data_dir"]

DEV_ADMIN_KEY = "nftreg-dev-admin-key"


def default_data_dir() -> Path:
    env = os.environ.get("NFTREG_DATA_DIR")
    if env:
        return Path(env)
    return Path.home() / ".nftreg"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="NFTREG_", extra="ignore")

    env: Literal["dev", "test", "prod"] = "dev"
    data_dir: Path = Field(default_factory=default_data_dir)
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    workers: int = Field(default=1, ge=1, le=64)  # server processes sharing chain, database and store
    # other server processes use this database too (set by `serve --workers`; set it for replicas):
    # a reservation or in-flight Idempotency-Key another process made is then left to it until
    # it is `shared_stale_s` old, instead of being taken over when this process starts
    shared_database: bool = False
    shared_stale_s: float = Field(default=120, gt=0)
    rpc_url: str = "anvil://"
    private_key: str | None = Field(default=None, repr=False)
    registry_address: str | None = None
    ipfs_api: str | None = None
    ipfs_profile: str = "unixfs-v1-2025"
    database_url: str | None = None
    admin_api_key: str = Field(default=DEV_ADMIN_KEY, repr=False)
    # the domain SIWE messages must name (host[:port] of the public site). Unset: only a loopback
    # Host header the request came in on is accepted (dev/test on this machine); required in prod.
    siwe_domain: str | None = None
    session_ttl_s: int = Field(default=3600, gt=0)
    nonce_ttl_s: int = Field(default=300, gt=0)
    max_upload_bytes: int = Field(default=100 * 1024 * 1024, gt=0)  # assets and any other request body
    max_batch_bytes: int = Field(default=512 * 1024 * 1024, gt=0)  # 1,000,000 claims are ~150 MiB of CSV
    max_verify_bytes: int = Field(default=256 * 1024 * 1024, gt=0)  # 100,000 proofs are ~100 MiB of JSON
    max_batch_claims: int = Field(default=1_000_000, gt=0)
    max_verify_items: int = Field(default=100_000, gt=0)
    rate_limit_per_minute: int = Field(default=6000, ge=0)  # per client address; 0 turns it off
    tx_timeout_s: float = Field(default=60, gt=0)
    rpc_timeout_s: float = Field(default=30, gt=0)  # one JSON-RPC request
    # When a mint or anchor counts as final: this many blocks deep (the including block is 1)
    # and at least this old. None picks per chain: 1 block on the in-process EVM; on anvil 1
    # block and 5 s (it persists its state once a second and a `kill -9` mid-write falls back
    # to the checkpoint taken a second before, so the newest ~2 s of blocks can vanish); 12
    # blocks elsewhere.
    finality_depth: int | None = Field(default=None, ge=1)
    finality_age_s: float | None = Field(default=None, ge=0)
    # concurrent mints share one mintBatch transaction (group commit); off: one transaction each
    mint_batch: bool = True
    # the background pass that rebroadcasts signed writes and re-checks unfinal ones; 0 = off
    reconcile_interval_s: float = Field(default=2.0, ge=0)
    # the registration log (under data_dir/log): entries pooled and integrated at least this
    # often; its origin (= key name) is fixed when its key is created on first start; the key
    # comes from NFTREG_LOG_KEY (a note signer key, PRIVATE+KEY+...), a key file, or is created
    log_interval_s: float = Field(default=1.0, gt=0, le=60)
    log_origin: str | None = None
    log_key: str | None = Field(default=None, repr=False)
    log_key_file: Path | None = None
    # the log's checkpoint root is anchored in the registry contract this often when the log
    # grew (through the outbox, like every write); 0 = never
    log_anchor_interval_s: float = Field(default=60.0, ge=0)
    # a write unmined this long is replaced by a fee bump (same nonce, fees +12.5 % or to the
    # market, whichever is higher) in the background pass; 0 = never
    fee_bump_after_s: float = Field(default=30, ge=0)
    # the most a transaction may pay per gas, in gwei (new ones and bumps); None = no ceiling
    max_fee_per_gas_gwei: float | None = Field(default=None, gt=0)
    # total size of a request's header lines; larger requests are answered 431
    max_header_bytes: int = Field(default=64 * 1024, ge=1024)

    @model_validator(mode="after")
    def _refuse_default_secrets(self) -> Settings:
        if self.env != "dev" and self.admin_api_key == DEV_ADMIN_KEY:
            raise ConfigError("NFTREG_ADMIN_API_KEY is the built-in development key; set a real one outside NFTREG_ENV=dev")
        if self.env == "prod" and not self.siwe_domain:
            raise ConfigError("NFTREG_SIWE_DOMAIN is required with NFTREG_ENV=prod (the domain sign-in messages "
                              "must name; the request's Host header is trusted only on loopback)")
        if len(self.admin_api_key) < 16:
            raise ConfigError("NFTREG_ADMIN_API_KEY must be at least 16 characters")
        return self

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "log"

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'nftreg.sqlite3'}"
