"""The fault catalogue's outcome on one or more rigs: every shipped fault-* scenario, seed 1, its
documented expectation against the verdict it got (what the fault-injection issue asks to report).

    .venv/bin/python benchmarks/fault_catalogue.py [--rig loopback --rig rigs/sil.toml --rig rigs/emu-uno.toml]

One session per rig (the device starts once; a scenario with link or device faults puts it behind
the link proxy). A scenario the rig cannot apply is listed as refused, with the reason; a real-time
scenario the machine could not hold is INCONCLUSIVE. Exit 1 if any verdict differs from its
expectation (INCONCLUSIVE and refused do not count).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hil.api import Run, Session  # noqa: E402
from hil.errors import ConfigError  # noqa: E402
from hil.rig import resolve_rig  # noqa: E402
from hil.run import NO_FILES  # noqa: E402
from plant.scenario import list_scenarios, load_scenario  # noqa: E402


def fly_catalogue(rig_name: str) -> list[tuple[str, str, str, float]]:
    """(scenario, expected verdict, observed verdict or 'refused: why', wall s) per fault scenario."""
    rows = []
    with Session(resolve_rig(rig_name)) as session:
        for name in (n for n, _ in list_scenarios() if n.startswith("fault-")):
            scenario = load_scenario(name)
            started = time.perf_counter()
            try:
                result = session.fly(Run.create(scenario, outputs=NO_FILES))
                observed = result.verdict
            except ConfigError as exc:
                observed = f"refused: {exc}"
            rows.append((name, scenario.expected_verdict, observed, time.perf_counter() - started))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rig", action="append", help="rig to fly (repeatable; default loopback)")
    args = parser.parse_args()
    wrong = 0
    for rig in args.rig or ["loopback"]:
        print(f"\n{rig}")
        print(f"  {'scenario':<28}{'expected':<10}{'observed':<14}wall")
        for name, expected, observed, wall in fly_catalogue(rig):
            mark = "" if observed in (expected, "INCONCLUSIVE") or observed.startswith("refused") else "   <-- differs"
            wrong += bool(mark)
            print(f"  {name:<28}{expected:<10}{observed:<14}{wall:5.1f} s{mark}")
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
