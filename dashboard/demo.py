"""Demo mode: `python app.py [--host H] [--port P]` brings up the whole product on one machine.

SQLite in instance/, the SMSC simulator, two binds pointing at it (the second for failover),
routes priced for the US, Canada and Australia, a demo admin and a second user whose passwords
are printed once, opt-in lists of fictional numbers (the 555-01xx range North American numbering
reserves for fiction, and the range Australia reserves for drama), and a week of past traffic so
that every report has something to show at the first login (dashboard/demo_traffic.py).

It takes its two ports before it touches the database: a port in use ends the demo with one line
and the database as it was.
"""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
from decimal import Decimal
from typing import Callable

from flask import Flask
from flask_migrate import upgrade
from sqlalchemy import select
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from dashboard import PROJECT_ROOT
from dashboard.demo_traffic import seed_past_traffic
from dashboard.extensions import db
from dashboard.models import ApiKey, Bind, ContactList, Role, Route, SenderId, SenderRegistration, User
from dashboard.models.api import SCOPES
from dashboard.models.types import utcnow
from dashboard.services import rollups

DEMO_ADMIN = "admin@example.com"
DEMO_APPROVER = "approver@example.com"
DEMO_SYSTEM_ID = "switchboard"
DEMO_BIND_PASSWORD = "secret"
DEMO_BACKUP_SYSTEM_ID = "backup"
DEMO_BACKUP_PASSWORD = "secret2"
PRIMARY_BIND, BACKUP_BIND = "Simulator", "Simulator backup"
# (name, system_id, password, tps, window): the primary, and a second bind for failover.
DEMO_BINDS = (
    (PRIMARY_BIND, DEMO_SYSTEM_ID, DEMO_BIND_PASSWORD, 100, 20),
    (BACKUP_BIND, DEMO_BACKUP_SYSTEM_ID, DEMO_BACKUP_PASSWORD, 50, 10),
)
DEMO_AREA_CODES = ("202", "212", "312", "415", "617", "713", "206", "305")
CANADA_AREA_CODES = ("416", "604")
# Australia's numbers for drama (ACMA): valid mobiles that reach no one.
AUSTRALIA_FICTIONAL = (
    "0491570006",
    "0491570156",
    "0491570157",
    "0491570158",
    "0491570159",
    "0491570110",
    "0491570313",
    "0491570737",
    "0491571266",
    "0491571491",
    "0491571804",
    "0491572549",
    "0491572665",
    "0491572983",
    "0491573770",
    "0491573087",
    "0491574118",
    "0491574632",
    "0491575254",
    "0491575789",
    "0491576398",
    "0491576801",
    "0491577426",
    "0491577644",
    "0491578957",
    "0491578148",
    "0491578888",
    "0491579212",
    "0491579760",
    "0491579455",
)
DEMO_CURRENCY = "USD"
# (destination prefix, price per part on the primary bind, on the backup bind)
DEMO_ROUTES = (
    ("1", "0.0075", "0.0090"),
    ("1416", "0.0110", "0.0125"),
    ("1604", "0.0110", "0.0125"),
    ("61", "0.0450", "0.0520"),
)
# issue 11's user-management command; printed so that a lost demo password is never a dead end.
PASSWORD_RESET = ".venv/bin/flask --app app user reset-password {email}"


class DemoError(Exception):
    """Why the demo cannot start, in one line."""


def demo_numbers(count: int) -> list[str]:
    numbers = []
    for area in DEMO_AREA_CODES:
        for line in range(100, 200):
            numbers.append(f"+1{area}555{line:04d}")
            if len(numbers) == count:
                return numbers
    return numbers


FIRST_NAMES = (
    "Ada",
    "Ben",
    "Chloe",
    "Dev",
    "Elena",
    "Farid",
    "Grace",
    "Hiro",
    "Ines",
    "Jonah",
    "Kemi",
    "Liam",
    "Maya",
    "Noor",
    "Oscar",
    "Priya",
    "Quinn",
    "Rosa",
    "Sam",
    "Tariq",
)
LAST_NAMES = (
    "Alvarez",
    "Brooks",
    "Chen",
    "Dubois",
    "Evans",
    "Fischer",
    "Garcia",
    "Haddad",
    "Ito",
    "Jensen",
    "Kowalski",
    "Lopez",
    "Murphy",
    "Nakamura",
    "Okafor",
)


def demo_name(index: int) -> str:
    """A made-up name per contact, so that searching a list by name finds someone."""
    first = FIRST_NAMES[index % len(FIRST_NAMES)]
    return f"{first} {LAST_NAMES[(index // len(FIRST_NAMES)) % len(LAST_NAMES)]}"


def world_numbers() -> list[str]:
    """The second demo list: Canadian 555-01xx numbers and Australian drama numbers."""
    canada = [f"+1{area}555{line:04d}" for area in CANADA_AREA_CODES for line in range(100, 120)]
    return canada + [f"+61{number[1:]}" for number in AUSTRALIA_FICTIONAL]


