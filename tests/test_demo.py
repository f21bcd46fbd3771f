"""`python app.py`: the demo starts anywhere, never leaves a trap, and shows the product at the
first login (a week of traffic, routes priced in a currency, two binds)."""

from __future__ import annotations

import hashlib
import logging
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select
from werkzeug.serving import make_server

from dashboard import create_app
from dashboard.demo import BACKUP_BIND, PRIMARY_BIND, QuietPollingHandler, seed_demo
from dashboard.extensions import db
from dashboard.models import (
    Bind,
    Campaign,
    DeliveryReceipt,
    Message,
    MessageEvent,
    MessagePart,
    RollupCursor,
    Route,
)
from dashboard.models.types import utcnow
from dashboard.services import traffic
from dashboard.services.reports import campaign_report
from dashboard.services.rollups import CURSOR
from dashboard.sms.regions import region_of
from tests.conftest import make_config

REPO = Path(__file__).resolve().parents[1]


def _demo_env(db_path: Path, **settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_")}
    env |= {
        "SWITCHBOARD_DATABASE_URL": f"sqlite:///{db_path}",
        "SWITCHBOARD_SECRET_KEY": "demo-test",
    }
    return env | {f"SWITCHBOARD_{k}": str(v) for k, v in settings.items()}


def _run_demo(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "app.py", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def busy_port():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        yield taken.getsockname()[1]


def _digest(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


def test_a_busy_web_port_stops_the_demo_with_one_line_before_the_database_is_touched(
    tmp_path, busy_port
):
    db_path = tmp_path / "demo.db"
    result = _run_demo(_demo_env(db_path, SIMULATOR_PORT=0), "--port", str(busy_port))
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"switchboard demo: cannot serve the console on 127.0.0.1:{busy_port}: "
        "Address already in use "
        "(another demo running? pass --port or set SWITCHBOARD_PORT)"
    ]
    assert not db_path.exists()


def test_a_busy_simulator_port_stops_the_demo_with_one_line_and_the_database_as_it_was(
    tmp_path, busy_port
):
    db_path = tmp_path / "demo.db"
    app = create_app(make_config(db_path))
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()
        db.engine.dispose()
    before = _digest(db_path)
    result = _run_demo(_demo_env(db_path, SIMULATOR_PORT=busy_port, PORT=0))
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"switchboard demo: cannot start the SMSC simulator on 127.0.0.1:{busy_port}: "
        "Address already in use "
        "(set SWITCHBOARD_SIMULATOR_PORT to a free port)"
    ]
    assert _digest(db_path) == before
    assert "Traceback" not in result.stdout + result.stderr


def test_the_port_setting_is_honoured_and_a_bad_one_is_refused(tmp_path):
    result = _run_demo(_demo_env(tmp_path / "demo.db", PORT="five-thousand"))
    assert (
        result.returncode != 0
        and "SWITCHBOARD_PORT must be an integer, not 'five-thousand'" in result.stderr
    )
    result = _run_demo(_demo_env(tmp_path / "demo.db"), "--port", "70000")
    assert result.returncode == 2
    assert (
        result.stderr.strip() == "switchboard demo: --port must be between 0 and 65535, not 70000"
    )
    assert not (tmp_path / "demo.db").exists()


def test_the_demo_points_its_binds_at_the_simulator_it_starts_and_says_how_to_reset_a_password(
    tmp_path,
):
    """A first run that died left the binds on another simulator port: the next run moves them."""
    db_path = tmp_path / "demo.db"
    app = create_app(make_config(db_path, SIMULATOR_PORT=1))
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()
    seed_demo(app, announce=lambda _text: None)
    with app.app_context():
        assert set(db.session.scalars(select(Bind.port))) == {1}
        db.engine.dispose()

    with _demo(db_path, SIMULATOR_PORT=0) as (web, sim_port, output):
        assert (
            "Lost a password? Reset it with: "
            ".venv/bin/flask --app app user reset-password admin@example.com"
        ) in output
        assert "Demo admin:" not in output  # its passwords were shown by the first run
        with urllib.request.urlopen(f"{web}/login", timeout=10) as response:
            assert response.status == 200
        with app.app_context():
            assert set(db.session.scalars(select(Bind.port))) == {int(sim_port)}
            db.engine.dispose()


@contextmanager
def _demo(db_path: Path, stop: int = signal.SIGINT, **settings) -> Iterator[tuple[str, str, str]]:
    """`python app.py --port 0` running until the block ends, then stopped with `stop` (Ctrl-C's
    SIGINT, or kill's SIGTERM), which it must obey cleanly; yields the console's URL, the
    simulator's port and what the demo printed up to then."""
    demo = subprocess.Popen(
        [sys.executable, "app.py", "--port", "0"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=_demo_env(db_path, **settings),
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(demo.stdout), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 60
        while not any("Lost a password?" in line for line in lines):
            assert time.monotonic() < deadline and demo.poll() is None, "".join(lines)
            time.sleep(0.1)
        output = "".join(lines)
        web, sim_port = re.search(
            r"Switchboard demo: (http://127\.0\.0\.1:\d+) +\(SMSC simulator on "
            r"127\.0\.0\.1:(\d+)\)",
            output,
        ).groups()
        yield web, sim_port, output
    finally:
        demo.send_signal(stop)
        assert demo.wait(timeout=30) == 0
        reader.join(timeout=5)
        demo.stdout.close()


def test_a_fresh_demo_with_any_free_ports_starts_and_serves(tmp_path):
    """SIMULATOR_PORT 0 and --port 0: the binds get the port the simulator was given."""
    db_path = tmp_path / "demo.db"
    started = time.monotonic()
    with _demo(db_path, stop=signal.SIGTERM, SIMULATOR_PORT=0) as (web, sim_port, output):
        ready = time.monotonic() - started
        assert "Demo admin: admin@example.com  password: " in output
        with urllib.request.urlopen(f"{web}/login", timeout=10) as response:
            assert response.status == 200
        token = re.search(r"Demo API key \(all scopes; shown once\): (sb_\S+)", output).group(1)
        send = urllib.request.Request(f"{web}/api/v1/messages", method="POST", data=json.dumps(
            {"to": "+12025550101", "from": "Switchboard", "text": "Hello"}).encode(), headers={
            "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        with urllib.request.urlopen(send, timeout=10) as response:
            assert response.status == 201  # the API is served by the same one command
        app = create_app(make_config(db_path))
        with app.app_context():
            assert set(db.session.scalars(select(Bind.port))) == {int(sim_port)}
            db.engine.dispose()
    assert ready < 30  # migrations, seeding and a week of traffic: seconds, on this small machine


@pytest.fixture
def seeded(app):
    started = time.monotonic()
    seed_demo(app, announce=lambda _text: None)
    return time.monotonic() - started


def test_the_demo_seeds_routes_priced_in_a_currency_for_three_countries_and_a_failover_bind(seeded):
    binds = {b.name: b.id for b in db.session.scalars(select(Bind))}
    assert set(binds) == {PRIMARY_BIND, BACKUP_BIND}
    routes = db.session.scalars(select(Route)).all()
    assert {r.currency for r in routes} == {"USD"}
    assert {r.prefix for r in routes} == {"1", "1416", "1604", "61"}
    assert all(
        {r.bind_id for r in routes if r.prefix == prefix} == set(binds.values())
        for prefix in ("1", "61")
    )  # every destination has a second bind to fail over to


def test_the_demo_seeds_a_realistic_week_of_traffic_in_seconds(seeded):
    now = utcnow()
    assert (
        seeded < 15
    )  # everything, contacts and their consent included; the traffic itself is bulk inserts
    statuses = dict(
        db.session.execute(select(Message.status, func.count()).group_by(Message.status)).all()
    )
    assert set(statuses) == {"delivered", "undeliverable", "expired", "rejected", "failed"}
    total = sum(statuses.values())
    assert total > 1000 and 0.8 < statuses["delivered"] / total < 0.95
    failed = db.session.scalars(select(Message).where(Message.status != "delivered")).all()
    assert all(m.reason for m in failed)  # every failure says why
    assert {m.reason for m in failed if m.status == "undeliverable"} == {
        "UNDELIV (undeliverable), err 001: unknown subscriber"
    }
    oldest, newest = db.session.execute(
        select(func.min(Message.created_at), func.max(Message.created_at))
    ).one()
    assert now - timedelta(days=8) < oldest and newest < now
    assert (
        db.session.scalar(
            select(func.count()).select_from(Campaign).where(Campaign.status == "completed")
        )
        >= 4
    )
    assert {region_of(d) for d in db.session.scalars(select(Message.destination).distinct())} == {
        "US",
        "CA",
        "AU",
    }
    assert len(set(db.session.scalars(select(Message.bind_id).distinct()))) == 2
    assert db.session.scalar(select(func.max(Message.segments))) == 2
    parts = db.session.scalars(select(MessagePart).where(MessagePart.price.is_not(None))).all()
    assert {p.currency for p in parts} == {"USD"} and all(p.price > 0 for p in parts)
    assert db.session.scalar(select(func.count()).select_from(DeliveryReceipt)) == len(parts)
    assert all(p.done_at >= p.submitted_at for p in parts)
    assert db.session.scalar(select(func.count()).select_from(MessageEvent)) > 4 * total


def test_every_seeded_campaign_has_a_report_with_costs_in_its_currency(seeded):
    for campaign in db.session.scalars(select(Campaign)):
        report = campaign_report(campaign)
        assert report.total and report.failures and report.by_country and report.by_carrier
        assert report.cost.currencies == ["USD"] and report.cost.amount("USD") > Decimal("0")


def test_live_polling_is_logged_at_debug_and_the_rest_at_info(app, caplog, monkeypatch):
    # Alembic's fileConfig (run by earlier tests' migrations) disables loggers that existed then.
    monkeypatch.setattr(logging.getLogger("werkzeug"), "disabled", False)
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietPollingHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}/login"
    try:
        with caplog.at_level(logging.DEBUG, logger="werkzeug"):
            for headers in ({"HX-Request": "true"}, {}):
                with urllib.request.urlopen(
                    urllib.request.Request(url, headers=headers), timeout=10
                ):
                    pass
            time.sleep(0.2)
    finally:
        server.shutdown()
        thread.join(timeout=5)
        server.server_close()
    levels = [r.levelno for r in caplog.records if "GET /login" in r.getMessage()]
    assert levels == [logging.DEBUG, logging.INFO]


def test_the_demos_past_week_is_rolled_up_so_the_first_login_shows_charts(seeded):
    assert db.session.get(RollupCursor, CURSOR).last_id == db.session.scalar(select(func.max(MessageEvent.id)))
    days = traffic.daily(utcnow(), 8)
    rolled = sum(d.delivered + d.failed for d in days)
    ended = db.session.scalar(select(func.count()).select_from(Message).where(Message.done_at.is_not(None)))
    assert rolled == ended  # every outcome of the week, on the day it happened
    assert sum(1 for d in days if d.submitted) >= 6 and all(d.cost.currencies in ([], ["USD"]) for d in days)
    one_time_codes = [t for t in traffic.targets_since(utcnow() - timedelta(days=8)) if t.target.kind == "one_time_code"]
    assert one_time_codes[0].with_outcome > 0  # the sign-in codes count as one-time codes
