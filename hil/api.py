"""The library API in one import: describe a run, open a session, fly, read the result.

    from hil.api import Run, Session, land

    result = land("nominal", rig="mil", seed=3)             # one landing, start to finish
    assert result.verdict == "PASS", result.describe()
    vz = result.record["truth_rover_vz"]                    # every cycle, as numpy arrays

    with Session("rigs/sil.toml") as session:               # the device starts once
        for seed in range(5):
            r = session.fly(Run.create("curiosity", seed=seed, outputs=NO_FILES))

docs/api.md has the whole tour.
"""

from __future__ import annotations

from pathlib import Path

from hil.flight import Progress
from hil.metrics import METRICS, Metric
from hil.record import COLUMNS, Record
from hil.rig import MIL_RIG, Rig, load_rig, resolve_rig
from hil.run import ERROR, FAIL, NO_FILES, NOTHING, PASS, Outputs, Run, RunResult
from hil.session import Session
from hil.verdict import Criterion, load_criteria

__all__ = ["COLUMNS", "Criterion", "ERROR", "FAIL", "METRICS", "MIL_RIG", "Metric", "NOTHING", "NO_FILES",
           "Outputs", "PASS", "Progress", "Record", "Rig", "Run", "RunResult", "Session", "land",
           "load_criteria", "load_rig", "resolve_rig"]


def land(scenario="nominal", *, rig: str | Path | Rig = "loopback", seed: int | None = None,
         criteria=None, controller: dict | None = None, timing: str | None = None,
         outputs: Outputs | None = None, out: str | Path | None = None, replace_folder: bool = False,
         progress: Progress | None = None, faults: list | str | Path = ()) -> RunResult:
    """Start the rig's device, fly one landing, stop the device. Arguments as Run.create()."""
    run = Run.create(scenario, seed=seed, criteria=criteria, controller=controller, timing=timing,
                     outputs=outputs, out=out, replace_folder=replace_folder, faults=faults)
    with Session(rig) as session:
        return session.fly(run, progress=progress)
