"""The command line entry and the raw-ceiling benchmark, run small."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from click.testing import CliRunner

from dashboard.simulator import Simulator
from dashboard.simulator.cli import simulator_command
from dashboard.simulator.config import SimulatorConfig
from dashboard.simulator.process import SimulatorProcess

ROOT = Path(__file__).resolve().parents[2]


def test_the_command_builds_its_config_and_announces_the_port(monkeypatch):
    seen = {}

    def serve_once(self):
        seen["config"] = self.config
        seen["port"] = self.port
        self.stop()

    monkeypatch.setattr(Simulator, "serve_forever", serve_once)

    result = CliRunner().invoke(simulator_command, [
        "--port", "0", "--account", "acme:pw1", "--account", "beta:pw2",
        "--receipt-delay", "0.1", "--undeliverable-pattern", "7$",
        "--throttle-tps", "50", "--throttle-ratio", "0.1", "--message-id-format", "dec",
    ])

    assert result.exit_code == 0, result.output
    assert result.output == (
        f"SMSC simulator listening on 127.0.0.1:{seen['port']} (accounts: acme, beta)\n"
    )
    config = seen["config"]
    assert config.accounts == {"acme": "pw1", "beta": "pw2"}
    assert (config.receipt_delay, config.max_tps, config.throttle_ratio) == (0.1, 50, 0.1)
    assert [(r.pattern, r.stat) for r in config.outcomes] == [("7$", "UNDELIV")]
    assert config.message_id_format == "dec"


def test_the_command_refuses_a_malformed_account():
    result = CliRunner().invoke(simulator_command, ["--account", "no-colon"])

    assert result.exit_code == 2
    assert "SYSTEM_ID:PASSWORD" in result.output


def load_raw_client():
    spec = importlib.util.spec_from_file_location("raw_client", ROOT / "bench" / "raw_client.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_raw_client_gets_every_response_and_receipt(make_simulator):
    raw_client = load_raw_client()
    sim = make_simulator()

    result = raw_client.raw_ceiling("127.0.0.1", sim.port, n=300, window=50,
                                    system_id="switchboard", password="secret")

    assert (result["accepted"], result["receipts"], result["errors"]) == (300, 300, 0)
    assert result["raw_msgs_per_s"] > 0 and result["raw_receipts_per_s"] > 0
    assert sim.submit_count() == 300
    assert len(sim.deliver_responses) == 300
    assert sim.pending_deliveries() == 0


def test_a_simulator_process_serves_and_reports_figures():
    raw_client = load_raw_client()
    with SimulatorProcess(SimulatorConfig(port=0, receipt_delay=0)) as sim:
        result = raw_client.wire_ceiling("127.0.0.1", sim.port, n=500)

        assert result["receipts"] == 500
        assert sim.submit_count() == 500
        assert sim.rate() > 0 and sim.cpu_time() > 0
