"""Campaign launch: materialisation rows/s, end-to-end msgs/s with receipts, the worker's peak
RSS, and how fast the console answers while a big campaign launches.

N subscribed contacts are seeded in one transaction; a bind to the simulator (its own process,
receipts at once), a route and an approved sender are set up and a campaign is scheduled through
the campaign service. The real worker (every job in JOBS: the launch job, the bind runner …) runs
in its own process and launches and sends it, while a thread in this process requests the
campaign page and its progress partial over HTTP (werkzeug, threaded) as a logged-in ops user.
Before that, in another process and on a copy of the seeded database, the launch job's body
(launch_due) runs in a loop: materialisation without the job's one-second interval.

    python bench/campaign_launch.py [--n 100000] [--send-n M] [--page-interval 1.0] [--json]
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.launch_setup import (
    ConsoleClient,
    WorkerProcess,
    approved_sender,
    peak_rss_mb,
    schedule_campaign,
    seed_audience,
    serving,
)

SYSTEM_ID = "switchboard"
PASSWORD = "secret"
SECRET_KEY = "bench"
OPS_EMAIL = "ops@example.com"
OPS_PASSWORD = "bench password"


def make_app(db_path: Path, **overrides):
    from dashboard import create_app
    return create_app({"SECRET_KEY": SECRET_KEY, "DATABASE_URL": f"sqlite:///{db_path}", **overrides})


def set_up(db_path: Path, n: int, port: int, window: int) -> dict:
    """Everything a launch needs, in the database: returns the seeding time."""
    from flask_migrate import upgrade

    from dashboard.extensions import db
    from dashboard.models import Route
    from dashboard.services.binds import create_bind
    from dashboard.services.users import create_user

    app = make_app(db_path)
    with app.app_context():
        upgrade()
        bind = create_bind(name="simulator", host="127.0.0.1", port=port, system_id=SYSTEM_ID, password=PASSWORD,
                           mode="trx", tps=100_000, window=window, response_timeout=30)
        db.session.add(Route(prefix="1", bind_id=bind.id, price_per_segment=Decimal("0.0075")))
        db.session.commit()
        approved_sender()
        create_user(OPS_EMAIL, "ops", OPS_PASSWORD)
        started = time.perf_counter()
        seed_audience(n, "Everyone")
        seeded = time.perf_counter() - started
        db.session.remove()
        db.engine.dispose()  # checkpoints the WAL, so the file can be copied whole
    return {"seed_seconds": round(seeded, 1)}


def materialise_unpaced(db_path: Path) -> dict:
    """Runs in its own process: launch_due in a loop until the campaign is launched, no pause
    between calls. What the launch costs per batch, and in memory."""
    from dashboard.extensions import db
    from dashboard.models import Campaign, ContactList, SenderId
    from dashboard.models.types import utcnow
    from dashboard.services import campaigns

    app = make_app(db_path)
    with app.app_context():
        contact_list = db.session.query(ContactList).filter_by(name="Everyone").one()
        campaign = schedule_campaign(contact_list, db.session.query(SenderId).one(), utcnow())
        baseline = peak_rss_mb()
        calls: list[float] = []  # one launch_due call runs batches for up to half a second
        started = time.perf_counter()
        while True:
            t = time.perf_counter()
            created = campaigns.launch_due(utcnow())
            calls.append(time.perf_counter() - t)
            db.session.expire_all()
            if db.session.get(Campaign, campaign.id).status != "launching" and not created:
                break
        elapsed = time.perf_counter() - started
        materialised = db.session.get(Campaign, campaign.id).materialised
    return {"unpaced_rows": materialised, "unpaced_seconds": round(elapsed, 1),
            "materialise_rows_per_s_unpaced": round(materialised / elapsed),
            "launch_call_ms_median": round(statistics.median(calls) * 1000),
            "launch_call_ms_max": round(max(calls) * 1000),
            "unpaced_baseline_rss_mb": baseline, "unpaced_peak_rss_mb": peak_rss_mb()}


class PagePoller(threading.Thread):
    """A person watching the campaign: the progress partial as htmx polls it, every `interval`
    seconds, and every other time the whole page. Records (wall-clock start, path, status, ms)."""

    def __init__(self, client: ConsoleClient, campaign_id: int, interval: float):
        super().__init__(name="page-poller", daemon=True)
        self.client, self.interval = client, interval
        self.paths = [(f"/campaigns/{campaign_id}", False), (f"/campaigns/{campaign_id}/progress", True)]
        self.samples: list[tuple[float, str, int, float]] = []
        self.done = threading.Event()

    def run(self) -> None:
        turn = 0
        while not self.done.is_set():
            path, htmx = self.paths[turn % 2]
            at = time.time()
            status, ms, _ = self.client.get(path, htmx=htmx)
            self.samples.append((at, path, status, ms))
            turn += 1
            self.done.wait(self.interval)

    def between(self, start: float, end: float) -> list[float]:
        bad = [s for s in self.samples if start <= s[0] < end and s[2] != 200]
        if bad:
            raise SystemExit(f"page requests failed during the run: {bad[:3]}")
        return [s[3] for s in self.samples if start <= s[0] < end]


def summary(ms: list[float]) -> dict:
    if len(ms) < 2:
        return {"count": len(ms), "p50": None, "p95": None, "max": round(max(ms), 1) if ms else None}
    cut = statistics.quantiles(ms, n=100, method="inclusive")
    return {"count": len(ms), "p50": round(cut[49], 1), "p95": round(cut[94], 1), "max": round(max(ms), 1)}


def run_launch(db_path: Path, n: int, send_n: int, page_interval: float) -> dict:
    from sqlalchemy import func, select

    from dashboard.extensions import db
    from dashboard.models import Campaign, ContactList, Message, SenderId
    from dashboard.models.types import utcnow
    from dashboard.sms import lifecycle as lc

    served = make_app(db_path)  # the console, CSRF on, as it is deployed
    app = make_app(db_path)  # this script's own reads
    with app.app_context(), serving(served) as url:
        contact_list = db.session.query(ContactList).filter_by(name="Everyone").one()
        campaign = schedule_campaign(contact_list, db.session.query(SenderId).one(), utcnow())
        client = ConsoleClient(url)
        client.login(OPS_EMAIL, OPS_PASSWORD)
        # The page of a scheduled campaign prices its whole audience (the estimate): worth knowing.
        before = [client.get(f"/campaigns/{campaign.id}")[1] for _ in range(3)]
        poller = PagePoller(client, campaign.id, page_interval)
        poller.start()
        with WorkerProcess(f"sqlite:///{db_path}", SECRET_KEY) as worker:
            materialised_at = finished_at = None
            launch_rss = None
            deadline = time.time() + 120 + send_n / 100
            while time.time() < deadline:
                time.sleep(0.2)
                db.session.expire_all()
                current = db.session.get(Campaign, campaign.id)
                if materialised_at is None and current.status not in ("scheduled", "launching"):
                    materialised_at, launch_rss = time.time(), peak_rss_mb(worker.pid)
                    launched_at = current.launched_at.timestamp()
                    materialised = current.materialised
                if finished_at is None and db.session.scalar(select(func.count()).select_from(Message).where(
                        Message.campaign_id == campaign.id, Message.status.in_(lc.FINAL))) >= send_n:
                    finished_at = time.time()
                db.session.commit()
                if materialised_at is not None and finished_at is not None:
                    break
            poller.done.set()
            if materialised_at is None or finished_at is None:
                raise SystemExit(f"the campaign did not finish: {current.status}, {current.materialised} materialised")
        poller.join()
        statuses = dict(db.session.execute(select(Message.status, func.count()).where(
            Message.campaign_id == campaign.id).group_by(Message.status)).all())
    if materialised != n:
        raise SystemExit(f"materialised {materialised} of {n}")
    during_launch = summary(poller.between(launched_at, materialised_at))
    during_send = summary(poller.between(materialised_at, finished_at))
    return {
        "materialise_seconds": round(materialised_at - launched_at, 1),
        "materialise_rows_per_s": round(n / (materialised_at - launched_at)),
        "send_n": send_n, "end_to_end_seconds": round(finished_at - launched_at, 1),
        "end_to_end_msgs_per_s": round(send_n / (finished_at - launched_at), 1),
        "statuses_at_end": statuses,
        "baseline_rss_mb": worker.baseline_rss_mb, "launch_peak_rss_mb": launch_rss, "peak_rss_mb": worker.peak_rss_mb,
        "page_ms_before_launch": [round(ms, 1) for ms in before],
        "page_requests_during_launch": during_launch["count"],
        "page_p50_ms_during_launch": during_launch["p50"], "page_p95_ms_during_launch": during_launch["p95"],
        "page_max_ms_during_launch": during_launch["max"],
        "page_p50_ms_during_send": during_send["p50"], "page_p95_ms_during_send": during_send["p95"],
        "page_max_ms_during_send": during_send["max"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100_000, help="recipients")
    parser.add_argument("--send-n", type=int, help="stop once this many messages are final (default: all N)")
    parser.add_argument("--window", type=int, default=100)
    parser.add_argument("--page-interval", type=float, default=1.0,
                        help="seconds between page requests (the progress partial polls every 1 s)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--unpaced-only", metavar="DB", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.unpaced_only:
        print(json.dumps(materialise_unpaced(Path(args.unpaced_only))))
        return
    send_n = min(args.send_n or args.n, args.n)

    from dashboard.simulator import SimulatorConfig
    from dashboard.simulator.process import SimulatorProcess

    config = SimulatorConfig(port=0, receipt_delay=0, accounts={SYSTEM_ID: PASSWORD}, keep_records=1000)
    with tempfile.TemporaryDirectory(prefix="switchboard-launch-") as tmp, SimulatorProcess(config) as sim:
        db_path = Path(tmp) / "bench.db"
        figures = {"n": args.n, **set_up(db_path, args.n, sim.port, args.window)}
        shutil.copy(db_path, Path(tmp) / "unpaced.db")
        child = subprocess.run([sys.executable, __file__, "--unpaced-only", str(Path(tmp) / "unpaced.db")],
                               check=True, capture_output=True, text=True)
        figures.update(json.loads(child.stdout.strip().splitlines()[-1]))
        figures.update(run_launch(db_path, args.n, send_n, args.page_interval))

    print(f"seeded {args.n:,} contacts in {figures['seed_seconds']} s")
    print(f"materialisation, launch_due in a loop (no job interval): {figures['materialise_rows_per_s_unpaced']:,} "
          f"rows/s, launch_due call median {figures['launch_call_ms_median']} ms, max {figures['launch_call_ms_max']} ms; "
          f"RSS {figures['unpaced_peak_rss_mb']} MB (baseline {figures['unpaced_baseline_rss_mb']})")
    print(f"materialisation by the worker's launch job: {figures['materialise_rows_per_s']:,} rows/s "
          f"({args.n:,} in {figures['materialise_seconds']} s)")
    scope = "all" if send_n == args.n else f"the first {send_n:,} of"
    print(f"end to end, launch start → {scope} {args.n:,} messages final (receipts recorded): "
          f"{figures['end_to_end_msgs_per_s']:,} msgs/s ({figures['end_to_end_seconds']} s); "
          f"{figures['statuses_at_end']}")
    print(f"worker process RSS: baseline {figures['baseline_rss_mb']} MB, peak by the end of materialisation "
          f"{figures['launch_peak_rss_mb']} MB, peak over the run {figures['peak_rss_mb']} MB")
    print(f"campaign page before launch (with the estimate): {figures['page_ms_before_launch']} ms")
    print(f"campaign page + progress partial during materialisation ({figures['page_requests_during_launch']} "
          f"requests): p50 {figures['page_p50_ms_during_launch']} ms, p95 {figures['page_p95_ms_during_launch']} ms, "
          f"max {figures['page_max_ms_during_launch']} ms")
    print(f"… during sending: p50 {figures['page_p50_ms_during_send']} ms, p95 {figures['page_p95_ms_during_send']} "
          f"ms, max {figures['page_max_ms_during_send']} ms")
    if args.json:
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
