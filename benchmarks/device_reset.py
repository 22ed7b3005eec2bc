"""A device reset's figures on each rig behind the link proxy: how long `reset()` takes, and how
long from the reset call until the device answers the identity request again.

Run: .venv/bin/python benchmarks/device_reset.py [-n 10] [--probe-ms 50] [--json FILE]

Each rig (loopback, rigs/sil.toml, rigs/emu-uno.toml, rigs/emu-stm32.toml) is started as a
session starts it when a run has device faults (hil/session.py Session.start with the proxy:
device_for(rig, proxy=True), its link, boot wait, identify). Then n times: `device.reset()`,
timed, and from that call the host retries identify on a --probe-ms link timeout until it
answers. Lost: identity requests that got no answer (identify retries up to three times). Each
costs the probe timeout plus a quiet-line wait here, and the rig's own timeout (2 s on the
emulators) in a run. A rig whose tools are missing is skipped with a note.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import time
from pathlib import Path

from hil.devices import device_for
from hil.errors import HilError, IcdMismatch
from hil.handshake import identify, wait_for_boot
from hil.link.rtu_client import RtuClient
from hil.rig import resolve_rig

ROOT = Path(__file__).resolve().parents[1]

RIGS = (("loopback", "loopback", ()), ("SIL", "rigs/sil.toml", ("gcc", "make")),
        ("Uno in simavr", "rigs/emu-uno.toml", ("simavr", "avr-gcc")),
        ("STM32 in QEMU", "rigs/emu-stm32.toml", ("qemu-system-arm", "arm-none-eabi-gcc")))
ANSWER_TIMEOUT_S = 10.0
SETTLE_S = 0.1         # between cycles: the next reset does not land on the last one's boot


class CountingClient(RtuClient):
    """Counts requests: identify() retries inside, and each retry is a request the device lost."""
    requests = 0

    def read_holding(self, *args, **kwargs):
        self.requests += 1
        return super().read_holding(*args, **kwargs)


def answered(link: CountingClient, since: float) -> tuple[float, int]:
    """Seconds from `since` until the device identifies itself, and the requests lost meanwhile."""
    link.requests = 0
    while time.perf_counter() - since < ANSWER_TIMEOUT_S:
        try:
            identify(link)
            return time.perf_counter() - since, link.requests - 1
        except IcdMismatch:
            raise                          # it answered, as another firmware: no point retrying
        except HilError:
            pass                           # still booting, or the proxy reconnecting
    raise RuntimeError(f"no answer within {ANSWER_TIMEOUT_S:g} s of the reset")


def measure(spec: str, n: int, probe_s: float) -> dict:
    rig = resolve_rig(spec if spec == "loopback" else ROOT / spec)
    device = device_for(rig, proxy=True)   # what a run with device faults flies behind
    link = None
    try:
        endpoint = device.start()          # builds with make when needed: not timed
        link = CountingClient(endpoint, baudrate=rig.baudrate, timeout_s=rig.timeout_s, unit=rig.unit)
        link.open()
        wait_for_boot(rig.boot_wait_s)
        identify(link)
        link.timeout_s = probe_s           # the port's read slice stays; only the deadline shortens
        calls, answers, lost = [], [], 0
        for _ in range(n):
            time.sleep(SETTLE_S)
            started = time.perf_counter()
            device.reset()
            calls.append(time.perf_counter() - started)
            took, missed = answered(link, started)
            answers.append(took)
            lost += missed
    finally:
        if link is not None:
            link.close()
        device.stop()
    return {"rig": spec, "method": device.reset_method(), "resets": n, "requests_lost": lost,
            "reset_call": stats_ms(calls), "reset_to_answer": stats_ms(answers)}


def stats_ms(seconds: list[float]) -> dict[str, float]:
    return {"median_ms": round(statistics.median(seconds) * 1e3, 3), "max_ms": round(max(seconds) * 1e3, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=10, help="resets per rig")
    parser.add_argument("--probe-ms", type=float, default=50.0, help="link timeout while waiting for the answer")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    results = {}
    print(f"{args.n} resets per rig, behind the link proxy; identify retried on a "
          f"{args.probe_ms:g} ms link timeout")
    print(f"{'rig':15} {'reset() median':>15} {'max':>9} {'until answers median':>21} {'max':>9}  lost")
    for label, spec, tools in RIGS:
        missing = [tool for tool in tools if shutil.which(tool) is None]
        if missing:
            print(f"{label:15} skipped: {', '.join(missing)} not found")
            continue
        r = results[label] = measure(spec, args.n, args.probe_ms / 1e3)
        call, answer = r["reset_call"], r["reset_to_answer"]
        print(f"{label:15} {call['median_ms']:12.2f} ms {call['max_ms']:6.2f} ms "
              f"{answer['median_ms']:18.2f} ms {answer['max_ms']:6.2f} ms  {r['requests_lost']:4}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
