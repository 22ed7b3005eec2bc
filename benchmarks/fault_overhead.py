"""What a fault schedule costs per landing: nominal on the in-process rig, outputs off, with no
schedule, with one fault that never fires, and with faults active for most of the flight.

    .venv/bin/python benchmarks/fault_overhead.py [--repeats 7] [--rig mil|loopback|RIG.toml]

Prints the median wall time per control cycle of each and the extra over no schedule (the
fault-injection issue's target: under 5 %); per cycle, because a fault can make a flight longer. The in-process rig is the worst case: on a rig with a wire the link's time
makes the same extra a smaller share.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hil.api import Run, Session  # noqa: E402
from hil.run import NOTHING  # noqa: E402

SCHEDULES = {
    "no schedule": [],
    "one fault, never fires": [{"kind": "cut.pyro_fails", "event": "propellant_out"}],
    "three faults, active most of the flight": [
        {"kind": "radar.bias", "altitude_m": 0.5, "at_s": 1.0},
        {"kind": "imu.scale", "factor": 1.01, "at_s": 1.0},
        {"kind": "engines.thrust_scale", "scale": 0.98, "at_s": 1.0}],
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="landings per schedule (default 7)")
    parser.add_argument("--rig", default="mil", help="rig to fly (default mil, the worst case)")
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    times: dict[str, list[float]] = {name: [] for name in SCHEDULES}
    with Session(args.rig) as session:
        for _ in range(args.repeats):          # interleaved, so a slow minute of the VM hits all alike
            for name, faults in SCHEDULES.items():
                run = Run.create("nominal", outputs=NOTHING, faults=faults)
                started = time.perf_counter()
                result = session.fly(run)
                times[name].append((time.perf_counter() - started) / result.summary["cycles"])
                assert result.verdict == "PASS", (name, result.describe())
    base = statistics.median(times["no schedule"])
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:<42} median {median * 1e6:.1f} us per cycle over {len(values)} landings   "
              f"extra {100 * (median / base - 1):+.1f} %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
