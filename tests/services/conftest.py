"""Fixtures for the service tests that run on both databases."""
from __future__ import annotations

import uuid

import pytest
from flask_migrate import upgrade

from dashboard import create_app
from tests.conftest import dispose_engine, make_config


@pytest.fixture(params=["sqlite", "postgresql"])
def database_app(request, tmp_path):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/claims.db"
    else:
        url = request.getfixturevalue("postgres").create_database(f"claims_{uuid.uuid4().hex[:8]}")
    app = create_app(make_config(tmp_path / "unused.db", DATABASE_URL=url))
    with app.app_context():
        upgrade()  # the real migrations, on either database
        yield app
        dispose_engine()
