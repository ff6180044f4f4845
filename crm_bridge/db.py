"""The one customer database (REQ-T15): engine, sessions and migrations.

SQLite is the embedded default (one machine), PostgreSQL the shared database
for several machines (``postgresql+psycopg://user:pass@host/db``). The schema
is owned by Alembic; :meth:`Database.upgrade` migrates to the head revisions
of a :class:`MigrationSet` — the composition root's environment and every
slice's revision directory (:func:`hotline.slices.migrations`).

SQLite specifics, set on every new connection:

* ``journal_mode=WAL`` so readers never block the writer (file databases);
* ``foreign_keys=ON`` (off by default in SQLite);
* ``busy_timeout`` so a second writer waits instead of failing at once;
* transactions are started by SQLAlchemy itself (``BEGIN`` / ``BEGIN
  IMMEDIATE``), not by the ``sqlite3`` module, so that a session opened with
  ``write=True`` takes the write lock up front and two writers never deadlock
  on a lock upgrade. That serialises writers, which is what makes the appeal
  counter race-free on SQLite.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

from sqlalchemy import Connection, DateTime, Engine, MetaData, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.pool import StaticPool
from sqlalchemy.types import TypeDecorator

__all__ = [
    "NAMING_CONVENTION",
    "Base",
    "Database",
    "DbLimits",
    "MigrationSet",
    "UtcDateTime",
    "utcnow",
]

logger = logging.getLogger(__name__)

NAMING_CONVENTION: Final = MappingProxyType(
    {
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)
"""Constraint names, so that migrations can drop/alter them on every dialect."""

SQLITE_BUSY_TIMEOUT_MS: Final = 30_000


@dataclass(frozen=True)
class MigrationSet:
    """The whole database's migrations: the composition root's Alembic
    environment and every slice's revision directory (``Slice.migrations``).
    Built by :func:`hotline.slices.migrations`; this module knows no slice."""

    env: Path
    """The Alembic environment directory (its ``env.py``)."""
    versions: tuple[Path, ...]
    """The revision directories, one per slice that has tables."""

    def config(self) -> Any:
        """An Alembic ``Config`` for this set (no ``alembic.ini`` read)."""
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", _ini_escape(self.env))
        config.set_main_option("path_separator", "os")
        config.set_main_option(
            "version_locations", os.pathsep.join(_ini_escape(p) for p in self.versions)
        )
        return config


def _ini_escape(path: Path) -> str:
    return str(path).replace("%", "%%")


@dataclass(frozen=True)
class DbLimits:
    """Time limits of every database wait (issue 13, item 2).

    ``connect_seconds``: a new PostgreSQL connection (libpq ``connect_timeout``;
    whole seconds, at least 1); ``checkout_seconds``: waiting for a pooled
    connection; ``statement_ms``: PostgreSQL ``statement_timeout`` of every
    statement (0: none; the service sets it, one-off commands such as a
    large import do not) — the server cancels a statement stuck behind a lock,
    freeing its connection. A *frozen* server (SIGSTOP) answers nothing, not
    even a timeout: the call path bounds its own wait on top
    (``call_db_wait_seconds``, :class:`crm_bridge.durable.DurableWrites`).
    """

    connect_seconds: float = 2.0
    checkout_seconds: float = 2.0
    statement_ms: int = 0


class Base(DeclarativeBase):
    """Declarative base of every table of the shared database."""

    metadata = MetaData(naming_convention=dict(NAMING_CONVENTION))


LOOKUP_CHUNK: Final = 500
"""Values per ``IN`` list where each value is a parameter (SQLite)."""
PG_LOOKUP_CHUNK: Final = 50_000
"""Values per ``= ANY(:array)`` on PostgreSQL (one parameter)."""


def lookup_chunk(session: Session) -> int:
    """How many values one look-up by :func:`among` should carry."""
    return PG_LOOKUP_CHUNK if session.get_bind().dialect.name == "postgresql" else LOOKUP_CHUNK


def among(session: Session, column: Any, values: Any) -> Any:
    """``column IN values``; on PostgreSQL ``column = ANY(:array)`` — one
    parameter instead of a statement of thousands of placeholders to render
    and parse (a list import looks up 100 000 numbers)."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy import any_, bindparam
        from sqlalchemy.dialects.postgresql import ARRAY

        return column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))
    return column.in_(values)


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware timestamp stored in UTC on every dialect.

    PostgreSQL stores ``timestamptz``; SQLite has no time zones, so the value
    is stored as naive UTC and made aware again on the way out. Naive values
    are refused: a naive datetime in this code base is a bug.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("naive datetime given where a timezone-aware one is required")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Database:
    """Engine and sessions of the shared database.

    ``Database("sqlite:////var/lib/hotline/hotline.db")`` or
    ``Database("postgresql+psycopg://hotline:secret@db/hotline")``.
    """

    def __init__(
        self,
        url: str | URL,
        *,
        echo: bool = False,
        pool_size: int = 10,
        pre_ping: bool = False,
        limits: DbLimits | None = None,
    ) -> None:
        self.limits = limits or DbLimits()
        self.url: URL = make_url(url)
        if self.url.get_backend_name() == "postgresql" and self.url.drivername == "postgresql":
            # psycopg 3 is the supported driver (psycopg2 is not a dependency).
            self.url = self.url.set(drivername="postgresql+psycopg")
        self.engine: Engine = self._create_engine(echo=echo, pool_size=pool_size, pre_ping=pre_ping)
        self._sessions = sessionmaker(bind=self.engine, expire_on_commit=False)
        self._write_engine = self.engine.execution_options(sqlite_begin="IMMEDIATE")
        self._write_sessions = sessionmaker(bind=self._write_engine, expire_on_commit=False)
        # Single-statement lookups on PostgreSQL run in autocommit: no
        # BEGIN/COMMIT round trips (each statement is its own snapshot).
        readonly_engine = (
            self.engine.execution_options(isolation_level="AUTOCOMMIT")
            if self.dialect == "postgresql"
            else self.engine
        )
        self._readonly_sessions = sessionmaker(bind=readonly_engine, expire_on_commit=False)

    def _create_engine(self, *, echo: bool, pool_size: int, pre_ping: bool) -> Engine:
        limits = self.limits
        if self.url.get_backend_name() != "sqlite":
            connect_args: dict[str, Any] = {}
            if self.url.get_backend_name() == "postgresql":
                connect_args["connect_timeout"] = max(1, round(limits.connect_seconds))
                if limits.statement_ms:
                    connect_args["options"] = f"-c statement_timeout={int(limits.statement_ms)}"
            return create_engine(
                self.url,
                echo=echo,
                pool_size=pool_size,
                max_overflow=pool_size,
                pool_pre_ping=pre_ping,
                pool_recycle=1800,
                pool_timeout=limits.checkout_seconds,
                connect_args=connect_args,
            )
        memory = self.url.database in (None, "", ":memory:")
        kwargs: dict[str, Any] = {
            "connect_args": {"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
        }
        if memory:
            kwargs["poolclass"] = StaticPool
        engine = create_engine(self.url, echo=echo, **kwargs)

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            # SQLAlchemy emits BEGIN itself (see _on_begin).
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            try:
                if not memory:
                    cursor.execute("PRAGMA journal_mode=WAL")
                    cursor.execute("PRAGMA synchronous=NORMAL")
                cursor.execute("PRAGMA foreign_keys=ON")
                cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            finally:
                cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Any) -> None:
            mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
            conn.exec_driver_sql(f"BEGIN {mode}")

        return engine

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    @contextmanager
    def session(self, *, write: bool = False, readonly: bool = False) -> Iterator[Session]:
        """A unit of work: committed on success, rolled back on any error.

        ``write=True`` declares up front that the session writes; on SQLite it
        starts the transaction with ``BEGIN IMMEDIATE`` (take the write lock
        now, wait up to the busy timeout for it), on PostgreSQL it changes
        nothing. Use it for every read-modify-write.

        ``readonly=True`` is for lookups made of one statement (caller
        identification): on PostgreSQL the statement runs in autocommit,
        saving the BEGIN and COMMIT round trips. Never write in it.
        """
        if write and readonly:
            raise ValueError("a session cannot be both write and readonly")
        factory = (
            self._write_sessions
            if write
            else self._readonly_sessions
            if readonly
            else self._sessions
        )
        session = factory()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    @contextmanager
    def transaction(self, *, write: bool = False) -> Iterator[Connection]:
        """A Core connection in a transaction (committed on success) — for hot
        paths where the ORM's unit of work is not worth its cost. ``write`` as
        in :meth:`session`."""
        with (self._write_engine if write else self.engine).begin() as connection:
            yield connection

    def upgrade(self, migrations: MigrationSet, revision: str = "heads") -> None:
        """Run the Alembic migrations up to ``revision`` (default: every head —
        slices add their own revision branches off the initial schema)."""
        from alembic import command
        from alembic.script import ScriptDirectory

        config = migrations.config()
        if revision == "heads":
            wanted = frozenset(ScriptDirectory.from_config(config).get_heads())
            if self.current_heads() == wanted:
                # Every command and every start would otherwise run Alembic
                # (and print its lines) for nothing.
                logger.debug("database already at %s", sorted(wanted))
                return
        with self.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
        logger.info("database migrated to %s (%s)", revision, self.dialect)

    def current_heads(self) -> frozenset[str]:
        """The Alembic revisions the database is at (one per branch; empty before the first)."""
        from alembic.runtime.migration import MigrationContext

        # configure() announces the dialect at INFO on every call: a question, not news.
        quiet = logging.getLogger("alembic.runtime.migration")
        level = quiet.level
        quiet.setLevel(max(level, logging.WARNING))
        try:
            with self.engine.connect() as connection:
                return frozenset(MigrationContext.configure(connection).get_current_heads())
        finally:
            quiet.setLevel(level)

    def dispose(self) -> None:
        """Close every pooled connection (call on shutdown)."""
        self.engine.dispose()

    def __repr__(self) -> str:
        return f"Database({self.url.render_as_string(hide_password=True)!r})"
