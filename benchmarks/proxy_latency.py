"""What the link proxy adds to a round trip: FC23 exchanges with the loopback device, direct and
through the proxy (a thread of this process, and `python -m hil.link.proxy` as its own process).

Run: .venv/bin/python benchmarks/proxy_latency.py [-n 2000] [--rounds 4] [--json FILE]

Each exchange writes a sensor frame and reads the command block back (one control step of the
reference controller), as one lockstep cycle does. The three cases alternate in rounds, each
against a fresh loopback device, because this machine's latency drifts between runs: compare
cases within one run. The proxy relays every frame with no rules, which is the pass-through path
every chaos test also takes for the frames its rules leave alone.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from hil import icd
from hil.devices.loopback import LoopbackDevice
from hil.link.proxy import LinkProxy
from hil.link.rtu_client import RtuClient
from hil.linkbench import summarize, time_calls

ROOT = Path(__file__).resolve().parents[1]


def sensor_frame(i: int) -> list[int]:
    """A powered-descent sensor frame; frame number and time advance each exchange."""
    return icd.SENSORS.encode([i + 1, 20_000 * (i + 1), 1, 1500.0, 0.0, 0.0, -70.0,
                               0.0, 0.0, 3.711, 0.0, int(icd.SensorFlags.RADAR_VALID), 0, 1.0])


def fc23_samples(path: str, n: int) -> list[int]:
    """ns per FC23 exchange (sensor block out, command block back) through RtuClient on `path`."""
    frames = [sensor_frame(i) for i in range(n + 200)]   # encoded up front: time the link only
    with RtuClient(path, timeout_s=1.0) as client:
        def once(i: int) -> None:
            client.read_write(icd.SENSORS.base, frames[i], icd.COMMANDS.base, icd.COMMANDS.length)
        return time_calls(once, n)


@contextmanager
def direct(device_path: str) -> Iterator[str]:
    yield device_path


@contextmanager
def proxy_thread(device_path: str) -> Iterator[str]:
    with LinkProxy(device_path) as proxy:
        yield proxy.host_path
    if proxy.failure():
        raise RuntimeError(proxy.failure())


@contextmanager
def proxy_process(device_path: str) -> Iterator[str]:
    process = subprocess.Popen([sys.executable, "-m", "hil.link.proxy", "--device", device_path],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        first = process.stdout.readline().split()
        if first[:1] != ["PTY"]:
            raise RuntimeError(f"proxy did not name its pty: {first} {process.stderr.read()}")
        yield first[1]
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=10)
    if process.returncode != 0:
        raise RuntimeError(f"proxy exited with {process.returncode}")


CASES: dict[str, Callable] = {"direct": direct, "proxy thread": proxy_thread, "proxy process": proxy_process}


def measure(n: int, rounds: int) -> dict:
    samples: dict[str, list[int]] = {name: [] for name in CASES}
    for r in range(rounds):
        share = n // rounds + (1 if r < n % rounds else 0)
        for name, case in CASES.items():
            device = LoopbackDevice()
            path = device.start()
            try:
                with case(path) as host_path:
                    samples[name] += fc23_samples(host_path, share)
            finally:
                device.stop()
    stats = {name: summarize(s) for name, s in samples.items()}
    base = stats["direct"]
    for name in ("proxy thread", "proxy process"):
        stats[name]["added_round_trip"] = {k: round(stats[name][k] - base[k], 1) for k in base}
    return {"exchanges": n, "rounds": rounds, "cpus": os.cpu_count(), "us": stats}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=2000, help="FC23 exchanges per case (default 2000)")
    parser.add_argument("--rounds", type=int, default=4, help="interleaved rounds (default 4)")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    result = measure(args.n, max(1, min(args.rounds, args.n)))
    print(f"FC23 round trip, loopback device, {args.n} exchanges per case "
          f"({args.rounds} interleaved rounds, {result['cpus']} CPUs), microseconds:")
    print(f"  {'case':<14} {'mean':>8} {'p50':>8} {'p99':>8}   added (mean / p50 / p99)   per direction (p50)")
    for name, s in result["us"].items():
        added = s.get("added_round_trip")
        extra = "" if added is None else (f"   {added['mean_us']:+7.1f} / {added['p50_us']:+7.1f} / "
                                          f"{added['p99_us']:+7.1f}   {added['p50_us'] / 2:+7.1f}")
        print(f"  {name:<14} {s['mean_us']:8.1f} {s['p50_us']:8.1f} {s['p99_us']:8.1f}{extra}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
