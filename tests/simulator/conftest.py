"""Fixtures for the simulator tests: a started simulator and real smpplib clients over TCP."""

from __future__ import annotations

import socket

import pytest
from smpplib import client as smpp_client
from smpplib import consts

from dashboard.simulator import Simulator
from tests.simulator.helpers import PASSWORD, SYSTEM_ID


@pytest.fixture
def make_simulator(make_simulator):
    """The project-wide factory (tests/conftest.py), with receipts sent at once by default."""

    def make(**overrides) -> Simulator:
        overrides.setdefault("receipt_delay", 0.0)
        return make_simulator(**overrides)

    return make


@pytest.fixture
def connect():
    """connect(sim, mode="trx", system_id=…, password=…) → a bound smpplib Client."""
    clients: list[smpp_client.Client] = []

    def open_client(sim, mode="trx", system_id=SYSTEM_ID, password=PASSWORD, bind=True):
        client = smpp_client.Client(
            "127.0.0.1", sim.port, timeout=2, allow_unknown_opt_params=True
        )
        clients.append(client)
        client.connect()
        if bind:
            binder = {"trx": client.bind_transceiver, "tx": client.bind_transmitter,
                      "rx": client.bind_receiver}[mode]
            binder(system_id=system_id, password=password)
        return client

    yield open_client
    for client in clients:
        client.state = consts.SMPP_CLIENT_STATE_OPEN  # no "disconnecting in the bound state"
        client.disconnect()


@pytest.fixture
def raw_socket():
    """raw_socket(sim) → a plain TCP socket to the simulator, for bytes smpplib won't send."""
    sockets: list[socket.socket] = []

    def open_socket(sim) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", sim.port), timeout=2)
        sockets.append(sock)
        return sock

    yield open_socket
    for sock in sockets:
        sock.close()
