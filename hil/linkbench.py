"""Link latency: FC23 round trip through RtuClient + RtuServer on a pty, against a raw pty echo."""

from __future__ import annotations

import errno
import os
import select
import threading
import time
from collections.abc import Callable, Sequence

import serial

from hil.devices.pty_pair import open_pty_pair
from hil.devices.rtu_server import IllegalAddress, RtuServer
from hil.link.rtu_client import RtuClient

REGS = 14                        # registers each way per control cycle
REQUEST_LEN = 13 + 2 * REGS      # FC23 request: unit fc raddr rcnt waddr wcnt nbytes data crc
RESPONSE_LEN = 5 + 2 * REGS      # FC23 response: unit fc nbytes data crc
WARMUP = 100


class TrivialHandler:
    """A plain register array: the cheapest handler, so the bench measures the link alone."""

    def __init__(self, size: int = 256) -> None:
        self.regs = [0] * size

    def read(self, address: int, count: int) -> list[int]:
        if address + count > len(self.regs):
            raise IllegalAddress(f"{address}+{count}")
        return self.regs[address:address + count]

    def write(self, address: int, values: Sequence[int]) -> None:
        if address + len(values) > len(self.regs):
            raise IllegalAddress(f"{address}+{len(values)}")
        self.regs[address:address + len(values)] = values


class RawEcho:
    """Answers every REQUEST_LEN bytes with RESPONSE_LEN bytes, no Modbus: the transport floor."""

    def __init__(self) -> None:
        self._thread: threading.Thread | None = None
        self._wake_r = self._wake_w = -1

    def start(self, fd: int) -> None:
        self._wake_r, self._wake_w = os.pipe()
        self._thread = threading.Thread(target=self._run, args=(fd,), daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is None:
            return
        os.write(self._wake_w, b"x")
        self._thread.join(timeout=5)
        os.close(self._wake_r)
        os.close(self._wake_w)
        self._thread = None

    def _run(self, fd: int) -> None:
        pending = 0
        reply = bytes(RESPONSE_LEN)
        while True:
            if self._wake_r in select.select([fd, self._wake_r], [], [])[0]:
                return
            try:
                pending += len(os.read(fd, 4096))
            except OSError as exc:
                if exc.errno != errno.EIO:    # EIO: no client has the pty open yet
                    return
                time.sleep(0.01)
                continue
            while pending >= REQUEST_LEN:
                pending -= REQUEST_LEN
                os.write(fd, reply)


def summarize(samples_ns: Sequence[int]) -> dict[str, float]:
    """Mean, median and 99th percentile of per-call times, in microseconds."""
    ordered = sorted(samples_ns)
    n = len(ordered)
    return {"mean_us": round(sum(ordered) / n / 1e3, 1),
            "p50_us": round(ordered[n // 2] / 1e3, 1),
            "p99_us": round(ordered[min(n - 1, int(0.99 * n))] / 1e3, 1)}


def time_calls(call: Callable[[int], object], n: int, warmup: int = WARMUP) -> list[int]:
    """Per-call wall time in ns of `call(i)` for i in range(n), after `warmup` untimed calls."""
    for i in range(warmup):
        call(i)
    clock = time.perf_counter_ns
    samples = []
    for i in range(n):
        t0 = clock()
        call(i)
        samples.append(clock() - t0)
    return samples


def fc23_round_trips(url: str, n: int) -> list[int]:
    """Time `n` FC23 transactions (write REGS, read REGS) through RtuClient on `url`."""
    values = list(range(REGS))
    with RtuClient(url, timeout_s=1.0) as client:
        return time_calls(lambda i: client.read_write(0, values, 100, REGS, frame=i), n)


def raw_round_trips(url: str, n: int) -> list[int]:
    """Time `n` raw exchanges of the FC23 byte counts, with the client's syscall pattern
    (flush, write, read the first 5 bytes, read the rest) but no Modbus work."""
    request = bytes(REQUEST_LEN)
    with serial.serial_for_url(url, baudrate=115200, timeout=1.0) as ser:
        def once(_i: int) -> None:
            ser.reset_input_buffer()
            ser.write(request)
            if len(ser.read(5) + ser.read(RESPONSE_LEN - 5)) != RESPONSE_LEN:
                raise TimeoutError("raw echo did not answer")
        return time_calls(once, n)


def _on_pty(responder, measure: Callable[[str, int], list[int]], n: int) -> list[int]:
    """Serve a fresh pty with `responder` (start(fd)/stop()) while `measure(path, n)` runs."""
    fd, path = open_pty_pair()
    responder.start(fd)
    try:
        return measure(path, n)
    finally:
        responder.stop()
        os.close(fd)


def rtu_server_pty_samples(n: int) -> list[int]:
    """FC23 round trips: RtuClient <-> RtuServer (thread of this process) over a pty."""
    return _on_pty(RtuServer(TrivialHandler()), fc23_round_trips, n)


def raw_pty_samples(n: int) -> list[int]:
    """Raw round trips of the same byte counts over a pty, echo thread in this process."""
    return _on_pty(RawEcho(), raw_round_trips, n)


def measure_link_overhead(n: int = 2000, rounds: int = 4) -> dict:
    """Per-cycle FC23 round trip (RtuClient + RtuServer on a pty, REGS registers each way)
    and a raw pty echo of the same byte counts, in microseconds, and their difference:
    {"transactions", "registers", "rtu": {mean_us, p50_us, p99_us}, "raw": {...},
     "overhead": {...} (rtu - raw, per statistic), "overhead_mean_us"}.

    The two alternate in `rounds` rounds: machine latency drifts, and a difference of two
    measurements taken minutes apart would mostly show the drift.
    """
    rounds = max(1, min(rounds, n))
    link_ns: list[int] = []
    raw_ns: list[int] = []
    for i in range(rounds):
        share = n // rounds + (1 if i < n % rounds else 0)
        link_ns += rtu_server_pty_samples(share)
        raw_ns += raw_pty_samples(share)
    rtu, raw = summarize(link_ns), summarize(raw_ns)
    overhead = {k: round(rtu[k] - raw[k], 1) for k in rtu}
    return {"transactions": n, "registers": REGS, "rtu": rtu, "raw": raw,
            "overhead": overhead, "overhead_mean_us": overhead["mean_us"]}


if __name__ == "__main__":
    print(measure_link_overhead())