def seed_demo(
    app: Flask,
    announce: Callable[[str], object] = print,
    contacts: int = 300,
    past_traffic: bool = True,
    simulator_port: int | None = None,
) -> None:
    """Everything a first look needs, once: what exists already is left as it is. The binds point
    at `simulator_port` (the running simulator's), else at SIMULATOR_PORT."""
    from dashboard.services import api_keys, binds, users
    from dashboard.services import contacts as contact_service

    with app.app_context():
        if db.session.scalar(select(User).where(User.role == Role.ADMIN.value)) is None:
            password = secrets.token_urlsafe(12)
            users.create_user(DEMO_ADMIN, "admin", password)
            approver_password = secrets.token_urlsafe(12)
            users.create_user(DEMO_APPROVER, "ops", approver_password)
            announce(
                f"\n  Demo admin: {DEMO_ADMIN}  password: {password}"
                f"\n  Second user, to approve campaigns (four eyes): {DEMO_APPROVER}"
                f"  password: {approver_password}"
                f"\n  (shown once; keep them)\n"
            )
        if db.session.scalar(select(ApiKey)) is None:
            key = api_keys.create_key(api_keys.KeySettings(name="demo", scopes=SCOPES), created_by_id=None,
                                      now=utcnow())
            announce(
                f"\n  Demo API key (all scopes; shown once): {key.token}"
                "\n  Send with it: POST /api/v1/messages with Authorization: Bearer <key> and "
                '{"to": "+12025550101", "from": "Switchboard", "text": "Hello"} (docs/api.md)\n'
            )
        if db.session.scalar(select(Bind)) is None:
            primary, backup = (
                binds.create_bind(name=name, host=app.config["SIMULATOR_HOST"],
                                  port=simulator_port or app.config["SIMULATOR_PORT"] or 2775,
                                  system_id=system_id,
                                  password=password, mode="trx", tps=tps, window=window)
                for name, system_id, password, tps, window in DEMO_BINDS)
            for prefix, price, backup_price in DEMO_ROUTES:
                db.session.add_all(
                    [
                        Route(
                            prefix=prefix,
                            bind_id=primary.id,
                            price_per_segment=Decimal(price),
                            currency=DEMO_CURRENCY,
                        ),
                        Route(
                            prefix=prefix,
                            bind_id=backup.id,
                            price_per_segment=Decimal(backup_price),
                            currency=DEMO_CURRENCY,
                            priority=200,
                        ),
                    ]
                )
            db.session.commit()
        if db.session.scalar(select(SenderId)) is None:
            # Fictional numbers only: approved registrations let campaigns go to the demo's
            # countries.
            db.session.add(
                SenderId(
                    value="Switchboard",
                    kind="alphanumeric",
                    status="approved",
                    registrations=[
                        SenderRegistration(
                            country=country, status="approved", notes="demo: fictional numbers only"
                        )
                        for country in ("US", "CA", "AU")
                    ],
                )
            )
            db.session.commit()
        if db.session.scalar(select(ContactList)) is None:
            now = utcnow()
            for name, description, numbers in (
                (
                    "Demo subscribers",
                    "Fictional 555-01xx numbers for the demo",
                    demo_numbers(contacts),
                ),
                (
                    "Canada & Australia",
                    "Fictional Canadian 555-01xx and Australian drama numbers",
                    world_numbers(),
                ),
            ):
                demo_list = contact_service.create_list(name, description)
                for index, number in enumerate(
                    numbers, len(numbers) if name != "Demo subscribers" else 0
                ):
                    contact_service.add_contact(
                        demo_list,
                        number,
                        name=demo_name(index),
                        evidence="demo seed data",
                        actor="demo",
                        now=now,
                        source="admin",
                        commit=False,
                    )
                db.session.commit()
            if past_traffic:
                seed_past_traffic(now)
                # The week was written by bulk insert: roll it up now, so that the first login
                # already shows charts (the worker's job keeps them up to date from here).
                rollups.run(utcnow(), app.config["ROLLUP_MINUTE_HOURS"], budget_seconds=120)


def point_demo_binds_at(app: Flask, host: str, port: int) -> None:
    """The demo's binds follow the simulator it starts, wherever a previous run left them."""
    from dashboard.services.binds import update_bind

    with app.app_context():
        for bind in db.session.scalars(
            select(Bind).where(Bind.name.in_((PRIMARY_BIND, BACKUP_BIND)))
        ):
            if (bind.host, bind.port) != (host, port):
                update_bind(bind, host=host, port=port)


