"""The HTTP API under load, served as in production: gunicorn (several workers, none running the
scheduler), the sender in `flask --app app worker`, the SMSC simulator in its own process, and a
webhook receiver in this one.

  1. single   `--clients` concurrent clients POST /messages (one message each) for `--seconds`:
              requests per second and p50/p95/p99 latency, as the clients saw it;
  2. batch    POST /messages/batch of 10,000 messages, three times (the queue drained before each):
              accepted messages per second, the median reported;
  3. api e2e  20,000 messages posted in batches of 500, until the receiver has the last
              `message.delivered` webhook: messages per second through the front door and back;
  4. queue    the same 20,000 fed straight into the queue (as a campaign launch does) until the last
              is delivered: what the sender alone does in the same run, for comparison;
  5. quiet    phase 3 by a key without webhooks, until the last is delivered: what the front door
              costs apart from the webhooks (a diagnosis: the goal is phase 3's).

The queue is drained between phases, so each measures its own work. SQLite by default, as the
other benchmarks; `--postgresql` for PostgreSQL.

`--repeat N` runs phases 3, 4 and 5 N times, their order rotated every time, and reports the median
of each rate and of the N ratios to phase 4 (each measured in the same minutes): on a 2-core machine
whose speed drifts from minute to minute, one pair's ratio moved between 0.51 and 0.80 for the
same code (docs/performance.md, "HTTP API").

    python bench/api_load.py [--seconds 20] [--clients 32] [--workers 3] [--threads 4] [--repeat 1] [--json]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SYSTEM_ID, PASSWORD = "switchboard", "secret"
TEXT = "Your parcel is on its way"
E2E_N, E2E_BATCH, BATCH_N = 20_000, 500, 10_000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def number(i: int) -> str:
    """The i-th of many valid, distinct US numbers (exchanges 200-999 of area code 415)."""
    return f"+1415{2_000_000 + i:07d}"


class Receiver:
    """Counts the `message.delivered` events it is sent and when the last one came."""

    def __init__(self) -> None:
        self.delivered: set[int] = set()
        self.last_at = 0.0
        self.last_wall = 0.0
        self.posts = 0
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                ids = [
                    e["data"]["message_id"]
                    for e in json.loads(body)["events"]
                    if e["type"] == "message.delivered"
                ]
                with outer.lock:
                    outer.posts += 1
                    outer.delivered.update(ids)
                    if ids:
                        outer.last_at = time.monotonic()
                        outer.last_wall = time.time()
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def setup(env: dict, sim_port: int, webhook_url: str) -> tuple[str, str]:
    """Migrate, and make what a production install has: a bind, an approved sender, a key; and a
    second key without a webhook URL. Returns their tokens."""
    os.environ.update(env)
    from flask_migrate import upgrade

    from dashboard import create_app
    from dashboard.extensions import db
    from dashboard.models import SenderId, SenderRegistration
    from dashboard.models.types import utcnow
    from dashboard.services import api_keys
    from dashboard.services.binds import create_bind

    app = create_app()
    with app.app_context():
        upgrade()
        create_bind(
            name="sim",
            host="127.0.0.1",
            port=sim_port,
            system_id=SYSTEM_ID,
            password=PASSWORD,
            mode="trx",
            tps=100_000,
            window=100,
            response_timeout=30,
        )
        db.session.add(
            SenderId(
                value="Switchboard",
                kind="alphanumeric",
                status="approved",
                registrations=[SenderRegistration(country="US", status="approved", notes="bench")],
            )
        )
        db.session.commit()
        token, quiet_token = (
            api_keys.create_key(
                api_keys.KeySettings(
                    name=name,
                    scopes=("send", "read"),
                    rate_limit="1000000 per second",
                    webhook_url=url,
                ),
                created_by_id=None,
                now=utcnow(),
            ).token
            for name, url in (("bench", webhook_url), ("bench, no webhooks", ""))
        )
        db.session.remove()
        db.engine.dispose()
    return token, quiet_token


class Client:
    """One keep-alive connection to the API."""

    def __init__(self, port: int, token: str) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def post(self, path: str, body: dict) -> tuple[int, bytes]:
        self.connection.request(
            "POST", f"/api/v1{path}", body=json.dumps(body), headers=self.headers
        )
        response = self.connection.getresponse()
        return response.status, response.read()


def single_sends(port: int, token: str, clients: int, seconds: float) -> dict:
    latencies: list[float] = []
    errors: list[int] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds
    counter = iter(range(10_000_000))

    def run() -> None:
        client = Client(port, token)
        mine, bad = [], []
        while time.monotonic() < stop_at:
            i = next(counter)
            started = time.perf_counter()
            status, _ = client.post(
                "/messages", {"to": number(i), "from": "Switchboard", "text": TEXT}
            )
            mine.append((time.perf_counter() - started) * 1000)
            if status != 201:
                bad.append(status)
        with lock:
            latencies.extend(mine)
            errors.extend(bad)

    started = time.monotonic()
    threads = [threading.Thread(target=run) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    cut = statistics.quantiles(latencies, n=100)
    return {
        "requests": len(latencies),
        "errors": len(errors),
        "single_rps": round(len(latencies) / elapsed, 1),
        "single_p50_ms": round(cut[49], 1),
        "single_p95_ms": round(cut[94], 1),
        "single_p99_ms": round(cut[98], 1),
    }


def batch_sends(port: int, token: str, offset: int, db_url: str) -> list[float]:
    """Three batches, the queue drained before each: acceptance, not acceptance while sending."""
    rates = []
    for run in range(3):
        drain(db_url)
        client = Client(port, token)  # a fresh connection: gunicorn closes idle ones after 2 s
        body = {
            "messages": [
                {"to": number(offset + run * BATCH_N + i), "from": "Switchboard", "text": TEXT}
                for i in range(BATCH_N)
            ]
        }
        started = time.perf_counter()
        status, answer = client.post("/messages/batch", body)
        elapsed = time.perf_counter() - started
        assert status == 201, answer[:500]
        rates.append(round(BATCH_N / elapsed, 1))
    return rates


_engines: dict = {}


def counts(url: str) -> dict[str, int]:
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    engine = _engines.setdefault(url, create_engine(url, poolclass=NullPool))
    with engine.connect() as connection:
        return dict(
            connection.execute(text("SELECT status, count(*) FROM message GROUP BY status")).all()
        )


def bind_bound(url: str) -> bool:
    from sqlalchemy import text

    counts(url)
    with _engines[url].connect() as connection:
        return connection.execute(text("SELECT state FROM bind_status")).scalar() == "bound"


def drain(db_url: str, timeout: float = 300) -> None:
    """Until nothing is queued or in flight."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = counts(db_url)
        if not any(now.get(s, 0) for s in ("queued", "submitting", "submitted")):
            return
        time.sleep(0.5)
    raise SystemExit(f"the queue did not drain: {counts(db_url)}")


