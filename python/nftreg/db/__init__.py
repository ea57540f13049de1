"""SQL index and work journal: SQLAlchemy 2 models, engine/session helpers, Alembic upgrade."""

from nftreg.db.engine import Database, upgrade
from nftreg.db.models import (
                              ApiKey,
                              Asset,
                              AuthNonce,
                              Base,
                              Batch,
                              ChainCursor,
                              IdempotencyRecord,
                              LogRecord,
                              OutboxTx,
                              OwnershipChallenge,
                              SessionToken,
)

__all__ = [
                              "ApiKey",
                              "Asset",
                              "AuthNonce",
                              "Base",
                              "Batch",
                              "ChainCursor",
                              "Database",
                              "IdempotencyRecord",
                              "LogRecord",
                              "OutboxTx",
                              "OwnershipChallenge",
                              "SessionToken",
                              "upgrade",
]
