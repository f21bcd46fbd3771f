"""A throwaway PostgreSQL cluster for tests: dashboard.local_postgres, in a temporary folder on a
free port, removed when the session ends."""
from __future__ import annotations

from dashboard.local_postgres import LocalPostgres, pg_bin

__all__ = ["PostgresCluster", "pg_bin"]


class PostgresCluster(LocalPostgres):
    def __init__(self) -> None:
        throwaway = LocalPostgres.throwaway()
        super().__init__(throwaway.directory, throwaway.port)

    def stop(self, remove: bool = True) -> None:
        # Immediate: the cluster is thrown away, nothing in it needs a clean shutdown.
        super().stop(remove=remove)
