"""A Modbus TCP relay module stood in for by pymodbus's own server, on 127.0.0.1.

For trying a relay rig (docs/device-control.md) without the hardware, and for its tests and
benchmarks/relay_latency.py: coils 0..N-1 start on (powered); a write answers at once, as a
module's does, and `on_switch(coil, on)` then runs in the stand-in's own worker thread, in write
order (what the relay's contacts power: e.g. a SIL process standing in for a board, stopped and
started). Every switching is kept in `switchings` with the time.monotonic() of the write.
A program that on_switch starts with ProcessDevice dies with the worker thread (its parent-death
signal follows the thread that started it): stop it before the stand-in, as a board loses power.
"""

from __future__ import annotations

import asyncio
import queue
import socket
import threading
import time
from collections.abc import Callable

START_TIMEOUT_S = 10.0


class RelayStandIn:
    """start() -> "tcp://127.0.0.1:PORT"; stop() when done (or use as a context manager)."""

    def __init__(self, on_switch: Callable[[int, bool], None] | None = None, *, unit: int = 1,
                 coils: int = 8) -> None:
        self.on_switch = on_switch
        self.unit = unit
        self.coils = coils
        self.url: str | None = None
        self.switchings: list[tuple[float, int, bool]] = []
        self.errors: list[BaseException] = []        # what on_switch raised, for the caller to see
        self._server = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._work: queue.SimpleQueue = queue.SimpleQueue()
        self._worker: threading.Thread | None = None

    def start(self) -> str:
        with socket.create_server(("127.0.0.1", 0)) as probe:     # a free port for the server
            port = probe.getsockname()[1]
        ready = threading.Event()
        self._thread = threading.Thread(target=asyncio.run, args=(self._serve(port, ready),),
                                        name="relay-standin", daemon=True)
        self._thread.start()
        self._worker = threading.Thread(target=self._switch_loop, name="relay-standin-contacts", daemon=True)
        self._worker.start()
        if not ready.wait(START_TIMEOUT_S):
            self.stop()
            raise RuntimeError("the pymodbus relay stand-in did not start")
        self.url = f"tcp://127.0.0.1:{port}"
        return self.url

    async def _serve(self, port: int, ready: threading.Event) -> None:
        from pymodbus.server import ModbusTcpServer
        from pymodbus.simulator import DataType, SimData, SimDevice

        def bits(value: bool) -> list:
            return [SimData(0, count=self.coils, values=value, datatype=DataType.BITS)]

        registers = [SimData(0, count=1, values=0, datatype=DataType.REGISTERS)]
        device = SimDevice(id=self.unit, simdata=(bits(True), bits(False), registers, list(registers)),
                           action=self._action)
        self._server = ModbusTcpServer(device, address=("127.0.0.1", port))
        self._loop = asyncio.get_running_loop()
        await self._server.serve_forever(background=True)
        ready.set()
        await self._server.serving

    async def _action(self, function_code: int, _start: int, address: int, count: int, _registers,
                      set_values) -> None:
        # Called before a write is stored (with its values) and again after it (without). The
        # contacts move once the reply is on its way (the loop's next pass): what they power
        # starting up does not hold up the reply.
        if function_code in (5, 15) and set_values is not None:
            now = time.monotonic()
            for coil, on in zip(range(address, address + count), set_values):
                self.switchings.append((now, coil, bool(on)))
                self._loop.call_soon(self._work.put, (coil, bool(on)))

    def _switch_loop(self) -> None:
        while (item := self._work.get()) is not None:
            if isinstance(item, threading.Event):     # idle(): everything before it is done
                item.set()
            elif self.on_switch is not None:
                try:
                    self.on_switch(*item)
                except BaseException as exc:  # noqa: BLE001 - kept for the caller; the contacts go on
                    self.errors.append(exc)

    def idle(self, timeout_s: float = START_TIMEOUT_S) -> bool:
        """Wait until on_switch has carried out every switching so far; False on timeout."""
        reached = threading.Event()
        self._work.put(reached)
        return reached.wait(timeout_s)

    def stop(self) -> None:
        if self._server is not None and self._loop is not None:
            try:
                asyncio.run_coroutine_threadsafe(self._server.shutdown(), self._loop).result(5)
            except Exception:  # noqa: BLE001 - already down
                pass
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._worker is not None:
            self._work.put(None)
            self._worker.join(timeout=10)
        self._server = self._loop = self._thread = self._worker = None

    def __enter__(self) -> RelayStandIn:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
