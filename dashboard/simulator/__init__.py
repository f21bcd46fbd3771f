"""The SMSC simulator used by the demo, the tests and the benchmarks.

It runs standalone: no Flask, no models, no dashboard.sms (it decodes with gsm0338 and
UTF-16 itself, which makes it an independent check on our encoder).
"""

from dashboard.simulator.config import OutcomeRule, SimulatorConfig
from dashboard.simulator.records import ReassembledMessage, SubmitRecord
from dashboard.simulator.server import Simulator

__all__ = ["OutcomeRule", "ReassembledMessage", "Simulator", "SimulatorConfig", "SubmitRecord"]
