"""Shared fixtures, flaskr-style: app, client, runner, auth; plus factories and the real parts
the tests talk to — a migrated SQLite file, the SMSC simulator over TCP, the sender worker."""
from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from flask_migrate import upgrade

from dashboard import create_app
from dashboard.extensions import db
from dashboard.models import SenderId, SenderRegistration
from dashboard.models.types import utcnow
from dashboard.simulator import Simulator, SimulatorConfig
from dashboard.worker.scheduler import Worker

SIM_SYSTEM_ID = "switchboard"
SIM_PASSWORD = "secret"
PASSWORD = "correct horse battery"


def make_config(db_path: Path, **overrides) -> dict:
    return {"TESTING": True, "SECRET_KEY": "test-secret-key", "DATABASE_URL": f"sqlite:///{db_path}",
            "WTF_CSRF_ENABLED": False, "CLAIM_LEASE_SECONDS": 30,
            # The test client speaks plain http: Secure cookies would never be sent back.
            "SECURE_COOKIES": False,
            "IMPORT_DIR": str(db_path.parent / "imports"),
            # Most tests schedule campaigns directly; the approval tests turn four eyes on.
            "CAMPAIGN_APPROVAL_REQUIRED": False, **overrides}


@pytest.fixture(scope="session")
def migrated_db(tmp_path_factory) -> Path:
    """Run the real Alembic migrations once; each test gets a copy of the result."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    app = create_app(make_config(path))
    with app.app_context():
        upgrade()
        db.engine.dispose()
    return path


@pytest.fixture
def db_path(tmp_path, migrated_db) -> Path:
    path = tmp_path / "switchboard.db"
    shutil.copy(migrated_db, path)
    return path


@pytest.fixture
def app(db_path):
    app = create_app(make_config(db_path))
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def make_user(app):
    from dashboard.services.users import create_user

    def make(email: str = "admin@example.com", role: str = "admin", password: str = PASSWORD):
        return create_user(email, role, password)
    return make


class AuthActions:
    def __init__(self, client):
        self.client = client

    def login(self, email: str = "admin@example.com", password: str = PASSWORD):
        return self.client.post("/login", data={"email": email, "password": password})

    def logout(self):
        return self.client.post("/logout")


@pytest.fixture
def auth(client):
    return AuthActions(client)


@pytest.fixture
def make_simulator():
    started: list[Simulator] = []

    def make(**overrides) -> Simulator:
        overrides.setdefault("port", 0)
        overrides.setdefault("receipt_delay", 0.05)
        overrides.setdefault("accounts", {SIM_SYSTEM_ID: SIM_PASSWORD})
        sim = Simulator(SimulatorConfig(**overrides)).start()
        started.append(sim)
        return sim

    yield make
    for sim in started:
        sim.stop()


@pytest.fixture
def simulator(make_simulator):
    return make_simulator()


@pytest.fixture
def make_bind(app):
    from dashboard.services.binds import create_bind

    def make(sim: Simulator, name: str = "sim", password: str = SIM_PASSWORD, **overrides):
        values = dict(name=name, host="127.0.0.1", port=sim.port, system_id=SIM_SYSTEM_ID, mode="trx",
                      tps=500, window=20, response_timeout=3.0, enquire_link_interval=5.0)
        values.update(overrides)
        return create_bind(password=password, **values)
    return make


@pytest.fixture
def sender(app):
    existing = db.session.query(SenderId).filter_by(value="Switchboard").one_or_none()
    if existing:
        return existing
    # Approved for the +1 US numbers the tests use: campaigns need a registration per country.
    sender = SenderId(value="Switchboard", kind="alphanumeric", status="approved",
                      registrations=[SenderRegistration(country="US", status="approved", notes="test fixture")])
    db.session.add(sender)
    db.session.commit()
    return sender


@pytest.fixture
def make_list(app):
    from dashboard.services import contacts

    def make(numbers: list[str], name: str = "Customers"):
        contact_list = contacts.create_list(name)
        for number in numbers:
            contacts.add_contact(contact_list, number, evidence="test fixture", actor="tests", now=utcnow(),
                                 commit=False)
        db.session.commit()
        return contact_list
    return make


@pytest.fixture
def worker(app):
    """The sender running in this process, jobs sped up; stopped cleanly after the test."""
    started: list[Worker] = []

    def start() -> Worker:
        w = Worker(app, worker_id=f"test-worker-{len(started)}", tick_scale=0.2).start()
        started.append(w)
        return w

    yield start
    for w in started:
        w.stop()


def wait_for(predicate: Callable[[], object], timeout: float = 20.0, interval: float = 0.1, message: str = ""):
    """Poll until predicate() is truthy; fail with `message` after timeout seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout}s waiting for: {message or predicate}")


def numbers(count: int, start: int = 100) -> list[str]:
    """Valid fictional US numbers (555-01xx), spread over area codes past 100."""
    from dashboard.demo import demo_numbers
    return demo_numbers(count + start - 100)[start - 100:]
