"""fee bumps, index repair after deep rewrites, crash-safe retries

outbox.replaced_hashes / bumped_at: a stuck write replaced by a fee bump keeps every hash it
signed (either version may land). chain_cursors.block_hash: the hash of the cursor's block, to
notice the chain rewrote blocks the index already followed. assets.request_key: the
Idempotency-Key of the request that reserved the row, so its retry finds its own work.

Revision ID: 0004
Revises: 0003
"""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as t:
        t.add_column(sa.Column("replaced_hashes", sa.Text(), nullable=True))
        t.add_column(sa.Column("bumped_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("chain_cursors") as t:
        t.add_column(sa.Column("block_hash", sa.String(length=66), nullable=True))
    with op.batch_alter_table("assets") as t:
        t.add_column(sa.Column("request_key", sa.String(length=300), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("assets") as t:
        t.drop_column("request_key")
    with op.batch_alter_table("chain_cursors") as t:
        t.drop_column("block_hash")
    with op.batch_alter_table("outbox") as t:
        t.drop_column("bumped_at")
        t.drop_column("replaced_hashes")
