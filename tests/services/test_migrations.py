"""The migrations build exactly the schema the models describe, on both databases: a model change
without its migration (or the reverse) fails here, not in production."""
from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from dashboard.extensions import db


def test_the_migrations_match_the_models(database_app):
    with db.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), db.metadata)
    assert differences == []
