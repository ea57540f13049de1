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
                              "OutboxTx",
                              "OwnershipChallenge",
                              "SessionToken",
                              "upgrade",
]
