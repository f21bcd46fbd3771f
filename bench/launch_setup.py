"""What bench/campaign_launch.py and tests/e2e/test_launch_responsiveness.py both need: a big
audience seeded in one transaction, the sender worker in its own process (so its peak RSS is its
own), the console served over HTTP in a thread, and a logged-in HTTP client for it.

Run as a script it is that worker process:

    python bench/launch_setup.py --worker DATABASE_URL SECRET_KEY [--tick-scale 1.0]

It prints one JSON line when it has started ({"ready": ..., "baseline_rss_mb": ...}) and one
when it has stopped ({"peak_rss_mb": ...}); it stops when its stdin closes.
"""
from __future__ import annotations

import http.cookiejar
import json
import re
import resource
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.import_contacts import number


def peak_rss_mb(pid: int | str = "self") -> float | None:
    """A process's high-water RSS. VmHWM, not ru_maxrss: on Linux a child's ru_maxrss starts at
    its parent's high-water mark at fork (exec keeps it), so a bench's child would report the
    parent's peak. None once the process is gone; ru_maxrss where there is no /proc."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        if pid != "self":
            return None
        return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return round(int(re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE).group(1)) / 1024, 1)


def seed_audience(n: int, name: str = "Everyone"):
    """A list of n subscribed contacts in one transaction: contacts by executemany, memberships by
    one INSERT … SELECT. No consent events, no phonenumbers parsing: the launch is what is
    measured, not the import (bench/import_contacts.py measures that). ~3.5 s for 100,000."""
    from sqlalchemy import func, insert, literal, select

    from dashboard.extensions import db
    from dashboard.models import Contact, ListMembership
    from dashboard.models.types import utcnow
    from dashboard.services.contacts import create_list

    now = utcnow()
    contact_list = create_list(name)
    first_new = (db.session.scalar(select(func.max(Contact.id))) or 0) + 1
    for start in range(0, n, 10_000):  # chunks only keep the parameter lists small
        db.session.execute(insert(Contact), [dict(phone=number(i), name="", fields={}, created_at=now,
                                                  global_opt_out=False) for i in range(start, min(n, start + 10_000))])
    db.session.execute(insert(ListMembership).from_select(
        ["list_id", "contact_id", "subscribed", "created_at"],
        select(literal(contact_list.id), Contact.id, literal(True), literal(now, Contact.created_at.type))
        .where(Contact.id >= first_new)))
    db.session.commit()
    return contact_list


def approved_sender(value: str = "Switchboard"):
    """An approved alphanumeric sender, made as the tests' `sender` fixture and the demo make it."""
    from dashboard import models
    from dashboard.extensions import db

    sender = models.SenderId(value=value, kind="alphanumeric", status="approved")
    # Campaigns need an approved registration for each audience country: the audience here is +1
    # numbers over many area codes, some of them Canadian.
    sender.registrations = [models.SenderRegistration(country=country, status="approved", notes="benchmark")
                            for country in ("US", "CA")]
    db.session.add(sender)
    db.session.commit()
    return sender


def schedule_campaign(contact_list, sender, scheduled_at: datetime, text: str = "Flash sale today: 20% off"):
    """Through the service the console uses, so every check a real campaign passes applies."""
    from dashboard.services.campaigns import create_campaign
    return create_campaign(name=f"Launch of {contact_list.name}", list_id=contact_list.id, sender_id_id=sender.id,
                           text=text, scheduled_at=scheduled_at, created_by_id=None, now=scheduled_at)