def end_to_end(port: int, token: str, receiver: Receiver, offset: int, db_url: str,
               processes: dict[str, int]) -> dict:
    """The API rate, and where its time went: accepting the batches, the sender (until the last
    message is delivered, by the database's clock) and the webhooks that trail it."""
    with receiver.lock:
        receiver.delivered.clear()
    client = Client(port, token)
    ids: set[int] = set()
    cpu_before = cpu_now(processes)
    started, started_wall = time.monotonic(), time.time()
    for start in range(0, E2E_N, E2E_BATCH):
        body = {
            "messages": [
                {"to": number(offset + start + i), "from": "Switchboard", "text": TEXT}
                for i in range(E2E_BATCH)
            ]
        }
        status, answer = client.post("/messages/batch", body)
        assert status == 201, answer[:500]
        ids.update(m["id"] for m in json.loads(answer)["data"])
    accepted = time.monotonic() - started
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        with receiver.lock:
            if ids <= receiver.delivered:
                sender_done = last_done(db_url, min(ids)) - started_wall
                cpu = cpu_since(cpu_before, processes)
                return {
                    "e2e_cpu_s": cpu,
                    "api_end_to_end_msgs_per_s": round(E2E_N / (receiver.last_at - started), 1),
                    "e2e_accepted_s": round(accepted, 2),
                    "e2e_sender_done_s": round(sender_done, 2),
                    "e2e_webhooks_trail_s": round(receiver.last_wall - started_wall - sender_done, 2),
                }
        time.sleep(0.05)
    raise SystemExit(f"webhooks missing: {len(ids - receiver.delivered)} of {E2E_N}")


