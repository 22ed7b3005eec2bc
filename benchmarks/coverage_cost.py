"""What the coverage build costs per landing, against the plain SIL builds.

Run: .venv/bin/python benchmarks/coverage_cost.py [-n 5] [--scenario nominal] [--json FILE]

Three rigs fly the same lockstep landing n times each in one session, with no output files
(`NO_FILES`), as `hil test` flies them: rigs/sil.toml (the ASan/UBSan build the tests fly),
the same with make host-release (plain -O2, no sanitizers) and rigs/sil-coverage.toml (gcc
--coverage -O0, counts to a folder of its own). Printed per rig: the median landing wall time,
the device's own control step time (median of the p50s the command blocks report, in us) and
the link round trip (median p50, us); then the coverage rig's extra costs once per invocation:
stopping the device (where the counts are written at exit) and gcov's report of them
(hil/coverage/gcov.py collect, with the HTML and JSON written). The build itself is done before
timing (make is a no-op when up to date).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from hil import coverage
from hil.rig import load_rig
from hil.run import NO_FILES, Run
from hil.session import Session

ROOT = Path(__file__).resolve().parents[1]


def rigs():
    sil = load_rig(ROOT / "rigs/sil.toml")
    release = replace(sil, name="sil-release", make=("host-release",),
                      command=("{firmware}/build/host-release/skycrane-sil",))
    return [("SIL, ASan/UBSan (rigs/sil.toml)", sil), ("SIL, plain -O2 (make host-release)", release),
            ("SIL, gcov coverage (rigs/sil-coverage.toml)", load_rig(ROOT / "rigs/sil-coverage.toml"))]


def fly(label: str, rig, scenario: str, n: int, work: Path) -> dict:
    recorder = coverage.recorder_for(rig, work / rig.name)
    if recorder is not None:
        recorder.begin()
    run = Run.create(scenario, rig=rig, outputs=NO_FILES)
    walls, steps, trips = [], [], []
    session = Session(rig, coverage=recorder)
    session.start()
    try:
        for _ in range(n):
            started = time.perf_counter()
            result = session.fly(run)
            walls.append(time.perf_counter() - started)
            if result.verdict != "PASS":
                raise SystemExit(f"{label}: {result.verdict}: {result.describe()}")
            steps.append(result.summary["device_step_time_us"]["p50"])
            trips.append(result.summary["link_round_trip_us"]["p50"])
    finally:
        stopped = time.perf_counter()
        session.close()
        stop_s = time.perf_counter() - stopped
    row = {"rig": label, "landings": n, "landing_wall_s": statistics.median(walls),
           "landing_wall_min_s": min(walls), "device_step_p50_us": statistics.median(steps),
           "link_round_trip_p50_us": statistics.median(trips), "device_stop_s": stop_s}
    if recorder is not None:
        started = time.perf_counter()
        summary = coverage.write(recorder, work / rig.name)
        row["report_s"] = time.perf_counter() - started
        row["core_lines_percent"] = summary["totals"]["lines"]["percent"]
        row["core_branches_percent"] = summary["totals"]["branches"]["percent"]
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=5, help="landings per rig (5)")
    parser.add_argument("--scenario", default="nominal", help="scenario flown (nominal)")
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args()
    missing = [tool for tool in ("make", "gcc", "gcov") if shutil.which(tool) is None]
    if missing:
        raise SystemExit(f"needs {', '.join(missing)}")
    with tempfile.TemporaryDirectory(prefix="coverage-cost-") as work:
        rows = [fly(label, rig, args.scenario, args.n, Path(work)) for label, rig in rigs()]
    base = rows[0]["landing_wall_s"]
    print(f"{args.scenario}, lockstep, {args.n} landings per rig in one session (median)")
    print(f"  {'rig':<46} {'landing s':>10} {'vs ASan':>8} {'step us':>8} {'round trip us':>14} {'stop s':>7}")
    for row in rows:
        print(f"  {row['rig']:<46} {row['landing_wall_s']:10.3f} {row['landing_wall_s'] / base:7.2f}x "
              f"{row['device_step_p50_us']:8.1f} {row['link_round_trip_p50_us']:14.1f} {row['device_stop_s']:7.3f}")
    cov = rows[-1]
    print(f"  coverage report (gcov, coverage.json, coverage.html) once per invocation: {cov['report_s']:.3f} s; "
          f"core lines {cov['core_lines_percent']:.1f} %, branches {cov['core_branches_percent']:.1f} %")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
