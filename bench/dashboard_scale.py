"""The console at a million messages: page and chart timings, and what the rollup job costs.

Seeds N messages (default 1,000,000) over the last 30 days by bulk insert — four binds, five
countries in four currencies, twenty campaigns and one-off traffic, one and two parts, delivered
and failed in several ways — with the parts and the timeline events the sender would have written;
rolls them up as the worker's job does (timed: the catch-up); then adds one minute of traffic at
2,000 msgs/s (120,000 messages) in twelve slices of 5 s, each taken in by a rollup run as the job
does every 5 s: their time is the job's cost per minute of traffic, and the share of a core it means. Then, as a logged-in admin through the real app, asks
the home page, a bind page, a campaign page and every chart endpoint (five charts × four ranges,
for everything, one bind and one campaign) and prints p50/p95 ms of each.

    python bench/dashboard_scale.py [--messages 1000000] [--database sqlite|postgresql] [--requests 30] [--json]

PostgreSQL: a throwaway cluster from the machine's initdb/pg_ctl, as the tests start one (tests/pg.py);
with --keep DIR the cluster lives in DIR and a second run measures again without seeding.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

CHUNK = 20_000
MINUTE_AT_2000 = 120_000
RUNS_PER_MINUTE = 12  # the rollup job runs every 5 s (dashboard/worker/scheduler.py)
ADMIN, PASSWORD = "admin@example.com", "bench password"
# (bind name, country, number prefix, digits after it, currency, price per part)
ROUTES = (("us-carrier", "US", "+1202555", 4, "USD", "0.0075"),
          ("ca-carrier", "CA", "+1416555", 4, "CAD", "0.0110"),
          ("eu-carrier", "GB", "+44770090", 4, "GBP", "0.0300"),
          ("eu-carrier", "DE", "+4915112", 7, "EUR", "0.0700"),
          ("au-carrier", "AU", "+6149157", 4, "AUD", "0.0450"))
CAMPAIGNS = 20
CAMPAIGN_SHARE = 0.8
OUTCOMES = (("delivered", 0.90, "DELIVRD", "000"), ("undeliverable", 0.05, "UNDELIV", "001"),
            ("expired", 0.02, "EXPIRED", "027"), ("failed", 0.02, None, None), ("rejected", 0.01, "REJECTD", "013"))


def make_app(url: str):
    from dashboard import create_app
    return create_app({"SECRET_KEY": "bench", "DATABASE_URL": url, "WTF_CSRF_ENABLED": False,
                       "SECURE_COOKIES": False, "LOGIN_LIMIT_PER_ADDRESS": "1000 per minute",
                       "LOGIN_LIMIT_PER_ACCOUNT": "1000 per minute"})


class Seeder:
    """Rows as the sender leaves them, with ids given here so that parts and events need no
    round trip; written one chunk at a time."""

    def __init__(self, binds: dict, routes: dict, campaigns: list, rng: random.Random) -> None:
        self.binds, self.routes, self.campaigns, self.rng = binds, routes, campaigns, rng
        self.message_id = self.part_id = self.event_id = 0

    def rows(self, created: datetime, campaign_id: int | None):
        rng = self.rng
        bind_name, country, prefix, digits, currency, price = ROUTES[rng.randrange(len(ROUTES))]
        self.message_id += 1
        mid = self.message_id
        parts = 2 if rng.random() < 0.1 else 1
        draw, outcome = rng.random(), OUTCOMES[0]
        for candidate in OUTCOMES:
            if draw < candidate[1]:
                outcome = candidate
                break
            draw -= candidate[1]
        status, _, stat, err = outcome
        sent = created + timedelta(seconds=rng.uniform(0.2, 3))
        accepted = stat is not None
        done = sent + timedelta(seconds=rng.uniform(1, 12) if status != "expired" else rng.uniform(3600, 7200))
        if not accepted:
            done = sent
        reason = None
        if status == "failed":
            reason = "refused by the SMSC: ESME_RINVDSTADR"
        elif status != "delivered":
            reason = f"{stat}, err {err}: the network said so"
        bind_id = self.binds[bind_name]
        message = dict(id=mid, campaign_id=campaign_id, destination=f"{prefix}{rng.randrange(10 ** digits):0{digits}d}",
                       source="Bench", text="x", encoding="gsm7", segments=parts, priority=100 if campaign_id else 10,
                       status=status, reason=reason, bind_id=bind_id, route_id=self.routes[country],
                       price_per_segment=Decimal(price), currency=currency, attempts=1, event_seq=2,
                       created_at=created, submitting_at=sent, submitted_at=sent if accepted else None, done_at=done,
                       error_name=None if accepted else "ESME_RINVDSTADR", possible_duplicate=False)
        part_rows, events = [], [self.event(mid, "queued", created, None, {"seq": 1})]
        for number in range(1, parts + 1):
            self.part_id += 1
            part_rows.append(dict(id=self.part_id, message_id=mid, part_no=number, parts_total=parts, status=status,
                                  bind_id=bind_id, price=Decimal(price) if accepted else None,
                                  currency=currency if accepted else None, receipt_stat=stat, receipt_err=err,
                                  submitting_at=sent, submitted_at=sent if accepted else None, done_at=done))
            events.append(self.event(mid, "submit_sm", sent, number, {"sequence": number}))
            events.append(self.event(mid, "submit_sm_resp", sent, number,
                                     {"command_status": 0 if accepted else 0x0B}))
        events.append(self.event(mid, "status", done, None, {"seq": 2, "status": status, "reason": reason}))
        return message, part_rows, events

    def event(self, message_id, kind, at, part_no, detail) -> dict:
        self.event_id += 1
        return dict(id=self.event_id, message_id=message_id, kind=kind, at=at, part_no=part_no, detail=detail)


def write(seeder: Seeder, times: list[tuple[datetime, int | None]]) -> None:
    from sqlalchemy import insert

    from dashboard.extensions import db
    from dashboard.models import Message, MessageEvent, MessagePart
    for start in range(0, len(times), CHUNK):
        messages, parts, events = [], [], []
        for created, campaign_id in times[start:start + CHUNK]:
            m, p, e = seeder.rows(created, campaign_id)
            messages.append(m)
            parts.extend(p)
            events.extend(e)
        db.session.execute(insert(Message), messages)
        db.session.execute(insert(MessagePart), parts)
        db.session.execute(insert(MessageEvent), events)
        db.session.commit()


def seed(app, n: int, now: datetime, rng: random.Random) -> tuple[Seeder, dict]:
    from flask_migrate import upgrade

    from dashboard.extensions import db
    from dashboard.models import Campaign, ContactList, Route, SenderId
    from dashboard.services.binds import create_bind
    from dashboard.services.users import create_user
    upgrade()
    create_user(ADMIN, "admin", PASSWORD)
    binds = {}
    for name in dict.fromkeys(r[0] for r in ROUTES):
        binds[name] = create_bind(name=name, host="127.0.0.1", port=2775, system_id="bench", password="secret",
                                  mode="trx", tps=500, window=50).id
    routes = {}
    for name, country, prefix, _digits, currency, price in ROUTES:
        route = Route(prefix=prefix[1:5], bind_id=binds[name], price_per_segment=Decimal(price), currency=currency)
        db.session.add(route)
        db.session.flush()
        routes[country] = route.id
    sender = SenderId(value="Bench", kind="alphanumeric", status="approved")
    contact_list = ContactList(name="Bench")
    db.session.add_all([sender, contact_list])
    db.session.flush()
    span = timedelta(days=30)
    campaigns = []
    for k in range(CAMPAIGNS):
        launched = now - span + timedelta(hours=36 * k + 1)
        campaign = Campaign(name=f"Bench campaign {k + 1}", list_id=contact_list.id, sender_id_id=sender.id, text="x",
                            scheduled_at=launched, status="completed", launched_at=launched,
                            completed_at=launched + timedelta(hours=6, minutes=5), created_at=launched)
        db.session.add(campaign)
        db.session.flush()
        campaigns.append((campaign.id, launched))
    db.session.commit()
    times = []
    per_campaign = int(n * CAMPAIGN_SHARE) // CAMPAIGNS
    for campaign_id, launched in campaigns:
        times += [(launched + timedelta(seconds=rng.uniform(0, 6 * 3600)), campaign_id) for _ in range(per_campaign)]
    times += [(now - span + timedelta(seconds=rng.uniform(0, span.total_seconds() - 120)), None)
              for _ in range(n - len(times))]
    times.sort(key=lambda t: t[0])  # ids follow time, as the sender writes them
    seeder = Seeder(binds, routes, campaigns, rng)
    write(seeder, times)
    return seeder, {"binds": binds, "campaigns": [c for c, _ in campaigns]}


def reuse(rng: random.Random) -> tuple[Seeder, dict]:
    """A database seeded by an earlier run (--keep): its binds, campaigns and highest ids."""
    from sqlalchemy import func, select

    from dashboard.extensions import db
    from dashboard.models import Bind, Campaign, Message, MessageEvent, MessagePart, Route
    binds = dict(db.session.execute(select(Bind.name, Bind.id)).all())
    routes = {country: db.session.scalar(select(Route.id).where(Route.prefix == prefix[1:5]))
              for _name, country, prefix, *_ in ROUTES}
    campaigns = db.session.execute(select(Campaign.id, Campaign.launched_at).order_by(Campaign.id)).all()
    seeder = Seeder(binds, routes, list(campaigns), rng)
    seeder.message_id = db.session.scalar(select(func.max(Message.id)))
    seeder.part_id = db.session.scalar(select(func.max(MessagePart.id)))
    seeder.event_id = db.session.scalar(select(func.max(MessageEvent.id)))
    return seeder, {"binds": binds, "campaigns": [c for c, _ in campaigns]}


def timed(client, url: str, count: int, cold: bool = True) -> list[float]:
    """Milliseconds per request. Cold: the drawn-chart cache emptied before each, as for the
    first viewer after each rollup run (the worst case); warm: as every other viewer gets it."""
    from dashboard.web import charts
    for _ in range(2):
        assert client.get(url).status_code == 200, url
    samples = []
    for _ in range(count):
        if cold:
            charts._drawn.clear()
        started = time.perf_counter()
        response = client.get(url)
        samples.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, url
    return samples


def p(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--requests", type=int, default=30, help="timed requests per page or chart")
    parser.add_argument("--keep", metavar="PATH", help="seed into PATH and keep it (SQLite: a database file; "
                        "PostgreSQL: a cluster's folder, stopped at the end, not removed); a PATH already "
                        "seeded is used as it is (to measure again without seeding)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    cluster = None
    tmp = tempfile.TemporaryDirectory(prefix="switchboard-scale-")
    seeded = bool(args.keep) and Path(args.keep).exists()
    if args.database == "postgresql":
        from dashboard.local_postgres import LocalPostgres, free_port
        from tests.pg import PostgresCluster
        cluster = LocalPostgres(Path(args.keep), free_port()).start() if args.keep else PostgresCluster().start()
        url = cluster.create_database("scale", exist_ok=seeded)
    else:
        url = f"sqlite:///{args.keep or tmp.name + '/scale.db'}"
    try:
        results = run(url, args, seeded)
    finally:
        if cluster is not None:
            cluster.stop(remove=not args.keep)
        tmp.cleanup()
    if args.json:
        print(json.dumps(results))


def database_server(db):
    """The PostgreSQL server's processes (the postmaster and its children: backends, WAL writer,
    checkpointer, autovacuum), found from this connection's backend: their CPU is the database's
    share of the rollup job, which wall time only bounds (it also counts waiting)."""
    import psutil
    from sqlalchemy import text
    backend = db.session.scalar(text("SELECT pg_backend_pid()"))
    db.session.commit()
    return psutil.Process(backend).parent()


def cpu_seconds(server) -> float:
    """User and system CPU of the server's processes so far; 0 without a separate server (SQLite
    works in this process, whose CPU is counted already)."""
    if server is None:
        return 0.0
    total = 0.0
    for process in [server, *server.children()]:
        try:
            times = process.cpu_times()
        except Exception:  # a process that ended between the listing and the reading
            continue
        total += times.user + times.system
    return total


def run(url: str, args, seeded: bool) -> dict:
    from dashboard.extensions import db
    from dashboard.services import rollups
    from dashboard.web.charts import CHARTS
    app = make_app(url)
    now = datetime.now(timezone.utc)
    rng = random.Random(7)
    with app.app_context():
        started = time.perf_counter()
        if seeded:
            seeder, made = reuse(rng)
        else:
            seeder, made = seed(app, args.messages, now, rng)
        seed_s = time.perf_counter() - started
        if args.database == "postgresql":
            # What autovacuum does within a minute of a bulk load: the planner's statistics and the
            # visibility map (index-only scans). Measured after it, as a running console is.
            db.session.commit()
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("VACUUM ANALYZE")
        print(f"seeded {seeder.message_id:,} messages over 30 days in {seed_s:.0f} s ({args.database})", flush=True)

        started = time.perf_counter()
        while not rollups.run(datetime.now(timezone.utc), app.config["ROLLUP_MINUTE_HOURS"],
                              budget_seconds=600).caught_up:
            pass
        catch_up_s = time.perf_counter() - started
        print(f"rolled up the 30 days in {catch_up_s:.0f} s (catch-up, once)", flush=True)

        # One minute at 2,000 msgs/s as the job meets it: a run every 5 s, each taking in what the
        # 5 s before it wrote (10,000 messages); the twelve runs' time is the minute's cost.
        minute_start = datetime.now(timezone.utc) - timedelta(seconds=75)
        per_run = MINUTE_AT_2000 // RUNS_PER_MINUTE
        rollup_wall_ms = rollup_cpu_ms = server_cpu_ms = 0.0
        facts = 0
        server = database_server(db) if args.database == "postgresql" else None
        for run_no in range(RUNS_PER_MINUTE):
            base = minute_start + timedelta(seconds=run_no * 60 / RUNS_PER_MINUTE)
            write(seeder, [(base + timedelta(seconds=i / 2000), None) for i in range(per_run)])
            db.session.remove()
            cpu, wall, server_cpu = time.process_time(), time.perf_counter(), cpu_seconds(server)
            result = rollups.run(datetime.now(timezone.utc), app.config["ROLLUP_MINUTE_HOURS"], budget_seconds=600)
            rollup_cpu_ms += (time.process_time() - cpu) * 1000
            server_cpu_ms += (cpu_seconds(server) - server_cpu) * 1000
            rollup_wall_ms += (time.perf_counter() - wall) * 1000
            facts += result.events
            assert result.caught_up, "5 s of traffic did not fit one run"
        total_cpu_ms = rollup_cpu_ms + server_cpu_ms
        print(f"one minute at 2,000 msgs/s ({facts:,} facts, {RUNS_PER_MINUTE} runs as the job makes them) rolled up in "
              f"{rollup_wall_ms:.0f} ms wall; CPU {rollup_cpu_ms:.0f} ms in this process + {server_cpu_ms:.0f} ms in "
              f"the database server = {100 * total_cpu_ms / 60000:.2f} % of a core "
              f"(wall: {100 * rollup_wall_ms / 60000:.2f} %)", flush=True)
        db.session.remove()

    client = app.test_client()
    assert client.post("/login", data={"email": ADMIN, "password": PASSWORD}).status_code == 302
    bind_id = next(iter(made["binds"].values()))
    campaign_id = made["campaigns"][len(made["campaigns"]) // 2]
    pages = {"home": "/", "bind": f"/binds/{bind_id}", "campaign": f"/campaigns/{campaign_id}"}
    timings = {name: timed(client, url, args.requests) for name, url in pages.items()}
    warm = {name: timed(client, url, args.requests, cold=False) for name, url in pages.items()}
    charts = {}
    for scope in ("all", f"bind-{bind_id}", f"campaign-{campaign_id}"):
        for range_key in ("1h", "24h", "7d", "30d"):
            for chart in CHARTS:
                charts[f"{scope} {chart} {range_key}"] = timed(
                    client, f"/charts/{scope}/{chart}?range={range_key}", args.requests)
    for name, samples in timings.items():
        print(f"{name:>9} page   p50 {p(samples, .5):6.1f} ms   p95 {p(samples, .95):6.1f} ms   (charts drawn; "
              f"already drawn since the last rollup run: p95 {p(warm[name], .95):6.1f} ms)")
    worst = max(charts, key=lambda k: p(charts[k], .95))
    for name, samples in sorted(charts.items(), key=lambda kv: -p(kv[1], .95))[:10]:
        print(f"chart {name:<32} p50 {p(samples, .5):6.1f} ms   p95 {p(samples, .95):6.1f} ms")
    print(f"worst chart: {worst}")
    return {"database": args.database, "messages": args.messages, "seed_s": round(seed_s, 1),
            "rollup_catch_up_s": round(catch_up_s, 1),
            "home_p50_ms": round(p(timings["home"], .5), 1), "home_p95_ms": round(p(timings["home"], .95), 1),
            "bind_p95_ms": round(p(timings["bind"], .95), 1),
            "campaign_p50_ms": round(p(timings["campaign"], .5), 1),
            "campaign_p95_ms": round(p(timings["campaign"], .95), 1),
            "chart_p95_ms": round(p(charts[worst], .95), 1), "worst_chart": worst,
            "home_warm_p95_ms": round(p(warm["home"], .95), 1),
            "campaign_warm_p95_ms": round(p(warm["campaign"], .95), 1),
            "rollup_ms_per_minute": round(rollup_wall_ms, 1), "rollup_cpu_ms_per_minute": round(total_cpu_ms, 1),
            "rollup_server_cpu_ms_per_minute": round(server_cpu_ms, 1),
            "rollup_core_share_pct": round(100 * total_cpu_ms / 60000, 2),
            "rollup_wall_share_pct": round(100 * rollup_wall_ms / 60000, 2)}


if __name__ == "__main__":
    main()
