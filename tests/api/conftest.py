"""Fixtures for the API tests: keys made through the service the console uses, and a client that
sends them as bearer tokens."""

from __future__ import annotations

import pytest

from dashboard.models.api import SCOPES
from dashboard.models.types import utcnow
from dashboard.services import api_keys
from tests.api.receiver import Receiver


@pytest.fixture
def make_key(app):
    def make(name: str = "shop", scopes=SCOPES, **settings) -> api_keys.NewKey:
        settings.setdefault("rate_limit", "1000 per second")
        return api_keys.create_key(
            api_keys.KeySettings(name=name, scopes=tuple(scopes), **settings),
            created_by_id=None,
            now=utcnow(),
        )

    return make


class Api:
    """The test client with a key: `api.post("/messages", json={...})` → /api/v1/messages."""

    def __init__(self, client, token: str) -> None:
        self.client = client
        self.token = token

    def _headers(self, headers):
        return {"Authorization": f"Bearer {self.token}", **(headers or {})}

    def get(self, path, headers=None, **kwargs):
        return self.client.get(f"/api/v1{path}", headers=self._headers(headers), **kwargs)

    def post(self, path, headers=None, **kwargs):
        return self.client.post(f"/api/v1{path}", headers=self._headers(headers), **kwargs)

    def patch(self, path, headers=None, **kwargs):
        return self.client.patch(f"/api/v1{path}", headers=self._headers(headers), **kwargs)


@pytest.fixture
def api(client, make_key):
    return Api(client, make_key().token)


@pytest.fixture
def receiver():
    started = Receiver().start()
    yield started
    started.stop()
