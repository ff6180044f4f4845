"""Alembic environment of the shared database (REQ-T15).

The one environment for every slice's revisions: each slice keeps its own in
``<slice>/migrations`` (``Slice.migrations``), composed with the web edge's
by :func:`hotline.slices.migrations`. Run programmatically by
:meth:`crm_bridge.db.Database.upgrade` (which passes an open connection in
``config.attributes["connection"]``); from the command line::

    hotline --database-url sqlite:////tmp/dev.db db upgrade
    hotline --database-url sqlite:////tmp/dev.db db revision --slice crm_bridge \
        --autogenerate -m "add something"

SQLite cannot ``ALTER`` most things, so migrations run in batch mode there
(``render_as_batch``); the same revision files run on PostgreSQL unchanged.
"""

from __future__ import annotations

import logging
import os

from alembic import context
from sqlalchemy import MetaData, create_engine
from sqlalchemy.engine import Connection

logger = logging.getLogger(__name__)


def _target_metadata() -> list[MetaData]:
    """Every slice's tables (``Slice.metadata``), so autogenerate sees them."""
    from hotline.slices import metadata

    return metadata()


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=_target_metadata(),
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    url = (
        context.get_x_argument(as_dictionary=True).get("url")
        or os.environ.get("HOTLINE_DB_URL")
        or context.config.get_main_option("sqlalchemy.url")
    )
    if not url:
        raise RuntimeError("no database URL: pass -x url=... or set HOTLINE_DB_URL")
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            _configure(conn)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


def run_migrations_offline() -> None:
    url = os.environ.get("HOTLINE_DB_URL") or context.config.get_main_option("sqlalchemy.url")
    context.configure(
        url=url,
        target_metadata=_target_metadata(),
        literal_binds=True,
        render_as_batch=bool(url and url.startswith("sqlite")),
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
