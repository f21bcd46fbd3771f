"""The "raw ceiling": how fast a bare smpplib client can go against our SMSC simulator.

No database, no engine, no encoder: one transceiver bind, a window of outstanding
submit_sm built with smpplib.smpp.make_pdu + generate() and written in one sendall,
responses and receipts parsed with smpplib and receipts answered at once. The engine
benchmark compares itself with this figure.

    python bench/raw_client.py [--n N] [--window W] [--json]

run alone, it starts a simulator in a child process (so that client and simulator each
get a core instead of sharing one GIL) with receipt_delay=0, and also drives it with a
byte-level client (pre-built PDUs, headers parsed with struct) to show what the
simulator itself can take: proof that it is not the bottleneck.
"""

from __future__ import annotations

import argparse
import json
import socket
import struct
import time
from contextlib import contextmanager

from smpplib import client as smpp_client
from smpplib import consts, smpp

HEADER = struct.Struct(">IIII")
SUBMIT_SM_RESP = 0x80000004
DELIVER_SM = 0x00000005
DELIVER_SM_RESP = 0x80000005
ENQUIRE_LINK = 0x00000015
UNBIND_RESP = 0x80000006
TEXT = b"Raw ceiling run: your code is 123456"


def raw_ceiling(
    host: str,
    port: int,
    *,
    n: int = 20000,
    window: int = 100,
    system_id: str = "switchboard",
    password: str = "secret",
    receipts: bool = True,
) -> dict:
    """Push n one-part submit_sm through a bare smpplib Client; return the rates.

    raw_msgs_per_s counts submits answered with status 0, raw_receipts_per_s receipts
    received, each over the time from the first submit to the last one of its kind.
    """
    with _transceiver(host, port, system_id, password) as (client, sock):
        return _pump_smpplib(client, sock, n, window, receipts)


@contextmanager
def _transceiver(host: str, port: int, system_id: str, password: str):
    """A bound smpplib transceiver with TCP_NODELAY, and its socket; unbound and closed after."""
    client = smpp_client.Client(host, port, timeout=30, allow_unknown_opt_params=True)
    client.connect()
    try:
        sock = client._socket  # smpplib offers no accessor
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        client.bind_transceiver(system_id=system_id, password=password)
        yield client, sock
        _unbind(client, sock)
    finally:
        client.disconnect()


def _pump_smpplib(client, sock, n: int, window: int, receipts: bool) -> dict:
    sent = responses = accepted = errors = receipts_in = 0
    last_ack = last_receipt = 0.0
    buffer = b""
    start = time.perf_counter()
    while responses < n or (receipts and receipts_in < n):
        batch = []
        while sent < n and sent - responses < window:
            pdu = smpp.make_pdu(
                "submit_sm",
                client=client,
                allow_unknown_opt_params=True,
                source_addr_ton=consts.SMPP_TON_ALNUM,
                source_addr="Switchboard",
                dest_addr_ton=consts.SMPP_TON_INTL,
                dest_addr_npi=consts.SMPP_NPI_ISDN,
                destination_addr=f"4477009{sent % 100000:05d}",
                registered_delivery=1 if receipts else 0,
                short_message=TEXT,
            )
            batch.append(pdu.generate())
            sent += 1
        if batch:
            sock.sendall(b"".join(batch))
        data = sock.recv(262144)
        if not data:
            raise ConnectionError("the SMSC closed the connection")
        buffer += data
        replies = []
        pos = 0
        while len(buffer) - pos >= 16:
            length = int.from_bytes(buffer[pos : pos + 4], "big")
            if len(buffer) - pos < length:
                break
            pdu = smpp.parse_pdu(
                buffer[pos : pos + length], client=client, allow_unknown_opt_params=True
            )
            pos += length
            if pdu.command == "submit_sm_resp":
                responses += 1
                if pdu.status == 0:
                    accepted += 1
                    last_ack = time.perf_counter()
                else:
                    errors += 1
            elif pdu.command == "deliver_sm":
                if (pdu.esm_class & 0x3C) == 0x04:
                    receipts_in += 1
                    last_receipt = time.perf_counter()
                resp = smpp.make_pdu(
                    "deliver_sm_resp", client=client, allow_unknown_opt_params=True
                )
                resp.sequence = pdu.sequence  # make_pdu ignores sequence=
                replies.append(resp.generate())
            elif pdu.command == "enquire_link":
                resp = smpp.make_pdu(
                    "enquire_link_resp", client=client, allow_unknown_opt_params=True
                )
                resp.sequence = pdu.sequence  # make_pdu ignores sequence=
                replies.append(resp.generate())
        buffer = buffer[pos:]
        if replies:
            sock.sendall(b"".join(replies))
    elapsed = time.perf_counter() - start
    return _figures(n, accepted, errors, receipts_in, start, last_ack, last_receipt, elapsed)