def without_webhooks(port: int, token: str, offset: int, db_url: str) -> float:
    """The end-to-end phase for a key without webhooks, until every message is delivered: what the
    front door costs the sender by itself, apart from the webhooks (a diagnosis, not a goal). Its
    messages are told apart by their client_ref: on PostgreSQL each gunicorn worker's connection
    takes message ids from a block of its own, so a later message may have a smaller id."""
    client = Client(port, token)
    tag = f"quiet-{offset}"
    started = time.monotonic()
    for start in range(0, E2E_N, E2E_BATCH):
        body = {"messages": [{"to": number(offset + start + i), "from": "Switchboard", "text": TEXT,
                              "client_ref": tag} for i in range(E2E_BATCH)]}
        status, answer = client.post("/messages/batch", body)
        assert status == 201, answer[:500]
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:  # polled as queue_fed polls
        if tagged(db_url, tag).get("delivered", 0) == E2E_N:
            return round(E2E_N / (time.monotonic() - started), 1)
        time.sleep(0.05)
    raise SystemExit(f"the messages of the key without webhooks were not all delivered: {tagged(db_url, tag)}")


def tagged(url: str, tag: str) -> dict[str, int]:
    """How many messages with this client_ref are in each state."""
    from sqlalchemy import text

    counts(url)
    with _engines[url].connect() as connection:
        return dict(connection.execute(
            text("SELECT status, count(*) FROM message WHERE client_ref = :tag GROUP BY status"), {"tag": tag}).all())


def cpu_seconds(root_pid: int, descendants: bool = True) -> float:
    """CPU time used so far by a process and (unless told not to) its live descendants."""
    import psutil

    root = psutil.Process(root_pid)
    total = 0.0
    for process in [root, *(root.children(recursive=True) if descendants else [])]:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def cpu_now(processes: dict[str, int]) -> dict[str, float]:
    """CPU seconds so far of gunicorn (with its workers), the sender worker, its webhook child and
    the simulator."""
    worker = processes["worker"]
    return {"gunicorn": cpu_seconds(processes["gunicorn"]), "worker": cpu_seconds(worker, descendants=False),
            "webhooks": cpu_seconds(worker) - cpu_seconds(worker, descendants=False),
            "simulator": cpu_seconds(processes["simulator"]),
            **({"postgresql": cpu_seconds(processes["postgresql"])} if "postgresql" in processes else {})}


def cpu_since(before: dict[str, float], processes: dict[str, int]) -> dict[str, float]:
    return {name: round(seconds - before[name], 2) for name, seconds in cpu_now(processes).items()}


def last_done(url: str, first_id: int) -> float:
    """When the last message from `first_id` on ended, as a Unix time (done_at is stored in UTC)."""
    from datetime import timezone

    from sqlalchemy import text

    counts(url)
    with _engines[url].connect() as connection:
        value = connection.execute(
            text("SELECT max(done_at) FROM message WHERE id >= :id"), {"id": first_id}
        ).scalar()
    if isinstance(value, str):
        from datetime import datetime

        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.timestamp()


def newer_than(url: str, message_id: int) -> dict[str, int]:
    from sqlalchemy import text

    counts(url)
    with _engines[url].connect() as connection:
        return dict(
            connection.execute(
                text("SELECT status, count(*) FROM message WHERE id > :id GROUP BY status"),
                {"id": message_id},
            ).all()
        )


def queue_fed(env: dict, db_url: str, processes: dict[str, int], offset: int = 9_000_000) -> tuple[float, dict]:
    """The same number of messages inserted straight into the queue, as a campaign launch does."""
    from sqlalchemy import func, select

    from dashboard import create_app
    from dashboard.extensions import db
    from dashboard.models import Message
    from dashboard.models.types import utcnow
    from dashboard.services.routing import Router
    from dashboard.services.sending.enqueue import insert_messages, message_values
    from dashboard.sms.encoding import analyse

    app = create_app()
    with app.app_context():
        last_id = db.session.scalar(select(func.max(Message.id))) or 0
        info, route, now = analyse(TEXT), Router().choose(number(0)), utcnow()
        rows = [
            message_values(
                destination=number(offset + i),
                text=TEXT,
                info=info,
                source="Switchboard",
                ton=5,
                npi=0,
                route=route,
                priority=100,
                now=now,
            )
            for i in range(E2E_N)
        ]
        cpu_before = cpu_now(processes)
        started = time.monotonic()
        for start in range(0, E2E_N, 5000):
            insert_messages(rows[start : start + 5000])
            db.session.commit()
        db.session.remove()
        db.engine.dispose()
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        mine = newer_than(db_url, last_id)
        if sum(mine.values()) == E2E_N and mine.get("delivered", 0) == E2E_N:
            return round(E2E_N / (time.monotonic() - started), 1), cpu_since(cpu_before, processes)
        time.sleep(0.05)
    raise SystemExit(f"queue-fed run did not finish: {newer_than(db_url, last_id)}")


