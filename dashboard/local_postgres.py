"""A PostgreSQL server of one's own on 127.0.0.1, from the machine's initdb and pg_ctl (Debian:
`apt-get install postgresql`): for trying several sender workers without a database
administrator (`flask --app app postgres start`), for the tests and for the benchmarks.

It trusts local connections and runs without fsync: a place to try and measure things, not to
keep data in. docs/scaling.md says how to run against a real PostgreSQL.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

PG_BIN_CANDIDATES = tuple(f"/usr/lib/postgresql/{v}/bin" for v in (17, 16, 15, 14, 13))


class PostgresUnavailable(RuntimeError):
    pass


def pg_bin() -> Path | None:
    """The folder of initdb and pg_ctl, or None when PostgreSQL's server is not installed."""
    for candidate in PG_BIN_CANDIDATES:
        if Path(candidate, "initdb").exists():
            return Path(candidate)
    found = shutil.which("initdb")
    return Path(found).resolve().parent if found else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LocalPostgres:
    """A cluster in `directory` listening on 127.0.0.1:`port`. As root the server runs as the
    `postgres` user (initdb refuses root), so `directory` must be somewhere that user can reach;
    `throwaway()` makes one in the temporary folder."""

    def __init__(self, directory: Path, port: int) -> None:
        self.bin = pg_bin()
        if self.bin is None:
            raise PostgresUnavailable("no initdb on this machine (Debian: apt-get install postgresql)")
        self.directory = Path(directory)
        self.data = self.directory / "pgdata"
        self.port = port
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    @classmethod
    def throwaway(cls) -> LocalPostgres:
        """A new cluster in a temporary folder, on a free port; stop(remove=True) deletes it."""
        return cls(Path(tempfile.mkdtemp(prefix="switchboard-pg-")), free_port())

    def _run(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([*self.as_user, *args], check=True, capture_output=True, timeout=120)

    @property
    def running(self) -> bool:
        return subprocess.run([*self.as_user, str(self.bin / "pg_ctl"), "-D", str(self.data), "status"],
                              capture_output=True, timeout=30).returncode == 0

    def start(self) -> LocalPostgres:
        """Create the cluster when it does not exist yet, then start it (if it is not running)."""
        if not (self.data / "PG_VERSION").exists():
            self.data.mkdir(parents=True, exist_ok=True)
            if self.as_user:
                shutil.chown(self.directory, "postgres")
                shutil.chown(self.data, "postgres")
            self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        if not self.running:
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-w", "-l", str(self.data / "log"),
                      "-o", f"-h 127.0.0.1 -p {self.port} -k {self.data} -c fsync=off", "start")
        return self

    def stop(self, remove: bool = False) -> None:
        subprocess.run([*self.as_user, str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "stop"],
                       capture_output=True, timeout=60)
        if remove:
            shutil.rmtree(self.directory, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str, template: str | None = None, exist_ok: bool = False) -> str:
        """A new database (a copy of `template` when given); its URL."""
        from psycopg import errors, sql
        statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template:
            statement += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
        try:
            self._admin(statement)
        except errors.DuplicateDatabase:
            if not exist_ok:
                raise
        return self.url(name)

    def drop_database(self, name: str) -> None:
        from psycopg import sql
        self._admin(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    def _admin(self, statement) -> None:
        import psycopg
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres",
                             autocommit=True) as conn:
            conn.execute(statement)