def wire_ceiling(
    host: str,
    port: int,
    *,
    n: int = 20000,
    window: int = 1000,
    system_id: str = "switchboard",
    password: str = "secret",
) -> dict:
    """Drive the simulator with pre-built bytes: the simulator's own ceiling.

    All submit_sm are generated (with smpplib) before the clock starts; on the way back
    only the 16-byte headers are read. What is left is almost all simulator work.
    """
    with _transceiver(host, port, system_id, password) as (client, sock):
        pdus = [
            smpp.make_pdu(
                "submit_sm", client=client, allow_unknown_opt_params=True,
                source_addr_ton=consts.SMPP_TON_ALNUM, source_addr="Switchboard",
                dest_addr_ton=consts.SMPP_TON_INTL, dest_addr_npi=consts.SMPP_NPI_ISDN,
                destination_addr=f"4477009{i % 100000:05d}", registered_delivery=1,
                short_message=TEXT,
            ).generate()
            for i in range(n)
        ]
        return _pump_bytes(sock, pdus, window)


def _pump_bytes(sock, pdus: list[bytes], window: int) -> dict:
    n = len(pdus)
    sent = responses = accepted = errors = receipts_in = 0
    last_ack = last_receipt = 0.0
    buffer = b""
    pack, unpack = HEADER.pack, HEADER.unpack_from
    start = time.perf_counter()
    while responses < n or receipts_in < n:
        if sent < n and sent - responses < window:
            upto = min(n, responses + window)
            sock.sendall(b"".join(pdus[sent:upto]))
            sent = upto
        data = sock.recv(1 << 20)
        if not data:
            raise ConnectionError("the SMSC closed the connection")
        buffer += data
        replies = []
        acked_before, receipts_before = accepted, receipts_in
        pos, size = 0, len(buffer)
        while size - pos >= 16:
            length, command_id, status, sequence = unpack(buffer, pos)
            if size - pos < length:
                break
            pos += length
            if command_id == SUBMIT_SM_RESP:
                responses += 1
                if status == 0:
                    accepted += 1
                else:
                    errors += 1
            elif command_id == DELIVER_SM:
                receipts_in += 1
                replies.append(pack(16, DELIVER_SM_RESP, 0, sequence))
        now = time.perf_counter()
        if accepted != acked_before:
            last_ack = now
        if receipts_in != receipts_before:
            last_receipt = now
        buffer = buffer[pos:]
        if replies:
            sock.sendall(b"".join(replies))
    elapsed = time.perf_counter() - start
    return _figures(n, accepted, errors, receipts_in, start, last_ack, last_receipt, elapsed)


def _figures(n, accepted, errors, receipts_in, start, last_ack, last_receipt, elapsed) -> dict:
    def per_second(count: int, last: float) -> float:
        return round(count / (last - start), 1) if count else 0.0

    return {
        "n": n,
        "accepted": accepted,
        "errors": errors,
        "receipts": receipts_in,
        "raw_msgs_per_s": per_second(accepted, last_ack),
        "raw_receipts_per_s": per_second(receipts_in, last_receipt),
        "elapsed_s": round(elapsed, 3),
    }