class WorkerProcess:
    """The real sender (dashboard.worker.scheduler.Worker: every job in JOBS, a runner per
    enabled bind) in a child process against the same database.

    with WorkerProcess(database_url, secret_key) as worker:
        worker.pid, worker.baseline_rss_mb, peak_rss_mb(worker.pid)
    worker.peak_rss_mb  # after the block: the child's high-water RSS, as it reported it
    """

    def __init__(self, database_url: str, secret_key: str, tick_scale: float = 1.0, start_timeout: float = 30.0):
        self.args = [sys.executable, str(Path(__file__).resolve()), "--worker", database_url, secret_key,
                     "--tick-scale", str(tick_scale)]
        self.start_timeout = start_timeout
        self.process: subprocess.Popen | None = None
        self.baseline_rss_mb: float | None = None
        self.peak_rss_mb: float | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    def __enter__(self) -> WorkerProcess:
        self.process = subprocess.Popen(self.args, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        text=True)
        line = self.process.stdout.readline()  # the child prints it once its jobs are scheduled
        if not line:
            self.process.wait(self.start_timeout)
            raise RuntimeError(f"the worker process exited with {self.process.returncode} while starting")
        self.baseline_rss_mb = json.loads(line)["baseline_rss_mb"]
        return self

    def __exit__(self, *exc) -> None:
        self.process.stdin.close()  # asks the child to stop its jobs and unbind
        with self.process.stdout:
            out = self.process.stdout.read()
        self.process.wait(60)
        lines = out.strip().splitlines()
        if self.process.returncode != 0 or not lines:
            raise RuntimeError(f"the worker process failed ({self.process.returncode})")
        self.peak_rss_mb = json.loads(lines[-1])["peak_rss_mb"]

def _run_worker(database_url: str, secret_key: str, tick_scale: float) -> None:
    import logging

    from dashboard import create_app
    from dashboard.worker.scheduler import Worker

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    app = create_app({"DATABASE_URL": database_url, "SECRET_KEY": secret_key})
    worker = Worker(app, tick_scale=tick_scale)
    baseline = peak_rss_mb()  # the app, the modules, the scheduler: before any job ran
    worker.start()
    print(json.dumps({"ready": worker.worker_id, "baseline_rss_mb": baseline}), flush=True)
    sys.stdin.read()  # until the parent closes it (or dies)
    worker.stop()
    print(json.dumps({"peak_rss_mb": peak_rss_mb()}), flush=True)


@contextmanager
def serving(app) -> Iterator[str]:
    """The console served by werkzeug in a thread (threaded, as `python app.py` serves it);
    yields its base URL."""
    import logging

    from werkzeug.serving import make_server
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
    server = make_server("127.0.0.1", 0, app, threaded=True)
    server.daemon_threads, server.block_on_close = False, True  # close waits for running requests
    thread = threading.Thread(target=server.serve_forever, name="console", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)
        server.server_close()


class ConsoleClient:
    """A person's browser, reduced to cookies and a stopwatch: logs in through the real form
    (CSRF token included) and times page requests."""

    def __init__(self, base_url: str, timeout: float = 30.0):
        self.base_url = base_url
        self.timeout = timeout
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def login(self, email: str, password: str) -> float:
        """Log in; returns the milliseconds the POST took (it writes last_login_at)."""
        _, _, form = self.get("/login")
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', form)
        data = {"email": email, "password": password, **({"csrf_token": token.group(1)} if token else {})}
        status, ms, page = self._open(urllib.request.Request(f"{self.base_url}/login",
                                                             data=urllib.parse.urlencode(data).encode()))
        if status != 200 or "Log out" not in page:
            raise RuntimeError(f"login as {email} failed: {status}")
        return ms

    def get(self, path: str, htmx: bool = False) -> tuple[int, float, str]:
        """(status, milliseconds, body) for one GET; redirects followed, timed as one request."""
        headers = {"HX-Request": "true"} if htmx else {}
        return self._open(urllib.request.Request(f"{self.base_url}{path}", headers=headers))

    def _open(self, request: urllib.request.Request) -> tuple[int, float, str]:
        started = time.perf_counter()
        try:
            with self.opener.open(request, timeout=self.timeout) as response:
                body = response.read().decode()
                status = response.status
        except urllib.error.HTTPError as exc:
            body, status = exc.read().decode(errors="replace"), exc.code
        return status, (time.perf_counter() - started) * 1000, body


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="The sender worker in its own process (see module docstring).")
    parser.add_argument("--worker", nargs=2, metavar=("DATABASE_URL", "SECRET_KEY"), required=True)
    parser.add_argument("--tick-scale", type=float, default=1.0)
    args = parser.parse_args()
    _run_worker(*args.worker, args.tick_scale)
