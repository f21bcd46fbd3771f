"""A Simulator in a child process, for benchmarks.

In one process the simulator's thread and the client under test share one GIL, so a
benchmark would measure both on one core. In a child process each gets its own core.
"""

from __future__ import annotations

import multiprocessing
from typing import Any

from dashboard.simulator.config import SimulatorConfig

# Only what makes sense across a process boundary: figures, not live objects.
_ALLOWED = {"rate", "cpu_time", "submit_count", "submit_times", "reset", "bound_sessions", "pending_deliveries"}


class SimulatorProcess:
    """Run a Simulator in a spawned child process; ask it for figures by method name.

    with SimulatorProcess(SimulatorConfig(port=0, receipt_delay=0)) as sim:
        ... connect to ("127.0.0.1", sim.port) ...
        sim.rate(), sim.cpu_time(), sim.submit_count()

    The child is spawned, so it re-imports the __main__ module: a script that uses this
    needs the usual `if __name__ == "__main__":` guard.
    """

    def __init__(self, config: SimulatorConfig | None = None, start_timeout: float = 30.0):
        self.config = config or SimulatorConfig()
        self.port: int = self.config.port
        self._start_timeout = start_timeout
        self._process = None
        self._conn = None

    def start(self) -> SimulatorProcess:
        # spawn, not fork: forking a process that already runs threads is unsafe
        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe()
        self._process = context.Process(
            target=_serve, args=(self.config, child), name="smsc-simulator", daemon=True
        )
        self._process.start()
        child.close()
        self._conn = parent
        if not parent.poll(self._start_timeout):
            self.stop()
            raise TimeoutError("the simulator process did not start")
        try:
            kind, value = parent.recv()
        except EOFError:
            kind, value = "error", "it exited while starting"
        if kind != "ready":
            self.stop()
            raise RuntimeError(f"the simulator process failed: {value}")
        self.port = value
        return self

    @property
    def pid(self) -> int | None:
        """The simulator process's id, while it runs (a benchmark counts its CPU)."""
        return self._process.pid if self._process is not None else None

    def _ask(self, name: str, *args: Any) -> Any:
        self._conn.send((name, args))
        kind, value = self._conn.recv()
        if kind != "ok":
            raise RuntimeError(value)
        return value

    def rate(self) -> float:
        return self._ask("rate")

    def cpu_time(self) -> float:
        return self._ask("cpu_time")

    def submit_count(self, destination: str | None = None) -> int:
        return self._ask("submit_count", destination)

    def submit_times(self) -> list[tuple[float, int]]:
        return self._ask("submit_times")

    def reset(self) -> None:
        self._ask("reset")

    def stop(self) -> None:
        if self._conn is not None:
            try:
                self._conn.send(("stop", ()))
                self._conn.recv()
            except (EOFError, OSError):
                pass
            self._conn.close()
            self._conn = None
        if self._process is not None:
            self._process.join(timeout=10)
            if self._process.is_alive():
                self._process.kill()
                self._process.join()
            self._process.close()
            self._process = None

    def __enter__(self) -> SimulatorProcess:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _serve(config: SimulatorConfig, conn) -> None:
    from dashboard.simulator.server import Simulator

    try:
        sim = Simulator(config).start()
    except Exception as exc:
        conn.send(("error", repr(exc)))
        conn.close()
        return
    conn.send(("ready", sim.port))
    try:
        while True:
            try:
                name, args = conn.recv()
            except EOFError:  # the parent went away
                break
            if name == "stop":
                break
            if name not in _ALLOWED:
                conn.send(("error", f"not allowed: {name}"))
                continue
            try:
                conn.send(("ok", getattr(sim, name)(*args)))
            except Exception as exc:
                conn.send(("error", repr(exc)))
    finally:
        sim.stop()
        try:
            conn.send(("ok", None))
        except OSError:
            pass
        conn.close()
