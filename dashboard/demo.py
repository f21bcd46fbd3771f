"""Demo mode: `python app.py` brings up the whole product on one machine.

SQLite in instance/, the SMSC simulator on 127.0.0.1:2775, a bind pointing at it, a demo admin
whose password is printed once, and an opt-in list of a few hundred fictional numbers
(the 555-01xx range that North American numbering reserves for fiction).
"""
from __future__ import annotations

import logging
import secrets
from typing import Callable

from flask import Flask
from flask_migrate import upgrade
from sqlalchemy import select

from dashboard.extensions import db
from dashboard.models import Bind, ContactList, Role, SenderId, SenderRegistration, User
from dashboard.models.types import utcnow

DEMO_ADMIN = "admin@example.com"
DEMO_SYSTEM_ID = "switchboard"
DEMO_BIND_PASSWORD = "secret"
DEMO_AREA_CODES = ("202", "212", "312", "415", "617", "713", "206", "305")


def demo_numbers(count: int) -> list[str]:
    numbers = []
    for area in DEMO_AREA_CODES:
        for line in range(100, 200):
            numbers.append(f"+1{area}555{line:04d}")
            if len(numbers) == count:
                return numbers
    return numbers


DEMO_APPROVER = "approver@example.com"


def seed_demo(app: Flask, announce: Callable[[str], object] = print, contacts: int = 300) -> None:
    from dashboard.services import binds, contacts as contact_service, users
    with app.app_context():
        if db.session.scalar(select(User).where(User.role == Role.ADMIN.value)) is None:
            password = secrets.token_urlsafe(12)
            users.create_user(DEMO_ADMIN, "admin", password)
            approver_password = secrets.token_urlsafe(12)
            users.create_user(DEMO_APPROVER, "ops", approver_password)
            announce(f"\n  Demo admin: {DEMO_ADMIN}  password: {password}"
                     f"\n  Second user, to approve campaigns (four eyes): {DEMO_APPROVER}  password: {approver_password}"
                     f"\n  (shown once; keep them)\n")
        if db.session.scalar(select(Bind)) is None:
            binds.create_bind(name="Simulator", host=app.config["SIMULATOR_HOST"],
                              port=app.config["SIMULATOR_PORT"], system_id=DEMO_SYSTEM_ID,
                              password=DEMO_BIND_PASSWORD, mode="trx", tps=100, window=20)
        if db.session.scalar(select(SenderId)) is None:
            # The demo list is US 555-01xx numbers: an approved US registration lets campaigns go.
            db.session.add(SenderId(value="Switchboard", kind="alphanumeric", status="approved", registrations=[
                SenderRegistration(country="US", status="approved", notes="demo: fictional numbers only")]))
            db.session.commit()
        if db.session.scalar(select(ContactList)) is None:
            demo_list = contact_service.create_list("Demo subscribers", "Fictional 555-01xx numbers for the demo")
            now = utcnow()
            for number in demo_numbers(contacts):
                contact_service.add_contact(demo_list, number, evidence="demo seed data", actor="demo",
                                            now=now, source="admin", commit=False)
            db.session.commit()


def run_demo(app: Flask, port: int = 5000) -> None:
    """Migrate, seed, start the simulator and the sender in this process, and serve the console."""
    from dashboard.simulator import OutcomeRule, Simulator, SimulatorConfig
    from dashboard.worker.scheduler import Worker
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # The demo serves plain http on 127.0.0.1: Secure cookies would never come back (docs/security.md).
    app.config["SECURE_COOKIES"] = app.config["SESSION_COOKIE_SECURE"] = False
    with app.app_context():
        upgrade()
    seed_demo(app)
    simulator = Simulator(SimulatorConfig(host=app.config["SIMULATOR_HOST"], port=app.config["SIMULATOR_PORT"],
                                          accounts={DEMO_SYSTEM_ID: DEMO_BIND_PASSWORD}, receipt_delay=1.0,
                                          outcomes=[OutcomeRule(r"7$", "UNDELIV")],
                                          keep_records=10_000)).start()
    worker = Worker(app).start()
    print(f"\n  Switchboard demo: http://127.0.0.1:{port}  (SMSC simulator on "
          f"{app.config['SIMULATOR_HOST']}:{simulator.port})\n")
    try:
        # The reloader would start a second scheduler: it stays off (STYLE #9).
        app.run(host="127.0.0.1", port=port, use_reloader=False, debug=False, threaded=True)
    finally:
        worker.stop()
        simulator.stop()
