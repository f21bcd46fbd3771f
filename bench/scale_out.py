"""Scale-out: messages per second with 1, 2 and 4 sender workers (`flask worker` processes) sharing
one PostgreSQL database and 4 binds, and one worker on SQLite, in one run.

Each run queues N one-part messages over the 4 binds while the workers are already up and hold
their leases, and times from the commit of the queue to the last receipt recorded. The SMSC
simulator runs in its own process; PostgreSQL is a throwaway cluster on this machine started from
initdb/pg_ctl (dashboard/local_postgres.py). Everything shares the machine's cores: the figures
say what the design gives here, docs/scaling.md what more cores would give.

    python bench/scale_out.py [--n 20000] [--workers 1,2,4] [--repeat 1] [--json]
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BINDS = 4
PASSWORD = "secret"
TEXT = "Your code is 482913. It expires in 10 minutes."


def run(url: str, n: int, workers: int, sim_port: int, keys: Path, window: int = 100) -> dict:
    """One timed run on a fresh database at `url` with `workers` worker processes."""
    from flask_migrate import upgrade
    from sqlalchemy import func, select, text

    from dashboard import create_app
    from dashboard.extensions import db
    from dashboard.models import Message
    from dashboard.models.types import utcnow
    from dashboard.services import leases
    from dashboard.services.binds import create_bind
    from dashboard.services.routing import RouteChoice
    from dashboard.services.sending.enqueue import insert_messages, message_values
    from dashboard.sms import lifecycle as lc
    from dashboard.sms.encoding import analyse

    config = {"SECRET_KEY": "bench", "DATABASE_URL": url, "ENCRYPTION_KEY_FILE": str(keys)}
    app = create_app(config)
    with app.app_context():
        upgrade()
        bind_ids = [create_bind(name=f"carrier{i}", host="127.0.0.1", port=sim_port, system_id=f"c{i}",
                                password=PASSWORD, mode="trx", tps=100_000, window=window,
                                response_timeout=30).id for i in range(BINDS)]
        env = {**os.environ, "SWITCHBOARD_DATABASE_URL": url, "SWITCHBOARD_SECRET_KEY": "bench",
               "SWITCHBOARD_ENCRYPTION_KEY_FILE": str(keys)}
        processes = [subprocess.Popen([sys.executable, "-m", "flask", "--app", "app", "worker"], cwd=ROOT, env=env,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                     for _ in range(workers)]
        try:
            # Up, bound and balanced before the clock starts: this measures sending, not start-up.
            deadline = time.monotonic() + 120
            while True:
                db.session.expire_all()
                owners = [owner for owner, _epoch, expires in leases.holders("bind:").values()
                          if owner and expires and expires > utcnow()]
                db.session.commit()
                if len(owners) == BINDS and len(set(owners)) == min(workers, BINDS):
                    break
                if time.monotonic() > deadline:
                    raise SystemExit(f"{workers} workers did not share the binds: {owners}")
                time.sleep(0.2)
            time.sleep(1.0)  # the last runners bind their sessions
            info = analyse(TEXT)
            now = utcnow()
            rows = [message_values(destination=f"+1415{i:07d}", text=TEXT, info=info, source="Switchboard", ton=5,
                                   npi=0, route=RouteChoice(bind_ids[i % BINDS], None, None), priority=100, now=now,
                                   udh_ref=i % 256) for i in range(n)]
            for start in range(0, n, 5000):
                insert_messages(rows[start:start + 5000])
            db.session.commit()
            # The statistics a running install's autovacuum keeps, on both databases: a table made
            # seconds ago has none, and PostgreSQL then planned the webhook job's poll as a scan of
            # every message, 34 ms twice a second (docs/performance.md, "Scale-out on PostgreSQL").
            db.session.execute(text("ANALYZE message"))
            db.session.commit()
            started, started_at = time.monotonic(), utcnow()
            # The poll runs on the cores it measures: once a second, and a probe of the claim
            # index for anything unfinished, not a count of 50,000 rows (~20 ms of PostgreSQL's
            # CPU by the end of a run). The time is read from the rows below, not from the poll.
            unfinished = select(Message.id).where(
                Message.status.in_([s for s in lc.MESSAGE_STATES if s not in lc.FINAL])).limit(1)
            while True:
                time.sleep(1.0)
                busy = db.session.scalar(unfinished) is not None
                db.session.commit()
                if not busy:
                    break
                if time.monotonic() - started > max(180, n / 50):
                    raise SystemExit(f"{workers} workers did not finish in time")
            delivered = db.session.scalar(select(func.count()).select_from(Message)
                                          .where(Message.status == "delivered"))
            if delivered != n:
                raise SystemExit(f"{workers} workers delivered {delivered} of {n}")
            # From the times the workers wrote, not from when this loop noticed: a poll once a second would
            # add up to a second to a run of half a minute.
            elapsed = (db.session.scalar(select(func.max(Message.done_at))) - started_at).total_seconds()
            db.session.commit()
        finally:
            for process in processes:
                process.send_signal(signal.SIGTERM)
            for process in processes:
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
        db.session.remove()
        db.engine.dispose()
    return {"workers": workers, "msgs_per_s": round(n / elapsed, 1), "seconds": round(elapsed, 2)}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--workers", default="1,2,4", help="comma-separated worker counts on PostgreSQL")
    parser.add_argument("--window", type=int, default=100, help="each bind's window (submits in flight)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="run the whole sequence this many times, interleaved, and report medians: "
                             "on a machine whose speed drifts between minutes one run's ratio moves by a tenth")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    from dashboard.local_postgres import LocalPostgres
    from dashboard.simulator import SimulatorConfig
    from dashboard.simulator.process import SimulatorProcess

    work = Path(tempfile.mkdtemp(prefix="switchboard-scale-"))
    keys = work / "keys"
    config = SimulatorConfig(port=0, receipt_delay=0, keep_records=1000,
                             accounts={f"c{i}": PASSWORD for i in range(BINDS)})
    cluster = LocalPostgres.throwaway().start()
    figures: dict = {"n": args.n, "binds": BINDS, "window": args.window, "cpus": os.cpu_count(),
                     "repeat": args.repeat}
    counts = [int(w) for w in args.workers.split(",")]
    rates: dict[str, list[float]] = {}
    runs = []
    try:
        with SimulatorProcess(config) as sim:
            for repetition in range(args.repeat):
                sqlite = run(f"sqlite:///{work}/bench{repetition}.db", args.n, 1, sim.port, keys, args.window)
                print(f"SQLite, 1 worker: {sqlite['msgs_per_s']:,.0f} msgs/s")
                runs.append({"database": "sqlite", **sqlite})
                rates.setdefault("sqlite_msgs_per_s_1", []).append(sqlite["msgs_per_s"])
                for workers in counts:
                    sim.reset()
                    url = cluster.create_database(f"scale_{uuid.uuid4().hex[:8]}")
                    result = run(url, args.n, workers, sim.port, keys, args.window)
                    print(f"PostgreSQL, {workers} worker(s): {result['msgs_per_s']:,.0f} msgs/s")
                    runs.append({"database": "postgresql", **result})
                    rates.setdefault(f"msgs_per_s_{workers}", []).append(result["msgs_per_s"])
    finally:
        cluster.stop(remove=True)
    for name, values in rates.items():
        figures[name] = round(statistics.median(values), 1)
    if "msgs_per_s_1" in figures:
        figures["postgresql_share_of_sqlite"] = round(figures["msgs_per_s_1"] / figures["sqlite_msgs_per_s_1"], 2)
        for workers in (2, 4):
            if f"msgs_per_s_{workers}" in figures:
                figures[f"speedup_{workers}"] = round(figures[f"msgs_per_s_{workers}"] / figures["msgs_per_s_1"], 2)
        if args.repeat > 1:  # each repetition's own ratios, to show the spread the medians hide
            figures["postgresql_share_of_sqlite_runs"] = [
                round(pg / lite, 2) for pg, lite in zip(rates["msgs_per_s_1"], rates["sqlite_msgs_per_s_1"])]
            if "msgs_per_s_2" in rates:
                figures["speedup_2_runs"] = [round(two / one, 2) for two, one in zip(rates["msgs_per_s_2"],
                                                                                    rates["msgs_per_s_1"])]
    figures["runs"] = runs
    print(", ".join(f"{k} {v}" for k, v in figures.items() if k.startswith(("speedup", "postgresql_share"))))
    if args.json:
        print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    main()
