from tests.crm_web.conftest import db, migrated_template, operators, services  # noqa: F401
