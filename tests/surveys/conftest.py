"""The survey tests' database: the CRM's migrated one, SQLite and PostgreSQL."""

from tests.crm.conftest import (  # noqa: F401 - the fixtures, shared
    db,
    pg_database,
    sqlite_template,
)
