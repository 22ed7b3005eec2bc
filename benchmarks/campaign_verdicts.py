"""The campaign verdict of the shipped reference controller on each shipped scenario that has a
[dispersions] table: pass count, failures, the lower bound on P(pass) and the wall time.

    .venv/bin/python benchmarks/campaign_verdicts.py --runs 1000 --out runs/verdicts
    .venv/bin/python benchmarks/campaign_verdicts.py --runs 300 --scenario gusty --scenario slope-15
    .venv/bin/python benchmarks/campaign_verdicts.py --runs 1000 --engine batch

Each scenario is one `hil campaign` (kept in OUT/<scenario>, so any case re-flies with the
command its report prints); the rows are printed as a markdown table as they finish.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from hil.campaign import fly_campaign
from hil.errors import HilError
from plant.scenario import list_scenarios, load_scenario


def dispersed_scenarios() -> list[str]:
    return [name for name, _ in list_scenarios() if load_scenario(name).dispersions]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--rig", default="mil")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--target", type=float, default=0.99)
    parser.add_argument("--confidence", type=float, default=0.95)
    parser.add_argument("--scenario", action="append", help="only these (default: every dispersed scenario)")
    parser.add_argument("--engine", default="case", help="case, or batch (the vectorised MIL engine, docs/batch.md)")
    parser.add_argument("--out", default="runs/campaign-verdicts")
    args = parser.parse_args()
    print(f"| scenario | cases | passed | failed | invalid | P(pass) lower bound ({args.confidence:.0%}) | verdict "
          f"(target {args.target:g}) | worst rover vz at contact (m/s) | wall (min) |")
    print("|---|---|---|---|---|---|---|---|---|", flush=True)
    for name in args.scenario or dispersed_scenarios():
        try:
            result = fly_campaign(name, runs=args.runs, rig=args.rig, workers=args.workers, target=args.target,
                                  confidence=args.confidence, out=Path(args.out) / name, quiet=True,
                                  engine=args.engine)
        except HilError as exc:       # e.g. an --out that holds an earlier run: one line, as hil says it
            sys.exit(f"campaign_verdicts: error: {exc}")
        s = result.summary
        worst = s["metrics"].get("rover_vz_at_contact_mps", {}).get("max", float("nan"))
        print(f"| {name} | {s['flown']} | {s['passes']} | {s['failures']} | {s['invalid']} | "
              f"{math.floor(s['lower_bound'] * 1e4) / 1e4:.4f} | {s['verdict']} | {worst:.3f} | {s['wall_s'] / 60:.1f} |", flush=True)


if __name__ == "__main__":
    main()
