"""SMPP engine throughput: N queued messages → the sender → the simulator, receipts recorded.

Everything the real sender does happens here: claims in SQLite, parts recorded as submitting
before their bytes leave, responses and receipts committed before deliver_sm_resp. The simulator
runs in its own process, so it neither shares our core nor our GIL. In the same run a bare
windowed smpplib client pushes the same N through the same simulator: the raw ceiling, measured
just before and just after the first engine run and averaged, since this machine's speed drifts
by a quarter within minutes and a ceiling measured later is measured on a different machine.
Right after, a mixed run sends N messages of which 10 % are two-part GSM-7 and 10 % UCS-2, the
rest one-part GSM-7: its PDUs per second against the plain run's messages per second say what
long and Unicode messages cost the engine.

    python bench/smpp_throughput.py [--n 20000] [--window 100] [--binds 1,4] [--json]
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SYSTEM_ID = "switchboard"
PASSWORD = "secret"
TEXT = "Your code is 482913. It expires in 10 minutes."
TWO_PART_TEXT = ("Your parcel 4829-1377 is out for delivery today between 10:00 and 14:00. Reply with a new "
                 "time or a safe place if you will be out; track it at example.com/t/48291377 any time.")
UCS2_TEXT = "Ваш код: 482913. Он действует 10 минут."


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def text_for(i: int, mixed: bool) -> str:
    """The i-th message's text: all one-part GSM-7, or, mixed, every tenth two-part GSM-7 and every
    tenth (another tenth) UCS-2."""
    if mixed and i % 10 == 3:
        return TWO_PART_TEXT
    if mixed and i % 10 == 7:
        return UCS2_TEXT
    return TEXT


def queue_messages(n: int, bind_ids: list[int], mixed: bool = False) -> int:
    """Bulk insert, as a campaign launch does: the benchmark measures sending, not enqueueing.
    Returns the number of parts (submit_sm PDUs) the messages take."""
    from dashboard.extensions import db
    from dashboard.models.types import utcnow
    from dashboard.services.routing import RouteChoice
    from dashboard.services.sending.enqueue import insert_messages, message_values
    from dashboard.sms.encoding import analyse
    now = utcnow()
    analyses = {text: analyse(text) for text in (TEXT, TWO_PART_TEXT, UCS2_TEXT)}
    assert [analyses[t].segments for t in (TEXT, TWO_PART_TEXT, UCS2_TEXT)] == [1, 2, 1]
    assert analyses[UCS2_TEXT].encoding == "ucs2"
    rows = []
    for i in range(n):
        text = text_for(i, mixed)
        rows.append(message_values(destination=f"+1415{i:07d}", text=text, info=analyses[text], source="Switchboard",
                                   ton=5, npi=0, route=RouteChoice(bind_ids[i % len(bind_ids)], None, None),
                                   priority=100, now=now, udh_ref=i % 256))
    for start in range(0, n, 5000):
        insert_messages(rows[start:start + 5000])
    db.session.commit()
    return sum(row["segments"] for row in rows)


def run_engine(n: int, window: int, binds: int, port: int, mixed: bool = False) -> dict:
    from flask_migrate import upgrade
    from sqlalchemy import func, select

    from dashboard import create_app
    from dashboard.extensions import db
    from dashboard.models import Message, MessageEvent
    from dashboard.services.binds import create_bind
    from dashboard.worker.scheduler import Worker

    workdir = tempfile.mkdtemp(prefix="switchboard-bench-")
    app = create_app({"SECRET_KEY": "bench", "DATABASE_URL": f"sqlite:///{workdir}/bench.db"})
    with app.app_context():
        upgrade()
        bind_ids = [create_bind(name=f"bind{i}", host="127.0.0.1", port=port, system_id=SYSTEM_ID,
                                password=PASSWORD, mode="trx", tps=100_000, window=window,
                                response_timeout=30).id for i in range(binds)]
        pdus = queue_messages(n, bind_ids, mixed)

        worker = Worker(app, worker_id="bench").start()
        start = time.monotonic()
        started_at = datetime.now(timezone.utc)
        finished = False
        deadline = start + max(120, n / 200)
        while time.monotonic() < deadline:
            time.sleep(0.25)  # only says when to look: the rates come from the engine's timestamps
            db.session.expire_all()
            counts = dict(db.session.execute(select(Message.status, func.count()).group_by(Message.status)).all())
            db.session.commit()
            if counts.get("delivered", 0) >= n:
                finished = True
                break
        worker.stop()
        if not finished:
            raise SystemExit(f"engine did not finish: {counts}")
        # The rates are taken from the times the engine wrote, not from when this loop noticed: at
        # several thousand messages a second a 0.25 s poll would be a tenth of a 20,000-message run.
        last_submitted, last_done = db.session.execute(
            select(func.max(Message.submitted_at), func.max(Message.done_at))).one()
        submitted_s = (last_submitted - started_at).total_seconds()
        delivered_s = (last_done - started_at).total_seconds()
        latencies = sorted(
            detail["latency_ms"] for detail in db.session.scalars(
                select(MessageEvent.detail).where(MessageEvent.kind == "submit_sm_resp"))
            if "latency_ms" in detail)
        db.session.remove()
    cut = statistics.quantiles(latencies, n=100)
    return {"binds": binds, "mixed": mixed, "pdus": pdus, "engine_msgs_per_s": round(n / submitted_s, 1),
            "engine_pdus_per_s": round(pdus / submitted_s, 1),
            "receipts_recorded_per_s": round(n / delivered_s, 1),
            "p50_submit_ms": round(cut[49], 1), "p95_submit_ms": round(cut[94], 1)}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--window", type=int, default=100)
    parser.add_argument("--binds", default="1,4", help="comma-separated bind counts to run")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    from bench.raw_client import raw_ceiling, wire_ceiling
    from dashboard.simulator import SimulatorConfig
    from dashboard.simulator.process import SimulatorProcess

    config = SimulatorConfig(port=0, receipt_delay=0, accounts={SYSTEM_ID: PASSWORD}, keep_records=1000)
    runs = []
    ceilings = []

    def measure_ceiling() -> None:
        sim.reset()
        ceilings.append(raw_ceiling("127.0.0.1", sim.port, n=args.n, window=args.window, system_id=SYSTEM_ID,
                                    password=PASSWORD)["raw_msgs_per_s"])

    with SimulatorProcess(config) as sim:
        for index, binds in enumerate(int(b) for b in args.binds.split(",")):
            if index == 0:
                measure_ceiling()  # just before and just after the first run: this machine's speed drifts
            sim.reset()
            run = run_engine(args.n, args.window, binds, sim.port)
            run["simulator_rate_during_run"] = round(sim.rate(), 1)
            runs.append(run)
            print(f"engine, {binds} bind(s), window {args.window}: {run['engine_msgs_per_s']:,.0f} msgs/s submitted, "
                  f"{run['receipts_recorded_per_s']:,.0f} msgs/s with receipts recorded, "
                  f"submit→response p50 {run['p50_submit_ms']} ms p95 {run['p95_submit_ms']} ms")
            if index == 0:
                measure_ceiling()
                sim.reset()
                mixed = run_engine(args.n, args.window, binds, sim.port, mixed=True)
                print(f"engine, {binds} bind(s), mixed (10 % two-part, 10 % UCS-2): "
                      f"{mixed['engine_msgs_per_s']:,.0f} msgs/s = {mixed['engine_pdus_per_s']:,.0f} PDUs/s")
        ceiling = round(statistics.fmean(ceilings), 1)
        sim.reset()
        wire = wire_ceiling("127.0.0.1", sim.port, n=args.n, system_id=SYSTEM_ID, password=PASSWORD)
        simulator_alone = round(sim.rate(), 1)
    one_bind = runs[0]
    figures = {
        "n": args.n, "window": args.window,
        "engine_msgs_per_s": one_bind["engine_msgs_per_s"],
        "engine_receipts_recorded_per_s": one_bind["receipts_recorded_per_s"],
        "raw_ceiling_msgs_per_s": ceiling,
        "raw_ceiling_before_after_msgs_per_s": ceilings,
        "simulator_msgs_per_s": simulator_alone,
        "p50_submit_ms": one_bind["p50_submit_ms"], "p95_submit_ms": one_bind["p95_submit_ms"],
        "share_of_raw_ceiling": round(one_bind["engine_msgs_per_s"] / ceiling, 2),
        "mixed_msgs_per_s": mixed["engine_msgs_per_s"],
        "mixed_pdus_per_s": mixed["engine_pdus_per_s"],
        "mixed_share_of_plain_pdus": round(mixed["engine_pdus_per_s"] / one_bind["engine_msgs_per_s"], 2),
        "peak_rss_mb": peak_rss_mb(),
        "runs": runs + [mixed],
    }
    print(f"raw ceiling (bare smpplib client, window {args.window}; mean of just before and just after the "
          f"first run, {ceilings[0]:,.0f} and {ceilings[1]:,.0f}): {ceiling:,.0f} msgs/s; "
          f"simulator alone (pre-built bytes): {simulator_alone:,.0f} submit_sm/s "
          f"({wire['raw_msgs_per_s']:,.0f} acked/s end to end)")
    print(f"mixed run: {figures['mixed_share_of_plain_pdus']:.0%} of the plain run's rate in PDUs/s")
    print(f"engine on 1 bind = {figures['share_of_raw_ceiling']:.0%} of the raw ceiling; "
          f"peak RSS {figures['peak_rss_mb']} MB")
    if args.json:
        print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    main()
