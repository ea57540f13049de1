"""finality: block hashes for reorg detection, final flags on assets and batches

Revision ID: 0002
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as t:
        t.add_column(sa.Column("block_hash", sa.String(length=66), nullable=True))
        t.add_column(sa.Column("mined_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("assets") as t:
        t.add_column(sa.Column("final", sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table("batches") as t:
        t.add_column(sa.Column("final", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_index("ix_outbox_status", "outbox", ["status"])


def downgrade() -> None:
    op.drop_index("ix_outbox_status", "outbox")
    with op.batch_alter_table("batches") as t:
        t.drop_column("final")
    with op.batch_alter_table("assets") as t:
        t.drop_column("final")
    with op.batch_alter_table("outbox") as t:
        t.drop_column("mined_at")
        t.drop_column("block_hash")
