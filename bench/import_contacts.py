"""Contact CSV import and consent export: rows per second and peak memory.

Writes a CSV of N rows with 1% bad rows (invalid numbers, missing columns, bad UTF-8,
duplicates), imports it through the worker's function (services.imports.process_pending_imports)
and checks that every good row is in and every bad row reported with its line. Then, in a fresh
process so its peak RSS is its own, streams a consent export of M events through the real view.

    python bench/import_contacts.py [--rows 100000] [--events 1000000] [--json]
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

BATCH = 5000


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def number(i: int) -> str:
    # Valid North American numbers: 700 area codes × 10,000 lines.
    return f"+1{201 + (i // 10000) % 700:03d}555{i % 10000:04d}"


def write_csv(path: Path, rows: int) -> int:
    """The file, and how many of its rows are bad (every 100th row, four kinds in turn)."""
    bad = 0
    with path.open("wb") as f:
        f.write(b"phone,name,plan\n")
        for i in range(rows):
            if i % 100 == 99:
                bad += 1
                kind = (i // 100) % 4
                line = {0: b"12345,Invalid,gold\n", 1: number(i).encode() + b",Missing\n",
                        2: number(i).encode() + b",Caf\xe9,gold\n", 3: number(i - 1).encode() + b",Dup,gold\n"}[kind]
                f.write(line)
            else:
                f.write(f"{number(i)},Person {i},gold\n".encode())
    return bad


def make_app(db_path: Path, import_dir: Path):
    from dashboard import create_app
    return create_app({"DATABASE_URL": f"sqlite:///{db_path}", "SECRET_KEY": "bench", "IMPORT_DIR": str(import_dir),
                       "WTF_CSRF_ENABLED": False})


def run_import(workdir: Path, rows: int) -> dict:
    from flask_migrate import upgrade

    from dashboard.extensions import db
    from dashboard.models.types import utcnow
    from dashboard.services import contacts, imports

    csv_path = workdir / "contacts.csv"
    bad = write_csv(csv_path, rows)
    app = make_app(workdir / "bench.db", workdir / "imports")
    with app.app_context():
        upgrade()
        user = bench_user("bench@example.com", "admin")
        contact_list = contacts.create_list("Bench")
        with csv_path.open("rb") as f:
            imp = imports.save_upload(f, "contacts.csv", contact_list, user, source="import", evidence="bench",
                                      now=utcnow())
        imports.confirm(imp, imports.mapping_of(imp), has_header=True)
        baseline = peak_rss_mb()
        started = time.perf_counter()
        while imports.process_pending_imports(utcnow(), budget_rows=BATCH):
            pass
        elapsed = time.perf_counter() - started
        db.session.refresh(imp)
        assert imp.status == "done", imp.error
        assert imp.imported == rows - bad and imp.rejected == bad, (imp.imported, imp.rejected, bad)
        return {"rows": rows, "bad_rows": bad, "imported": imp.imported, "import_seconds": round(elapsed, 1),
                "import_rows_per_s": round(rows / elapsed), "import_baseline_rss_mb": baseline,
                "import_peak_rss_mb": peak_rss_mb()}


def add_events(workdir: Path, events: int) -> None:
    """Top the ledger up to `events` with global opt-out/opt-in pairs over the imported contacts."""
    from sqlalchemy import func, select

    from dashboard.extensions import db
    from dashboard.models import ConsentEvent, Contact
    from dashboard.models.types import utcnow
    from dashboard.services import consent

    app = make_app(workdir / "bench.db", workdir / "imports")
    with app.app_context():
        have = db.session.scalar(select(func.count()).select_from(ConsentEvent))
        people = db.session.scalars(select(Contact).order_by(Contact.id).limit(BATCH)).all()
        kind = consent.OPT_OUT
        while have < events:
            batch = [(c, "bench") for c in people[:min(BATCH, events - have)]]
            have += consent.record_many(batch, kind, source="admin", actor="bench", now=utcnow())
            db.session.commit()
            kind = consent.OPT_IN if kind == consent.OPT_OUT else consent.OPT_OUT


def bench_user(email: str, role: str):
    """A user without a real password hash: scrypt needs ~64 MB, which would be the peak RSS."""
    from dashboard.extensions import db
    from dashboard.models import User
    user = User(email=email, role=role, password_hash="!")
    db.session.add(user)
    db.session.commit()
    return user


def measure_export(workdir: Path) -> dict:
    """Runs in its own process: stream the whole ledger as CSV through the view, discard it."""
    app = make_app(workdir / "bench.db", workdir / "imports")
    with app.app_context():
        user_id = bench_user("reviewer@example.com", "compliance").id
    client = app.test_client()
    with client.session_transaction() as session:  # logged in without hashing a password
        session["_user_id"] = str(user_id)
        session["_fresh"] = True
    baseline = peak_rss_mb()
    started = time.perf_counter()
    response = client.get("/consent/export.csv", buffered=False)
    assert response.status_code == 200, response.status
    size = lines = 0
    for chunk in response.response:
        size += len(chunk)
        lines += chunk.count(b"\n")
    response.close()
    elapsed = time.perf_counter() - started
    return {"export_rows": lines - 1, "export_mb": round(size / 1e6, 1), "export_seconds": round(elapsed, 1),
            "export_rows_per_s": round((lines - 1) / elapsed), "export_baseline_rss_mb": baseline,
            "export_peak_rss_mb": peak_rss_mb()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--export-only", metavar="WORKDIR", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.export_only:
        print(json.dumps(measure_export(Path(args.export_only))))
        return
    with tempfile.TemporaryDirectory(prefix="switchboard-import-") as tmp:
        workdir = Path(tmp)
        figures = run_import(workdir, args.rows)
        add_events(workdir, args.events)
        child = subprocess.run([sys.executable, __file__, "--export-only", str(workdir)], check=True,
                               capture_output=True, text=True)
        figures.update(json.loads(child.stdout.strip().splitlines()[-1]))
    assert figures["export_rows"] >= args.events, figures
    if not args.json:
        for key, value in figures.items():
            print(f"{key:>22}  {value}")
    else:
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
