"""The console under gunicorn with several workers: each serves pages, and none starts the sender's
scheduler (docs/scaling.md, "The web app") — no heartbeat, no lease, whatever the traffic."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from sqlalchemy import func, select

from dashboard.extensions import db
from dashboard.local_postgres import free_port
from dashboard.models import SenderWorker, WorkerLease

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_two_gunicorn_workers_serve_the_console_and_start_no_scheduler(app, tmp_path):
    port = free_port()
    env = {**os.environ, "SWITCHBOARD_DATABASE_URL": app.config["DATABASE_URL"],
           "SWITCHBOARD_SECRET_KEY": app.config["SECRET_KEY"],
           "SWITCHBOARD_ENCRYPTION_KEY_FILE": str(tmp_path / "keys")}
    gunicorn = Path(sys.executable).with_name("gunicorn")
    server = subprocess.Popen([str(gunicorn), "-w", "2", "-b", f"127.0.0.1:{port}", "app:app"], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        served = 0
        deadline = time.monotonic() + 30
        while served < 10 and time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=5) as response:
                    served += response.status == 200
            except OSError:
                time.sleep(0.2)
        assert served == 10, "gunicorn did not serve the console"
        time.sleep(2)  # a scheduler, had one started, would have beaten and taken a lease by now
        db.session.expire_all()
        assert db.session.scalar(select(func.count()).select_from(SenderWorker)) == 0
        assert db.session.scalar(select(func.count()).select_from(WorkerLease)) == 0
        assert len(_children(server.pid)) == 2  # two web workers, each with the app
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=20)


def _children(pid: int) -> list[int]:
    import psutil
    return [child.pid for child in psutil.Process(pid).children()]