def wait_until(predicate, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except Exception:  # not up yet
            pass
        time.sleep(0.2)
    raise SystemExit(f"timed out waiting for {what}")


def booted(gunicorn_pid: int, workers: int, worker_pid: int, quiet_cpu_s: float = 0.05) -> bool:
    """Every process is up and idle: gunicorn's workers, the sender worker and its webhook child
    each import the app when they start (seconds of CPU on a slow machine), and the first answer
    to a request, or the bind coming up, does not wait for the others. Timing before all have
    booted measures their boot, not their work."""
    import psutil

    processes = psutil.Process(gunicorn_pid).children()
    if len(processes) < workers or not psutil.Process(worker_pid).children():
        return False
    before = [cpu_seconds(p.pid) for p in processes] + [cpu_seconds(worker_pid)]
    time.sleep(0.5)
    after = [cpu_seconds(p.pid) for p in processes] + [cpu_seconds(worker_pid)]
    return all(b - a < quiet_cpu_s for a, b in zip(before, after))


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--workers", type=int, default=3, help="gunicorn workers")
    parser.add_argument(
        "--threads", type=int, default=4, help="threads per gunicorn worker (gthread)"
    )
    parser.add_argument(
        "--webhooks-in-process",
        action="store_true",
        help="the worker delivers webhooks from a job of its own process (as before 2026-12-01), "
        "not from its child process: to compare the two",
    )
    parser.add_argument(
        "--postgresql",
        action="store_true",
        help="on a throwaway PostgreSQL cluster (initdb/pg_ctl, as the tests) instead of SQLite",
    )
    parser.add_argument(
        "--repeat", type=int, default=1,
        help="run the end-to-end, queue-fed and without-webhooks phases this many times, in rotated "
        "order, and report medians (a ratio's is the median of each repetition's own)",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    from dashboard.simulator import SimulatorConfig
    from dashboard.simulator.process import SimulatorProcess

    workdir = Path(tempfile.mkdtemp(prefix="switchboard-api-bench-"))
    cluster = None
    if args.postgresql:
        from tests.pg import PostgresCluster

        cluster = PostgresCluster().start()
        db_url = cluster.create_database("bench")
    else:
        db_url = f"sqlite:///{workdir / 'bench.db'}"
    env = {
        "SWITCHBOARD_DATABASE_URL": db_url,
        "SWITCHBOARD_SECRET_KEY": "bench",
        "SWITCHBOARD_ENCRYPTION_KEY_FILE": str(workdir / "keys"),
    }
    receiver = Receiver()
    processes: list[subprocess.Popen] = []
    config = SimulatorConfig(
        port=0, receipt_delay=0, accounts={SYSTEM_ID: PASSWORD}, keep_records=1000
    )
    with SimulatorProcess(config) as sim:
        token, quiet_token = setup(env, sim.port, receiver.url)
        port = free_port()
        child_env = {**os.environ, **env}
        bin_dir = Path(sys.executable).parent
        try:
            processes.append(
                subprocess.Popen(
                    [
                        str(bin_dir / "gunicorn"),
                        "-w",
                        str(args.workers),
                        "-k",
                        "gthread",
                        "--threads",
                        str(args.threads),
                        "-b",
                        f"127.0.0.1:{port}",
                        "--log-level",
                        "warning",
                        "app:app",
                    ],
                    cwd=ROOT,
                    env=child_env,
                )
            )
            processes.append(
                subprocess.Popen(
                    [str(bin_dir / "flask"), "--app", "app", "worker",
                     *(["--webhooks-in-process"] if args.webhooks_in_process else [])],
                    cwd=ROOT,
                    env=child_env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
            wait_until(
                lambda: (
                    http.client.HTTPConnection("127.0.0.1", port, timeout=2).request(
                        "GET", "/api/v1/openapi.json"
                    )
                    or True
                ),
                "gunicorn",
            )
            wait_until(lambda: bind_bound(db_url), "the bind to be bound")
            wait_until(
                lambda: booted(processes[0].pid, args.workers, processes[1].pid),
                "every process to have booted",
            )

            single = single_sends(port, token, args.clients, args.seconds)
            print(
                f"single: {args.clients} clients for {args.seconds:g} s: "
                f"{single['single_rps']:,.0f} req/s, "
                f"p50 {single['single_p50_ms']} ms, p95 {single['single_p95_ms']} ms, "
                f"p99 {single['single_p99_ms']} ms ({single['errors']} errors)"
            )
            drain(db_url)
            batches = batch_sends(port, token, offset=1_000_000, db_url=db_url)
            print(
                f"batch of {BATCH_N:,}: {', '.join(f'{r:,.0f}' for r in batches)} accepted msgs/s"
            )
            drain(db_url)
            time.sleep(2)  # the last webhooks of the phases before
            pids = {"gunicorn": processes[0].pid, "worker": processes[1].pid, "simulator": sim.pid}
            if cluster is not None:  # the postmaster and every backend it started
                pids["postgresql"] = int((cluster.data / "postmaster.pid").read_text().split()[0])
            pairs = []
            for repetition in range(args.repeat):
                pair: dict = {}
                # Rotated every time: whichever runs later may find the machine faster or slower.
                order = ("e2e", "fed", "quiet")
                for phase in order[repetition % 3:] + order[:repetition % 3]:
                    if phase == "e2e":
                        pair["e2e"] = end_to_end(port, token, receiver, offset=2_000_000 + repetition * E2E_N,
                                                 db_url=db_url, processes=pids)
                        e2e = pair["e2e"]
                        print(
                            f"api end to end: {E2E_N:,} in batches of {E2E_BATCH}, "
                            "until the last delivered webhook: "
                            f"{e2e['api_end_to_end_msgs_per_s']:,.0f} msgs/s (accepted in "
                            f"{e2e['e2e_accepted_s']} s, the sender done at {e2e['e2e_sender_done_s']} s, "
                            f"the webhooks {e2e['e2e_webhooks_trail_s']} s after; CPU s: {e2e['e2e_cpu_s']})"
                        )
                    elif phase == "quiet":
                        pair["quiet"] = without_webhooks(port, quiet_token, 5_000_000 + repetition * E2E_N, db_url)
                        print(f"api without webhooks: {E2E_N:,} in batches of {E2E_BATCH} by a key without "
                              f"webhooks, until delivered: {pair['quiet']:,.0f} msgs/s")
                    else:
                        pair["fed"] = queue_fed(env, db_url, pids, offset=9_000_000 + repetition * E2E_N)
                        print(
                            f"queue-fed: {E2E_N:,} straight into the queue until delivered: "
                            f"{pair['fed'][0]:,.0f} msgs/s (CPU s: {pair['fed'][1]})"
                        )
                    drain(db_url)
                    time.sleep(1)  # the last webhooks
                pair["share"] = round(pair["e2e"]["api_end_to_end_msgs_per_s"] / pair["fed"][0], 2)
                pair["quiet_share"] = round(pair["quiet"] / pair["fed"][0], 2)
                print(f"api end to end = {pair['share']:.0%} of queue-fed; "
                      f"without webhooks {pair['quiet_share']:.0%}")
                pairs.append(pair)
        finally:
            for process in processes:
                process.send_signal(signal.SIGTERM)
            for process in processes:
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
            for engine in _engines.values():
                engine.dispose()
            if cluster is not None:
                cluster.stop()
    figures = {
        **single,
        "database": "postgresql" if args.postgresql else "sqlite",
        "webhooks": "in the worker's process" if args.webhooks_in_process else "a child process",
        "clients": args.clients,
        "seconds": args.seconds,
        "gunicorn_workers": args.workers,
        "gunicorn_threads": args.threads,
        "batch_runs_msgs_per_s": batches,
        "batch_msgs_per_s": statistics.median(batches),
    }
    # The repetition whose ratio is the median gives the CPU figures; the rates are each one's median.
    middle = sorted(pairs, key=lambda pair: pair["share"])[len(pairs) // 2]
    figures.update(middle["e2e"])
    figures.update({
        "api_end_to_end_msgs_per_s": statistics.median(p["e2e"]["api_end_to_end_msgs_per_s"] for p in pairs),
        "queue_fed_msgs_per_s": statistics.median(p["fed"][0] for p in pairs),
        "api_share_of_queue_fed": statistics.median(p["share"] for p in pairs),
        "queue_fed_cpu_s": middle["fed"][1],
        "api_without_webhooks_msgs_per_s": statistics.median(p["quiet"] for p in pairs),
        "api_without_webhooks_share_of_queue_fed": statistics.median(p["quiet_share"] for p in pairs),
        "repeat": args.repeat,
    })
    if args.repeat > 1:
        figures["api_share_of_queue_fed_runs"] = [p["share"] for p in pairs]
        figures["api_end_to_end_runs_msgs_per_s"] = [p["e2e"]["api_end_to_end_msgs_per_s"] for p in pairs]
        figures["queue_fed_runs_msgs_per_s"] = [p["fed"][0] for p in pairs]
        figures["api_without_webhooks_share_of_queue_fed_runs"] = [p["quiet_share"] for p in pairs]
    if args.json:
        print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    main()
