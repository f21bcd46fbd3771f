"""Browser-test fixtures: the console served over HTTP, Debian's chromium driven by Playwright.

The served app is its own create_app() with CSRF on, pointed at the same SQLite file as the `app`
fixture, so the factories in tests/conftest.py seed what the browser then sees."""
from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import expect
from werkzeug.serving import make_server

from dashboard import create_app
from dashboard.simulator import OutcomeRule
from tests.conftest import PASSWORD, dispose_engine, make_config, numbers

CHROMIUM = Path("/usr/bin/chromium")
# Quiet, offline chromium: no sandbox (containers, root), no GPU, no background phoning home.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class LiveConsole:
    url: str
    email: str
    password: str  # every test user's (the demo's: its admin's, as the demo printed it)
    audience: list[str]

    def log_in(self, page, email: str | None = None) -> None:
        """Through the login form, as the admin unless told otherwise; lands on the home page."""
        page.goto(f"{self.url}/login")
        page.fill("input[name=email]", email or self.email)
        page.fill("input[name=password]", self.password)
        page.get_by_role("button", name="Log in").click()
        expect(page).to_have_url(f"{self.url}/")


@pytest.fixture
def live_console(request, app, database_url, make_simulator, make_bind, make_list, sender, make_user,
                 worker) -> Iterator[LiveConsole]:
    """The whole product on loopback: simulator, bind, list, admin, worker, and HTTP."""
    # Numbers ending in 7 are undeliverable at this SMSC.
    simulator = make_simulator(outcomes=[OutcomeRule(r"7$", "UNDELIV")], receipt_delay=0.3)
    make_bind(simulator)
    audience = numbers(12)
    make_list(audience, name="Browser customers")
    user = make_user("admin@example.com", "admin", PASSWORD)
    worker()

    marker = request.node.get_closest_marker("console_config")
    config = make_config(database_url, WTF_CSRF_ENABLED=True, **(marker.kwargs if marker else {}))
    with _served(config) as url:
        yield LiveConsole(url, user.email, PASSWORD, audience)


@contextmanager
def _served(config: dict) -> Iterator[str]:
    """Its own create_app() with `config`, served over HTTP on loopback; yields the base URL."""
    served = create_app(config)
    server = make_server("127.0.0.1", 0, served, threaded=True)
    # server_close() waits for requests still running (a poll the browser sent last), so that none
    # holds a database connection after the engine is disposed.
    server.daemon_threads, server.block_on_close = False, True
    thread = threading.Thread(target=server.serve_forever, name="live-console", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)
        server.server_close()
        with served.app_context():
            dispose_engine()


@pytest.fixture
def demo_console(app, database_url, make_simulator, worker) -> Iterator[LiveConsole]:
    """The seeded demo as `python app.py` brings it up — its data, its simulator accounts and
    outcomes, its sender — served over HTTP on loopback."""
    from dashboard.demo import (
        DEMO_ADMIN,
        DEMO_BACKUP_PASSWORD,
        DEMO_BACKUP_SYSTEM_ID,
        DEMO_BIND_PASSWORD,
        DEMO_SYSTEM_ID,
        point_demo_binds_at,
        seed_demo,
    )
    printed: list[str] = []
    seed_demo(app, announce=printed.append)
    password = re.search(r"Demo admin: \S+  password: (\S+)", "".join(printed)).group(1)
    accounts = {DEMO_SYSTEM_ID: DEMO_BIND_PASSWORD, DEMO_BACKUP_SYSTEM_ID: DEMO_BACKUP_PASSWORD}
    simulator = make_simulator(accounts=accounts, outcomes=[OutcomeRule(r"7$", "UNDELIV")],
                               receipt_delay=0.3)
    point_demo_binds_at(app, "127.0.0.1", simulator.port)
    worker()
    with _served(make_config(database_url, WTF_CSRF_ENABLED=True)) as url:
        yield LiveConsole(url, DEMO_ADMIN, password, audience=[])


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        # Failing, not skipping: a silently skipped browser test looks like a passing one.
        pytest.fail(f"{CHROMIUM} is missing: run the README's test command, `bash .ci/run`, "
                    "which installs Debian's chromium for the browser tests.")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def output_dir(request) -> Path:
    """test-output/<test name>/ under the repo root (git-ignored), for screenshots."""
    path = REPO_ROOT / "test-output" / request.node.name
    path.mkdir(parents=True, exist_ok=True)
    return path
