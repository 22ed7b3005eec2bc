"""Replay speed: how many recorded control steps per second `hil replay` feeds a controller.

    .venv/bin/python benchmarks/replay_speed.py                       # mil and SIL, terminal-descent
    .venv/bin/python benchmarks/replay_speed.py --rig mil --rig rigs/emu-uno.toml --repeats 1
    .venv/bin/python benchmarks/replay_speed.py --scenario nominal --json replay-speed.json

One landing is recorded on the in-process MIL rig (a run folder in a temporary directory), then
replayed into each rig with hil.replay, as `hil replay` does: one session per rig (its start,
build check included, is timed apart), then `--repeats` replays on it, each writing the config
block and sending every step in lockstep. The figure is steps replayed / wall time of the replay
(config write included), the median of the repeats; every replay must agree with the recording
(else exit 1). docs/replay.md keeps the figures measured.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hil.api import Outputs, Run, Session
from hil.replay import load_recording, replay


def record(scenario: str, folder: Path) -> Path:
    """Fly `scenario` on the in-process MIL rig into `folder` (telemetry and summary only)."""
    run = Run.create(scenario, outputs=Outputs(folder=folder, plots=False, report=False))
    with Session("mil") as session:
        result = session.fly(run)
    if result.error:
        sys.exit(f"recording {scenario} failed: {result.error}")
    return folder


def measure(recording, rig: str, repeats: int) -> dict:
    started = time.perf_counter()
    with Session(rig) as session:
        start_s = time.perf_counter() - started
        reports = [replay(recording, session) for _ in range(repeats)]
    rates = [r["cycles_per_s"] for r in reports]
    return {"rig": rig, "steps": reports[0]["steps_replayed"], "start_s": start_s,
            "wall_s": statistics.median(r["wall_s"] for r in reports), "cycles_per_s": statistics.median(rates),
            "cycles_per_s_all": rates, "agree": all(r["agree"] for r in reports)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rig", action="append", help="rig to replay into (repeatable; default: mil and rigs/sil.toml)")
    parser.add_argument("--scenario", default="terminal-descent", help="landing recorded (default terminal-descent)")
    parser.add_argument("--repeats", type=int, default=3, help="replays per rig, the median reported (3)")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    rigs = args.rig or ["mil", str(ROOT / "rigs/sil.toml")]
    with tempfile.TemporaryDirectory() as tmp:
        recording = load_recording(record(args.scenario, Path(tmp) / "run"))
        print(f"{args.scenario}: {len(recording.cycles)} steps recorded on mil; {args.repeats} replays per rig")
        print(f"  {'rig':<28} {'start s':>8} {'replay s':>9} {'cycles/s':>9}  agree")
        rows = []
        for rig in rigs:
            row = measure(recording, rig, args.repeats)
            rows.append(row)
            print(f"  {Path(rig).stem if rig.endswith('.toml') else rig:<28} {row['start_s']:8.2f} "
                  f"{row['wall_s']:9.3f} {row['cycles_per_s']:9.0f}  {'yes' if row['agree'] else 'NO'}")
    if args.json:
        Path(args.json).write_text(json.dumps({"scenario": args.scenario, "repeats": args.repeats, "rigs": rows},
                                              indent=2) + "\n")
    return 0 if all(row["agree"] for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
