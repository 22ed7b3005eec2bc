"""A campaign's chunk of cases flown on the batch engine: jobs in, one outcome per job out.

Each case's inputs are made as hil/flight.py makes a scalar landing's (the run's config block,
the rig's physics rate, the run's seed), so a case flies the same landing either way. An outcome
has the shape hil/campaign/worker.py's fly_case gives. A landing that failed its criteria (or any,
with keep) gets its run folder by being flown again on the scalar MIL rig, with every output; if
that landing's metrics are not the batch's (docs/batch.md's tolerance), the folder says so.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from pathlib import Path

from hil import icd
from hil.batch.landing import Landing, fly_batch
from hil.campaign.plan import read_back
from hil.campaign.worker import FULL, Job, _outcome, session_for, worker_name
from hil.errors import ConfigError
from hil.flight import plant_params
from hil.rig import Rig, resolve_rig
from hil.run import ERROR, FAIL, PASS
from hil.verdict import judge

# How far a batch landing's metrics may be from the same case flown on the scalar plant
# (the batch radar and controller use numpy's tan, which differs from math's in the last bit now
# and then; tests/test_batch.py and benchmarks/batch_vs_scalar.py measure it).
METRIC_TOLERANCE = 1e-6


class BatchError(ConfigError):
    """A case the batch engine cannot fly (a fault schedule, a rig other than the in-process MIL, ...)."""


def check_batchable(run, rig: Rig) -> None:
    """Raise BatchError (one line) when this run cannot fly on the batch engine."""
    if rig.kind != "mil":
        raise BatchError(f"--engine batch flies the in-process MIL rig only, not rig {rig.name} ({rig.kind})")
    if run.scenario.faults or run.faults:
        raise BatchError(f"scenario {run.scenario.name}: the batch engine flies no fault schedules "
                         "(use --engine case)")
    if run.rig_for(rig).timing != "lockstep":
        raise BatchError(f"scenario {run.scenario.name}: the batch engine flies lockstep only")


@dataclass
class Chunk:
    """A chunk's runs made into fly_batch's inputs, as hil/flight.py makes a scalar landing's."""

    runs: list
    configs: list[dict]      # each run's config block, as written to the device
    params: list             # each run's PlantParams
    control_rate_hz: float
    max_time_s: float

    @classmethod
    def of(cls, runs: list, rig: Rig) -> Chunk:
        for run in runs:
            check_batchable(run, rig)
        rigs = [run.rig_for(rig) for run in runs]
        return cls(runs, [run.config(r) for run, r in zip(runs, rigs)],
                   [plant_params(r, run.scenario) for run, r in zip(runs, rigs)],
                   _one({r.control_rate_hz for r in rigs}, "control rate"),
                   _one({run.scenario.max_time_s for run in runs}, "max_time_s"))

    def fly(self, on_cycle=None) -> list[Landing]:
        """fly_batch over the chunk (on_cycle: see fly_batch)."""
        try:
            return fly_batch(self.params, [run.scenario.initial for run in self.runs],
                             [run.flown_seed for run in self.runs],
                             [icd.CONFIG.decode_map(icd.encode_config(c)) for c in self.configs],
                             self.control_rate_hz, self.max_time_s, on_cycle)
        except ValueError as exc:      # cases whose timing differs (plant/batch_sensors.py)
            raise BatchError(str(exc)) from None


def fly_chunk(jobs: list[Job]) -> list[dict]:
    """One outcome per job, in job order, each shaped as hil.campaign.worker.fly_case's."""
    started = time.perf_counter()
    rig = jobs[0].rig if isinstance(jobs[0].rig, Rig) else resolve_rig(jobs[0].rig)
    chunk = Chunk.of([job.run for job in jobs], rig)
    landings = chunk.fly()
    wall = (time.perf_counter() - started) / len(jobs)
    worker = worker_name()
    outcomes = []
    for job, landing, config, p in zip(jobs, landings, chunk.configs, chunk.params):
        if landing.error:
            outcomes.append(_outcome(job, ERROR, {}, [], landing.error, {}, 1, worker, wall, None, []))
            continue
        passed, checks = judge(landing.metrics, list(job.run.criteria))
        verdict = PASS if passed else FAIL
        flown = _Flown(p, job.run.scenario.initial, config)
        outcome = _outcome(job, verdict, landing.metrics,
                           [row["metric"] for row in checks if row["applies"] and not row["passed"]], None,
                           {path: read_back(flown, path) for path in job.paths}, 1, worker, wall, None, [])
        if job.folder and (job.keep or verdict == FAIL):
            outcome["folder"] = _run_folder(job, landing.metrics)
        outcomes.append(outcome)
    return outcomes


class _Flown:
    """What read_back reads from a flown landing: the plant's parameters and the config block."""

    def __init__(self, params, initial, config: dict) -> None:
        self.plant_params, self.plant_initial = params, initial
        self.summary = {"controller_config": config}


def _run_folder(job: Job, metrics: dict) -> str:
    """The case flown again on the scalar MIL rig with every output, checked against the batch."""
    folder = Path(job.folder)
    again = session_for(job.rig).fly(replace(job.run, outputs=replace(FULL, folder=folder, replace=True)))
    if not close_metrics(again.metrics, metrics):
        (folder / "REPLAY-DIFFERS.txt").write_text(
            "this case flown on the scalar MIL rig for its run folder gave other metrics than the batch engine:\n"
            f"batch: {metrics}\nscalar: {again.metrics}\n")
    return str(folder)


def close_metrics(a: dict, b: dict, tolerance: float = METRIC_TOLERANCE) -> bool:
    """Same metrics, numbers within `tolerance` (NaN equals NaN; flags and counts exactly)."""
    if a.keys() != b.keys():
        return False
    for key, x in a.items():
        y = b[key]
        if isinstance(x, bool) or isinstance(y, bool) or isinstance(x, int) and isinstance(y, int):
            if x != y:
                return False
        elif not (math.isnan(x) and math.isnan(y) or abs(x - y) <= tolerance):
            return False
    return True


def _one(values: set, what: str):
    if len(values) != 1:
        raise BatchError(f"the cases of a batch differ in {what} ({sorted(values)}); the batch engine needs one")
    return values.pop()

