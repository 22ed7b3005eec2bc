"""Which device-side server to run: FC23 round-trip latency of each candidate, measured.

Run: .venv/bin/python benchmarks/server_choice.py [-n 2000] [--rounds 5]
The cases run interleaved in rounds because this machine's latency drifts by 2x between runs;
compare cases within one run, not across runs.

Outcome (2-vCPU VM): RtuServer in a thread of the host process on a pty (a) is the default.
A separate process (b) was no faster, only harder to start and stop; pymodbus's asyncio server
(c) was 2-4x slower than RtuServer on the same socket transport (c'); pymodbus's own sync
client (e) costs ~2.3 ms per cycle because it polls. A pty costs ~80 us more per round trip
than loopback TCP here (its tty layer defers delivery to a kernel worker).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import multiprocessing.synchronize
import os
import socket
import threading
from collections.abc import Callable

from hil.devices.pty_pair import open_pty_pair
from hil.devices.rtu_server import RtuServer
from hil.linkbench import (REGS, RawEcho, TrivialHandler, fc23_round_trips, raw_pty_samples,
                           raw_round_trips, rtu_server_pty_samples, summarize, time_calls)


def _serve_in_child(fd: int, stop: multiprocessing.synchronize.Event) -> None:
    server = RtuServer(TrivialHandler())
    server.start(fd)
    stop.wait()
    server.stop()


def _echo_in_child(fd: int, stop: multiprocessing.synchronize.Event) -> None:
    echo = RawEcho()
    echo.start(fd)
    stop.wait()
    echo.stop()


def in_child_process(target: Callable, rounds: Callable[[str, int], list[int]],
                     n: int) -> list[int]:
    """Run `target(master_fd, stop)` in a forked process; time `rounds` on the slave path."""
    ctx = multiprocessing.get_context("fork")   # the child inherits the pty master fd
    fd, path = open_pty_pair()
    stop = ctx.Event()
    child = ctx.Process(target=target, args=(fd, stop), daemon=True)
    child.start()
    try:
        return rounds(path, n)
    finally:
        stop.set()
        child.join(timeout=5)
        os.close(fd)


def rtu_server_tcp(n: int) -> list[int]:
    """RtuServer (thread) on a loopback TCP connection, client via socket://."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    server = RtuServer(TrivialHandler())
    conns: list[socket.socket] = []

    def accept() -> None:
        conn, _ = listener.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conns.append(conn)
        server.start(conn.fileno())

    acceptor = threading.Thread(target=accept, daemon=True)
    acceptor.start()
    try:
        return fc23_round_trips(f"socket://127.0.0.1:{port}", n)
    finally:
        acceptor.join(timeout=5)
        server.stop()
        for conn in conns:
            conn.close()
        listener.close()


def pymodbus_tcp_rtu(n: int) -> list[int]:
    """pymodbus ModbusTcpServer with the RTU framer (asyncio, own thread), client via socket://."""
    from pymodbus import FramerType
    from pymodbus.server import ModbusTcpServer
    from pymodbus.simulator import DataType, SimData, SimDevice

    with socket.create_server(("127.0.0.1", 0)) as probe:   # a free port for the server
        port = probe.getsockname()[1]
    ready = threading.Event()
    holder: dict = {}

    async def serve() -> None:
        device = SimDevice(id=1, simdata=[SimData(0, count=256, values=0,
                                                   datatype=DataType.REGISTERS)])
        server = ModbusTcpServer(device, framer=FramerType.RTU, address=("127.0.0.1", port))
        holder["server"], holder["loop"] = server, asyncio.get_running_loop()
        await server.serve_forever(background=True)
        ready.set()
        await server.serving

    thread = threading.Thread(target=asyncio.run, args=(serve(),), daemon=True)
    thread.start()
    if not ready.wait(10):
        raise RuntimeError("pymodbus server did not start")
    try:
        return fc23_round_trips(f"socket://127.0.0.1:{port}", n)
    finally:
        asyncio.run_coroutine_threadsafe(holder["server"].shutdown(), holder["loop"]).result(5)
        thread.join(timeout=5)


def pymodbus_client_pty(n: int) -> list[int]:
    """Reference for the client choice: pymodbus's own sync serial client against RtuServer."""
    from pymodbus.client import ModbusSerialClient

    fd, path = open_pty_pair()
    server = RtuServer(TrivialHandler())
    server.start(fd)
    client = ModbusSerialClient(path, baudrate=115200, timeout=1.0)
    client.connect()
    values = list(range(REGS))

    def once(_i: int) -> None:
        reply = client.readwrite_registers(read_address=100, read_count=REGS,
                                           write_address=0, values=values, device_id=1)
        if reply.isError():
            raise RuntimeError(str(reply))

    try:
        return time_calls(once, n)
    finally:
        client.close()
        server.stop()
        os.close(fd)


CASES: dict[str, Callable[[int], list[int]]] = {
    "a  RtuServer, thread, pty": rtu_server_pty_samples,
    "b  RtuServer, process, pty":
        lambda n: in_child_process(_serve_in_child, fc23_round_trips, n),
    "c  pymodbus ModbusTcpServer(RTU), socket://": pymodbus_tcp_rtu,
    "c' RtuServer, thread, socket://": rtu_server_tcp,
    "d  raw echo, thread, pty (floor)": raw_pty_samples,
    "d' raw echo, process, pty (floor)":
        lambda n: in_child_process(_echo_in_child, raw_round_trips, n),
    "e  pymodbus sync client -> RtuServer, pty": pymodbus_client_pty,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=2000, help="transactions per case")
    parser.add_argument("--rounds", type=int, default=5,
                        help="interleave the cases in this many rounds (evens out drift)")
    args = parser.parse_args()
    per_round = max(1, args.n // args.rounds)
    samples: dict[str, list[int]] = {name: [] for name in CASES}
    for _ in range(args.rounds):
        for name, run in CASES.items():
            samples[name] += run(per_round)
    print(f"FC23 round trip, write {REGS} + read {REGS} registers, n={per_round * args.rounds}"
          f" per case in {args.rounds} interleaved rounds, microseconds")
    print(f"{'case':46s} {'mean':>8s} {'p50':>8s} {'p99':>8s}")
    for name, values in samples.items():
        s = summarize(values)
        print(f"{name:46s} {s['mean_us']:8.1f} {s['p50_us']:8.1f} {s['p99_us']:8.1f}")


if __name__ == "__main__":
    main()
