"""Alembic environment: nftreg runs migrations programmatically and hands over its connection."""

from alembic import context

from nftreg.db.models import Base

target_metadata = Base.metadata
conn = context.config.attributes.get("connection")
if conn is None:  # the alembic CLI (autogenerate during development)
    from sqlalchemy import create_engine

    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("alembic: set sqlalchemy.url in alembic.ini (or run migrations through nftreg)")
    conn = create_engine(url).connect()
context.configure(connection=conn, target_metadata=target_metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
