"""A relay power cycle's figures: the coil writes' round trips, and the time a board takes from
power-off to answering again, against pymodbus's own server standing in for the relay module.

Run: .venv/bin/python benchmarks/relay_latency.py [-n 200] [--off-ms 50] [--json FILE]

The relay stand-in (hil/devices/relay_standin.py) serves Modbus TCP on 127.0.0.1; its coil
powers a SIL process on a stable --link path (the board on its USB device node): off stops it
(the node vanishes), on starts it again. Each of the n cycles is what a `reset = "relay"` rig does
mid-flight (hil/devices/relay_switch.py: write_coil off, wait, write_coil on), then the host
polls the node until the firmware answers the identity request. Reported: the write_coil round
trip (what the run records as off_latency_s / on_latency_s), and from the off write and from
the on write to the first answer. The relay here is a local TCP server: a real module adds its
network and its contacts' few ms, a board its own boot (an Uno's bootloader about 1.5 s).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from hil.devices.process import ProcessDevice
from hil.devices.relay_standin import RelayStandIn
from hil.devices.relay_switch import RelaySwitch
from hil.errors import HilError
from hil.handshake import identify
from hil.link.rtu_client import RtuClient
from hil.rig import load_rig

ROOT = Path(__file__).resolve().parents[1]

ANSWER_TIMEOUT_S = 10.0


def board(link: Path) -> ProcessDevice:
    rig = load_rig(ROOT / "rigs/sil.toml")
    return ProcessDevice(Path(rig.firmware_dir), list(rig.make), [*rig.command, "--link", str(link)],
                         rig.pty_pattern)


def answered(link: Path, since: float) -> float:
    """Seconds from `since` until the board on `link` answers the identity request."""
    deadline = since + ANSWER_TIMEOUT_S
    while time.monotonic() < deadline:
        if link.exists():
            try:
                with RtuClient(str(link), timeout_s=0.05) as client:
                    identify(client)
                return time.monotonic() - since
            except HilError:
                pass                       # opened before the pty was served, or still booting
        time.sleep(0.001)
    raise RuntimeError(f"the board on {link} did not answer within {ANSWER_TIMEOUT_S:g} s")


def stats_ms(seconds: list[float]) -> dict[str, float]:
    ordered = sorted(seconds)
    return {"median_ms": round(statistics.median(ordered) * 1e3, 3),
            "p99_ms": round(ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] * 1e3, 3),
            "max_ms": round(ordered[-1] * 1e3, 3)}


def measure(n: int, off_s: float) -> dict:
    with tempfile.TemporaryDirectory(prefix="relay-bench-") as tmp:
        link = Path(tmp) / "ttyACM-board"
        sil = board(link)
        sil.start()
        relay = RelayStandIn(lambda coil, on: sil.start() if on else sil.stop())
        url = relay.start()
        switch = RelaySwitch(url, coil=0)
        offs, ons, from_off, from_on = [], [], [], []
        try:
            answered(link, time.monotonic())
            for _ in range(n):
                off_at = time.monotonic()
                offs.append(switch.switch(False))
                time.sleep(off_s)
                on_at = time.monotonic()
                ons.append(switch.switch(True))
                relay.idle()               # the stand-in's contacts have switched (the SIL started)
                from_off.append(answered(link, off_at))
                from_on.append(time.monotonic() - on_at)
        finally:
            switch.close()
            sil.stop()                     # before the stand-in: its worker thread started the SIL
            relay.stop()
        if relay.errors:
            raise RuntimeError(f"the stand-in's contacts failed: {relay.errors[0]}")
    return {"cycles": n, "off_s": off_s, "write_coil": stats_ms(offs + ons), "write_coil_off": stats_ms(offs),
            "write_coil_on": stats_ms(ons),
            "power_off_to_answer": stats_ms(from_off), "power_on_to_answer": stats_ms(from_on)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=200, help="power cycles (two coil writes each)")
    parser.add_argument("--off-ms", type=float, default=50.0, help="how long the power stays off")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    board(Path(os.devnull)).build()        # make: the SIL is up to date before anything is timed
    result = measure(args.n, args.off_ms / 1e3)
    print(f"{args.n} power cycles, {2 * args.n} coil writes, power off {args.off_ms:g} ms each")
    for label, key in (("write_coil round trip", "write_coil"), ("  off writes", "write_coil_off"),
                       ("  on writes", "write_coil_on"), ("power-off to answering", "power_off_to_answer"),
                       ("power-on to answering", "power_on_to_answer")):
        f = result[key]
        print(f"{label:23} median {f['median_ms']:8.3f} ms  p99 {f['p99_ms']:8.3f} ms  max {f['max_ms']:8.3f} ms")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
