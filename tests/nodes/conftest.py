"""Fixtures of the nodes tests: the migrated database on SQLite and on
PostgreSQL (the autoinformer tests' ``any_db``)."""

from tests.autoinformer.conftest import any_db, pg_ai_url  # noqa: F401 - the fixtures, shared