def _unbind(client, sock) -> None:
    """Unbind politely, answering anything that still arrives, until unbind_resp."""
    sock.sendall(HEADER.pack(16, 0x00000006, 0, client.next_sequence()))
    client.state = consts.SMPP_CLIENT_STATE_OPEN  # so that disconnect() does not complain
    buffer = b""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        data = sock.recv(65536)
        if not data:
            return
        buffer += data
        while len(buffer) >= 16:
            length, command_id, _status, seq = HEADER.unpack_from(buffer)
            if len(buffer) < length:
                break
            buffer = buffer[length:]
            if command_id == UNBIND_RESP:
                return
            if command_id == DELIVER_SM:
                sock.sendall(HEADER.pack(16, DELIVER_SM_RESP, 0, seq))


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=20000, help="submit_sm to send")
    parser.add_argument("--window", type=int, default=100, help="outstanding submit_sm")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, help="use a running SMSC instead of our own")
    parser.add_argument("--system-id", default="switchboard")
    parser.add_argument("--password", default="secret")
    parser.add_argument("--no-receipts", action="store_true")
    parser.add_argument("--no-wire", action="store_true", help="skip the byte-level run")
    parser.add_argument("--json", action="store_true", help="end with one JSON line")
    args = parser.parse_args(argv)
    credentials = {"system_id": args.system_id, "password": args.password}

    if args.port is not None:
        result = raw_ceiling(
            args.host, args.port, n=args.n, window=args.window,
            receipts=not args.no_receipts, **credentials,
        )
    else:
        result = _run_with_own_simulator(args, credentials)

    print(f"smpplib client, window {args.window}: {result['raw_msgs_per_s']:,.0f} msgs/s acked, "
          f"{result['raw_receipts_per_s']:,.0f} receipts/s, {result['elapsed_s']} s for {args.n}")
    if "simulator_msgs_per_s" in result:
        print(f"simulator rate during that run: {result['simulator_msgs_per_s']:,.0f} submit_sm/s; "
              f"simulator CPU {result['simulator_cpu_us_per_msg']} µs per message "
              "with its receipt")
    if "simulator_max_msgs_per_s" in result:
        print(f"byte-level client: simulator took {result['simulator_max_msgs_per_s']:,.0f} "
              f"submit_sm/s with receipts ({result['wire_msgs_per_s']:,.0f} acked/s end to end)")
    if args.json:
        print(json.dumps(result))
    return result


def _run_with_own_simulator(args, credentials: dict) -> dict:
    from dashboard.simulator import SimulatorConfig
    from dashboard.simulator.process import SimulatorProcess

    config = SimulatorConfig(
        port=0, receipt_delay=0, accounts={args.system_id: args.password}
    )
    with SimulatorProcess(config) as sim:
        cpu_before = sim.cpu_time()
        result = raw_ceiling(
            args.host, sim.port, n=args.n, window=args.window,
            receipts=not args.no_receipts, **credentials,
        )
        cpu = sim.cpu_time() - cpu_before
        result["simulator_msgs_per_s"] = round(sim.rate(), 1)
        result["simulator_cpu_s"] = round(cpu, 3)
        result["simulator_cpu_us_per_msg"] = round(cpu / args.n * 1e6, 1)
        if not args.no_wire:
            sim.reset()
            cpu_before = sim.cpu_time()
            wire = wire_ceiling(args.host, sim.port, n=args.n, **credentials)
            cpu = sim.cpu_time() - cpu_before
            result["wire_msgs_per_s"] = wire["raw_msgs_per_s"]
            result["wire_receipts_per_s"] = wire["raw_receipts_per_s"]
            result["simulator_max_msgs_per_s"] = round(sim.rate(), 1)
            result["simulator_wire_cpu_us_per_msg"] = round(cpu / args.n * 1e6, 1)
    return result


if __name__ == "__main__":
    main()
