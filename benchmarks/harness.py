"""The harness issue's figures: the in-process MIL landing's speed, what a session saves per
landing by not restarting its device, the acceptance suite's wall time per rig, and its report size.

    .venv/bin/python benchmarks/harness.py                      # all of it (~10 min on 2 cores)
    .venv/bin/python benchmarks/harness.py --only mil,session   # parts: mil, session, suite
    .venv/bin/python benchmarks/harness.py --suite-rigs mil,loopback --json harness.json

Needs an idle machine to mean anything; the SIL and emulated rigs need gcc, avr-gcc and simavr.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hil.bench import mil_landing_ratio  # noqa: E402
from hil.run import NOTHING, Outputs, Run  # noqa: E402
from hil.session import Session  # noqa: E402
from plant.scenario import load_scenario  # noqa: E402

SUITE_RIGS = {"mil": "mil", "loopback": "loopback", "sil": "rigs/sil.toml", "emu-uno": "rigs/emu-uno.toml"}
SESSION_RIGS = {"sil": "rigs/sil.toml", "emu-uno": "rigs/emu-uno.toml", "loopback": "loopback"}


def session_saving(rig: str, landings: int = 3) -> dict:
    """Wall time per landing with a fresh session each (start, fly, stop) and on one session.
    A fresh device's first landing can itself be slower (simavr's is), so the saving is the
    whole difference, not the start alone."""
    run = Run(load_scenario("terminal-descent"), outputs=NOTHING)
    fresh, starts, stops = [], [], []
    for _ in range(landings):
        began = time.perf_counter()
        session = Session(str(ROOT / rig) if rig.endswith(".toml") else rig).start()
        session.fly(run)
        starts.append(session.start_s)
        stopping = time.perf_counter()
        session.close()
        stops.append(time.perf_counter() - stopping)
        fresh.append(time.perf_counter() - began)
    reused = []
    with Session(str(ROOT / rig) if rig.endswith(".toml") else rig) as session:
        session.fly(run)                                  # the first landing pays the start
        for _ in range(landings):
            began = time.perf_counter()
            session.fly(run)
            reused.append(time.perf_counter() - began)
    return {"fresh_s": statistics.median(fresh), "reused_s": statistics.median(reused),
            "saved_per_landing_s": statistics.median(fresh) - statistics.median(reused),
            "device_start_s": statistics.median(starts), "device_stop_s": statistics.median(stops),
            "landings": landings}


def suite_time(rig: str) -> dict:
    """`hil test --rig R --seeds 1` (every shipped scenario once, the must-fail checks), as a user runs it."""
    with tempfile.TemporaryDirectory() as tmp:
        began = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "hil.cli", "test", "--rig", rig, "--seeds", "1", "--out", tmp,
                               "-q"], cwd=ROOT, capture_output=True, text=True)
        wall = time.perf_counter() - began
        report = Path(tmp) / "report.html"
        tail = (done.stdout.strip().splitlines() or [""])[-1]
        return {"wall_s": wall, "exit": done.returncode, "result": tail,
                "report_bytes": report.stat().st_size if report.exists() else None}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="mil,session,suite", help="parts to measure: mil, session, suite")
    parser.add_argument("--suite-rigs", default=",".join(SUITE_RIGS), help="rigs for the suite timing")
    parser.add_argument("--session-rigs", default=",".join(SESSION_RIGS), help="rigs for the session saving")
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args()
    parts = set(args.only.split(","))
    figures: dict = {}
    if "mil" in parts:
        mil = figures["mil"] = mil_landing_ratio(10)
        print(f"in-process MIL nominal landing, outputs off: {mil['sim_s']:.1f} s flown in "
              f"{mil['wall_s']['median']:.3f} s wall median (best {mil['wall_s']['min']:.3f}) = "
              f"{mil['ratio_median']:.0f}x real time (target >= {mil['target_ratio']:.0f}x)")
        with tempfile.TemporaryDirectory() as tmp, Session("mil") as session:
            result = session.fly(Run(load_scenario("nominal"), outputs=Outputs(Path(tmp) / "run")))
            page = figures["run_report_bytes"] = (result.out_dir / "report.html").stat().st_size
        print(f"a run's report.html (nominal, all outputs): {page / 1e3:.0f} kB (budget 500 kB)")
    if "session" in parts:
        figures["session"] = {}
        for name in args.session_rigs.split(","):
            f = figures["session"][name] = session_saving(SESSION_RIGS[name])
            print(f"session on {name}: terminal-descent {f['fresh_s']:.2f} s with a fresh device each landing, "
                  f"{f['reused_s']:.2f} s on one session: {f['saved_per_landing_s']:.2f} s saved per landing "
                  f"(device start {f['device_start_s']:.2f} s, stop {f['device_stop_s']:.2f} s)")
    if "suite" in parts:
        figures["suite"] = {}
        for name in args.suite_rigs.split(","):
            f = figures["suite"][name] = suite_time(SUITE_RIGS[name])
            size = f"{f['report_bytes'] / 1e6:.2f} MB" if f["report_bytes"] else "no report"
            print(f"acceptance suite (one seed per scenario) on {name}: {f['wall_s']:.0f} s wall, exit "
                  f"{f['exit']} ({f['result']}); report {size}")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
