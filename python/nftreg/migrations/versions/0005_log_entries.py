"""registration log entries

log_entries: one row per registration event on its way into the registration log, written in
the transaction that accepts the event; ``key`` (unique) makes each event one entry however
often it is replayed, ``log_index`` is set once a published checkpoint covers it.

Revision ID: 0005
Revises: 0004
"""
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "log_entries",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(length=200), nullable=False, unique=True),
        sa.Column("kind", sa.Integer(), nullable=False),
        sa.Column("content_hash", sa.String(length=66), nullable=False),
        sa.Column("entry", sa.LargeBinary(), nullable=False),
        sa.Column("log_index", sa.BigInteger(), nullable=True, unique=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_log_entries_content_hash", "log_entries", ["content_hash"])


def downgrade() -> None:
    op.drop_index("ix_log_entries_content_hash", "log_entries")
    op.drop_table("log_entries")
