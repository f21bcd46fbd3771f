"""Shared fixtures, flaskr-style: app, client, runner, auth; plus factories and the real parts
the tests talk to — a migrated database, the SMSC simulator over TCP, the sender worker.

The database is SQLite by default. `pytest --database=postgresql` (or SWITCHBOARD_TEST_DATABASE=
postgresql) runs the same tests on PostgreSQL: a throwaway cluster from the machine's initdb and
pg_ctl on 127.0.0.1, one database per test copied from a migrated template."""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import time
import uuid
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
from tests.pg import PostgresCluster, pg_bin

SIM_SYSTEM_ID = "switchboard"
SIM_PASSWORD = "secret"
PASSWORD = "correct horse battery"
PG_TEMPLATE = "switchboard_template"


def pytest_addoption(parser):
    parser.addoption("--database", choices=("sqlite", "postgresql"),
                     default=os.environ.get("SWITCHBOARD_TEST_DATABASE", "sqlite"),
                     help="the database every test's app runs on (default sqlite)")


def pytest_report_header(config):
    return f"database: {config.getoption('--database')}"


def pytest_collection_modifyitems(config, items):
    """On PostgreSQL, run the tests that have a database of their own (`database_url`, through the
    `app` fixture or directly). Tests without one would prove nothing new on a second run, and the
    `database_app` tests run on both databases in every run already, and what a page looks like
    (the `presentation` marker) is the same on either."""
    if config.getoption("--database") == "sqlite":
        return
    kept, skipped = [], []
    for item in items:
        uses = getattr(item, "fixturenames", ())
        own_database = "database_url" in uses and "database_app" not in uses
        (kept if own_database and item.get_closest_marker("presentation") is None else skipped).append(item)
    if skipped:
        config.hook.pytest_deselected(items=skipped)
        items[:] = kept


def make_config(database: Path | str, **overrides) -> dict:
    """The test configuration; `database` is a SQLite file or a database URL."""
    url = database if isinstance(database, str) else f"sqlite:///{database}"
    # Uploads beside the test's SQLite file; for a database URL, a folder of that database's own,
    # shared by every app of the test pointed at it.
    imports = (Path(url.removeprefix("sqlite:///")).parent / "imports" if url.startswith("sqlite:///")
               else Path(tempfile.gettempdir()) / f"switchboard-imports-{hashlib.sha1(url.encode()).hexdigest()[:12]}")
    return {"TESTING": True, "SECRET_KEY": "test-secret-key", "DATABASE_URL": url,
            "WTF_CSRF_ENABLED": False, "CLAIM_LEASE_SECONDS": 30,
            # The test client speaks plain http: Secure cookies would never be sent back.
            "SECURE_COOKIES": False,
            "IMPORT_DIR": str(imports),
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


@pytest.fixture(scope="session")
def postgres():
    """A throwaway PostgreSQL cluster on 127.0.0.1 and a free port, for the session."""
    if pg_bin() is None:
        pytest.skip("no initdb on this machine (Debian: apt-get install postgresql)")
    cluster = PostgresCluster().start()
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def postgres_template(postgres) -> str:
    """A database migrated by the real migrations once, which each test's database copies."""
    url = postgres.create_database(PG_TEMPLATE)
    app = create_app(make_config(url))
    with app.app_context():
        upgrade()
        db.engine.dispose()
    return PG_TEMPLATE


@pytest.fixture
def db_path(tmp_path, migrated_db) -> Path:
    path = tmp_path / "switchboard.db"
    shutil.copy(migrated_db, path)
    return path


@pytest.fixture
def database_url(request) -> str:
    """This test's own migrated database, on the database the run was asked for."""
    if request.config.getoption("--database") == "sqlite":
        yield f"sqlite:///{request.getfixturevalue('db_path')}"
        return
    cluster = request.getfixturevalue("postgres")
    template = request.getfixturevalue("postgres_template")
    name = f"test_{uuid.uuid4().hex[:12]}"
    url = cluster.create_database(name, template=template)
    yield url
    cluster.drop_database(name)


@pytest.fixture
def app(database_url):
    app = create_app(make_config(database_url))
    with app.app_context():
        yield app
        dispose_engine()


def dispose_engine(timeout: float = 10.0) -> None:
    """Close the current app's connections. A thread the test started (a job, a bind runner, a
    request still being served) may give its connection back a moment after it was told to stop:
    dispose() closes only the connections in the pool, and one handed back later would be left to
    the garbage collector, which psycopg warns of (and the run fails on, warnings being errors)."""
    db.session.remove()
    deadline = time.monotonic() + timeout
    while getattr(db.engine.pool, "checkedout", lambda: 0)() and time.monotonic() < deadline:
        time.sleep(0.05)
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


def drop_ledger_triggers() -> None:
    """What an attacker with database access does first: take away the consent ledger's
    append-only guard (the triggers of migrations 0002 and 0009), on either database."""
    from sqlalchemy import text
    if db.engine.dialect.name == "sqlite":
        db.session.execute(text("DROP TRIGGER consent_event_no_update"))
        db.session.execute(text("DROP TRIGGER consent_event_no_delete"))
    else:
        db.session.execute(text("ALTER TABLE consent_event DISABLE TRIGGER USER"))


def approved_sender(value: str = "Switchboard", countries: tuple[str, ...] = ("US",)) -> SenderId:
    """An approved sender ID, registered for `countries` (the +1 US numbers the tests use by
    default): every send needs one, and a registration per destination country."""
    from dashboard.sms.sender_ids import guess_kind
    existing = db.session.query(SenderId).filter_by(value=value).one_or_none()
    if existing:
        return existing
    sender = SenderId(value=value, kind=guess_kind(value), status="approved",
                      registrations=[SenderRegistration(country=country, status="approved", notes="test fixture")
                                     for country in countries])
    db.session.add(sender)
    db.session.commit()
    return sender


@pytest.fixture
def sender(app):
    return approved_sender()


def campaign_for(contact_list, sender, **overrides):
    """A campaign to `contact_list` from `sender`, scheduled now and approved unless told otherwise;
    any setting of create_campaign may be overridden."""
    from dashboard.services.campaigns import create_campaign
    values = dict(name="Campaign", list_id=contact_list.id, sender_id_id=sender.id, text="hi",
                  scheduled_at=utcnow(), created_by_id=None, now=utcnow())
    return create_campaign(**{**values, **overrides})


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
