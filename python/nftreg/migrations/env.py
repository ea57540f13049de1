"""Alembic environment: nftreg runs migrations programmatically and hands over its connection."""

from alembic import context

from nftreg.db.models import Base

target_metadata = Base.metadata
conn = context.config.attributes.get("connection")
if conn is None:  # the alembic CLI (autogenerate during development)
    from sqlalchemy import create_engine

    conn = create_engine(context.config.get_main_option("sqlalchemy.url")).connect()
context.configure(connection=conn, target_metadata=target_metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