class QuietPollingHandler(WSGIRequestHandler):
    """The access log without the live panels' polling: a page left open asks for its fragments
    every second or two, which would bury every other line. Those answers are logged at debug."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        polling = (
            self.command == "GET"
            and self.headers.get("HX-Request") == "true"
            and str(code)[:1] in ("2", "3")
        )
        if polling:
            self.log(
                "debug",
                '"%s %s %s" %s %s',
                self.command,
                self.path,
                self.request_version,
                code,
                size,
            )
            return
        super().log_request(code, size)


def _reason(exc: OSError) -> str:
    return os.strerror(exc.errno) if exc.errno else str(exc)


def _take_web_port(app: Flask, host: str, port: int) -> BaseWSGIServer:
    """The console's listening socket, taken here: werkzeug would print two lines and exit itself
    on a busy port."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        listener = socket.create_server((host, port), family=family)
    except OSError as exc:
        raise DemoError(
            f"cannot serve the console on {host}:{port}: {_reason(exc)} "
            "(another demo running? pass --port or set SWITCHBOARD_PORT)"
        ) from None
    with listener:
        return make_server(
            host,
            listener.getsockname()[1],
            app,
            threaded=True,
            request_handler=QuietPollingHandler,
            fd=listener.fileno(),
        )


def _start_simulator(app: Flask):
    from dashboard.simulator import OutcomeRule, Simulator, SimulatorConfig

    host, port = app.config["SIMULATOR_HOST"], app.config["SIMULATOR_PORT"]
    config = SimulatorConfig(
        host=host,
        port=port,
        receipt_delay=1.0,
        keep_records=10_000,
        accounts={DEMO_SYSTEM_ID: DEMO_BIND_PASSWORD, DEMO_BACKUP_SYSTEM_ID: DEMO_BACKUP_PASSWORD},
        outcomes=[OutcomeRule(r"7$", "UNDELIV")],
    )
    try:
        return Simulator(config).start()
    except OSError as exc:
        raise DemoError(
            f"cannot start the SMSC simulator on {host}:{port}: {_reason(exc)} "
            "(set SWITCHBOARD_SIMULATOR_PORT to a free port)"
        ) from None


def run_demo(app: Flask, host: str | None = None, port: int | None = None, workers: int = 0) -> None:
    """Take the ports, then migrate, seed, start the simulator and the sender, and serve the
    console. The sender runs in this process, or, with `workers`, as that many `flask worker`
    processes sharing the bind (several need PostgreSQL: docs/scaling.md)."""
    from dashboard.worker.scheduler import Worker

    if workers > 1 and not app.config["DATABASE_URL"].startswith("postgresql"):
        raise DemoError("several sender workers share a PostgreSQL database: run `.venv/bin/flask --app app "
                        "postgres start` and set SWITCHBOARD_DATABASE_URL as it says")
    host = host or app.config["HOST"]
    port = app.config["PORT"] if port is None else port
    # The demo serves plain http: Secure cookies would never come back (docs/security.md).
    app.config["SECURE_COOKIES"] = app.config["SESSION_COOKIE_SECURE"] = False
    server = _take_web_port(app, host, port)
    try:
        simulator = _start_simulator(app)
    except DemoError:
        server.server_close()
        raise
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    worker = None
    processes: list[subprocess.Popen] = []
    try:
        with app.app_context():
            upgrade()
        seed_demo(app, simulator_port=simulator.port)
        point_demo_binds_at(app, app.config["SIMULATOR_HOST"], simulator.port)
        if workers:
            # The production shape: each sender its own process, the web app none of them.
            processes = [subprocess.Popen([sys.executable, "-m", "flask", "--app", "app", "worker"], cwd=PROJECT_ROOT)
                         for _ in range(workers)]
        else:
            worker = Worker(app).start()
        print(
            f"\n  Switchboard demo: http://{host}:{server.port}  (SMSC simulator on "
            f"{app.config['SIMULATOR_HOST']}:{simulator.port})"
            f"\n  Lost a password? Reset it with: {PASSWORD_RESET.format(email=DEMO_ADMIN)}\n",
            flush=True,
        )
        # `kill` stops it as cleanly as Ctrl-C: the sender unbinds, the ports are given back.
        signal.signal(signal.SIGTERM, _interrupt)
        # One process, no reloader: a reloader would start a second scheduler (docs/architecture.md, "Conventions").
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        if worker is not None:
            worker.stop()
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        simulator.stop()
        server.server_close()


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def main(app: Flask, argv: list[str] | None = None) -> int:
    """`python app.py`: the demo, with --host/--port over the HOST/PORT settings."""
    parser = argparse.ArgumentParser(prog="python app.py", description="Run the Switchboard demo.")
    parser.add_argument(
        "--host",
        default=None,
        help=f"address to serve on (default {app.config['HOST']}; setting SWITCHBOARD_HOST)",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=None,
        help=f"port to serve on (default {app.config['PORT']}; setting SWITCHBOARD_PORT)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=0,
        help="run the sender as this many `flask worker` processes instead of in this one "
             "(more than one needs PostgreSQL: docs/scaling.md)",
    )
    args = parser.parse_args(argv)
    if args.port is not None and not 0 <= args.port <= 65535:
        parser.exit(2, f"switchboard demo: --port must be between 0 and 65535, not {args.port}\n")
    if not 0 <= args.workers <= 16:
        parser.exit(2, f"switchboard demo: --workers must be between 0 and 16, not {args.workers}\n")
    try:
        run_demo(app, host=args.host, port=args.port, workers=args.workers)
    except DemoError as exc:
        print(f"switchboard demo: {exc}", file=sys.stderr)
        return 1
    return 0
