"""Monte Carlo campaigns: a scenario's dispersions (and grid sweeps) flown as many cases, in
parallel on this machine or on a Dask cluster, judged with a confidence bound on P(pass).

    from hil.campaign import fly_campaign

    result = fly_campaign("nominal", runs=300, rig="mil", workers=2, out="runs/mc-nominal")
    print(result.verdict, result.lower_bound)      # PASS 0.990...

`hil campaign` is the same from the command line; docs/campaigns.md has the whole tour.
Generate, then execute: the case table is written to the campaign's SQLite file before anything
flies (`dry_run` stops there), every result goes to it as it comes back, and `resume_campaign`
(`hil campaign --resume DIR`) flies only the cases without one. `engine="batch"` flies chunks of
cases at once on the vectorised MIL plant (hil/batch, docs/batch.md) instead of one per task.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from hil.campaign import stats
from hil.campaign.engine import DaskCluster, LocalPool, default_chunk, start_once
from hil.campaign.execute import Progress, execute
from hil.campaign.outcome import replay_command, summarise, write_outputs
from hil.campaign.plan import Campaign, Case, Sweep, cases, describe, parse_sweep, with_dispersions
from hil.campaign.store import DB_FILE, Store
from hil.campaign.worker import Job
from hil.errors import ConfigError
from hil.rig import Rig, resolve_rig
from hil.run import Outputs, read_toml, safe_name
from hil.verdict import Criterion, load_criteria
from plant.scenario import load_scenario

__all__ = ["Campaign", "CampaignResult", "Sweep", "fly_campaign", "resume_campaign", "replay_run"]

RUNS_ROOT = Path("runs")
CASES_DIR = "cases"
ENGINES = ("case", "batch")     # one landing per task on the scalar path; chunks on the batch engine


@dataclass
class CampaignResult:
    """What a campaign gave: the verdict, the bound, the campaign dict (campaign.json) and every
    case row (cases.csv)."""

    folder: Path
    summary: dict
    cases: list[dict] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        return self.summary["verdict"]

    @property
    def lower_bound(self) -> float:
        return self.summary["lower_bound"]

    @property
    def why(self) -> str:
        return self.summary["why"]


def fly_campaign(scenario: str = "nominal", *, runs: int | None = None, rig: str | Path = "mil",
                 workers: int | None = None, scheduler: str | None = None, resource: str | None = None,
                 seed: int = 0, out: str | Path | None = None, target: float = 0.99, confidence: float = 0.95,
                 sweeps=(), dispersions: str | Path | None = None, controller: dict | None = None,
                 criteria: str | Path | None = None, sprt: bool = False, retries: int = 2,
                 keep_runs: bool = False, dry_run: bool = False, quiet: bool = False,
                 engine: str = "case", chunk: int | None = None, on_plan=None) -> CampaignResult:
    """Plan a campaign, write its case table, and (unless dry_run) fly it. `runs` None: the
    number a zero-failure campaign needs to reach the target. `sweeps`: "kp_vz=2:6:5" texts or
    Sweeps. `rig` must name the same rig on every Dask worker. `engine`: "case" (one landing per
    task) or "batch" (up to `chunk` cases per task on the vectorised MIL plant; chunk None: see
    engine.default_chunk). Bad input raises ConfigError before anything is written."""
    extra = _dispersions_file(dispersions)
    plan = plan_campaign(scenario, runs=runs, seed=seed, target=target, confidence=confidence, sweeps=sweeps,
                         dispersions_table=extra, dispersions_label=str(dispersions), controller=controller,
                         criteria=criteria, sprt=sprt)
    rig_obj = resolve_rig(str(rig))
    resource = rig_obj.resource if resource is None else resource
    _check_pool(rig_obj, workers, scheduler)
    table = cases(plan)
    _check_engine(engine, chunk, plan, table, rig_obj)
    executor = _engine(workers, scheduler, resource, rig_obj, str(rig), engine, chunk, len(table))
    try:
        folder = _new_folder(out, plan)
        store = Store(folder)
        store.write_plan(_meta(plan, scenario, extra, str(rig), resource, retries, keep_runs, engine, chunk), table)
        if on_plan:
            on_plan(plan, executor, folder)
        if dry_run:
            executor.close()
            result = CampaignResult(folder, {"verdict": None, "cases": len(table), "why": "dry run: case table only",
                                             "lower_bound": float("nan")})
            _write_table_only(folder, store)
            store.close()
            return result
        return _fly(store, folder, plan, table, executor, rig_obj, str(rig), retries, keep_runs, quiet)
    except BaseException:
        executor.close(cancel=True)
        raise


def resume_campaign(folder: str | Path, *, workers: int | None = None, scheduler: str | None = None,
                    engine: str | None = None, chunk: int | None = None, quiet: bool = False,
                    on_plan=None) -> CampaignResult:
    """Fly the cases of an interrupted campaign that have no result (never one that has), on the
    engine it was planned with (`engine`, if given, must be that one; `chunk` None: the
    planned one)."""
    folder = Path(folder)
    if not (folder / DB_FILE).is_file():
        raise ConfigError(f"{folder}: no campaign to resume ({DB_FILE} not found)")
    store = Store(folder)
    meta = store.meta()
    plan = stored_plan(meta["campaign"])
    table = cases(plan)
    stored = store.case_rows()
    if [(c.index, c.point, c.draw, c.seed, dict(c.inputs)) for c in table] != stored:
        raise ConfigError(f"{folder}: the scenario or its dispersions changed since the campaign was planned "
                          "(its case table differs); start a new campaign")
    planned = meta.get("engine", "case")        # a campaign from before --engine flew case by case
    if engine is not None and engine != planned:
        raise ConfigError(f"{folder}: planned for --engine {planned}; a campaign is resumed on the engine it "
                          f"was planned with (leave out --engine {engine})")
    chunk = meta.get("chunk") if chunk is None else chunk
    rig_obj = resolve_rig(meta["rig"])
    _check_pool(rig_obj, workers, scheduler)
    _check_engine(planned, chunk, plan, table, rig_obj)
    executor = _engine(workers, scheduler, meta["resource"], rig_obj, meta["rig"], planned, chunk,
                       len(table) - len(store.done_ids()))
    if on_plan:
        on_plan(plan, executor, folder)
    try:
        return _fly(store, folder, plan, table, executor, rig_obj, meta["rig"], meta["retries"], meta["keep_runs"],
                    quiet)
    except BaseException:
        executor.close(cancel=True)
        raise


def replay_run(folder: str | Path, case: int, out: str | Path | None = None):
    """The Run that flies one case of a campaign alone, with every output, and its rig reference."""
    folder = Path(folder)
    if not (folder / DB_FILE).is_file():
        raise ConfigError(f"--campaign {folder}: no campaign there ({DB_FILE} not found)")
    store = Store(folder)
    try:
        meta = store.meta()
        spec = meta["campaign"]
        rows = {row[0]: row for row in store.case_rows()}
    finally:
        store.close()
    if case not in rows:
        raise ConfigError(f"--case {case}: campaign {folder} has cases 0 to {len(rows) - 1}")
    index, point, draw, seed, inputs = rows[case]
    run = stored_plan(spec).run_for(Case(index, point, draw, seed, tuple(inputs.items())),
                                    Outputs(folder=Path(out) if out else case_folder(folder, case), replace=True))
    return run, meta["rig"]


def case_folder(folder: Path, case: int) -> Path:
    """Where a case's run folder goes in its campaign folder."""
    return Path(folder) / CASES_DIR / f"case-{case:05d}"


# -- planning -----------------------------------------------------------------------------------------

def stored_plan(spec: dict) -> Campaign:
    """The Campaign a campaign database describes (to resume it, or to fly one case again)."""
    return plan_campaign(spec["scenario_ref"], runs=spec["runs"], seed=spec["seed"], target=spec["target"],
                         confidence=spec["confidence"], sweeps=[Sweep(p, tuple(v)) for p, v in spec["sweeps"]],
                         dispersions_table=spec["dispersions_table"], controller=spec["controller"],
                         criteria_rows=spec["criteria"], sprt=spec["sprt"], name=spec["name"])


def plan_campaign(scenario, *, runs=None, seed=0, target=0.99, confidence=0.95, sweeps=(), dispersions=None,
                  dispersions_table=None, dispersions_label="dispersions", controller=None, criteria=None,
                  criteria_rows=None, sprt=False, name="") -> Campaign:
    """A checked Campaign from names, files and texts (ConfigError naming what is wrong).
    `dispersions`: a --dispersions file; `dispersions_table`: its table, already read."""
    loaded = load_scenario(str(scenario))
    if dispersions_table is None:
        dispersions_table, dispersions_label = _dispersions_file(dispersions), str(dispersions)
    if dispersions_table:
        loaded = with_dispersions(loaded, dispersions_table, dispersions_label)
    parsed = tuple(s if isinstance(s, Sweep) else parse_sweep(s, loaded) for s in sweeps)
    paths = [s.path for s in parsed]
    twice = {p for p in paths if paths.count(p) > 1} | (set(paths) & set(loaded.dispersions))
    if twice:
        raise ConfigError(f"{sorted(twice)[0]} is swept twice, or both swept and dispersed")
    if criteria_rows is not None:
        judged = tuple(Criterion(**row) for row in criteria_rows)
    elif criteria is not None:
        judged = tuple(load_criteria(criteria))
    else:
        judged = None
    if runs is None:
        runs = stats.runs_needed(target, confidence) if 0 < target < 1 and 0 < confidence < 1 else 1
    return Campaign(loaded, runs, seed, parsed, target, confidence, controller or {}, judged, sprt,
                    name or loaded.name)


def _dispersions_file(path) -> dict:
    """--dispersions FILE: TOML whose [dispersions] table adds to or replaces the scenario's."""
    if path is None:
        return {}
    doc = read_toml(path)
    unknown = [k for k in doc if k != "dispersions"]
    if unknown or not isinstance(doc.get("dispersions", {}), dict):
        raise ConfigError(f"{path}: a dispersions file holds one [dispersions] table")
    return doc.get("dispersions", {})


def _meta(plan: Campaign, scenario_ref, dispersions_table: dict, rig_ref, resource, retries, keep, engine,
          chunk) -> dict:
    ref = str(scenario_ref)
    if ref.endswith(".toml") or "/" in ref or os.sep in ref:
        ref = str(Path(ref).resolve())            # a file: found again from any folder
    criteria_rows = [dataclasses.asdict(c) for c in plan.criteria] if plan.criteria is not None else None
    spec = {"name": plan.name, "scenario_ref": ref, "scenario_name": plan.scenario.name, "runs": plan.runs,
            "seed": plan.seed, "target": plan.target, "confidence": plan.confidence,
            "sweeps": [[s.path, list(s.values)] for s in plan.sweeps], "controller": dict(plan.controller),
            "criteria": criteria_rows, "sprt": plan.sprt, "dispersions_table": dispersions_table,
            "dispersion_text": {p: describe(d) for p, d in sorted(plan.scenario.dispersions.items())}}
    return {"campaign": spec, "rig": rig_ref, "resource": resource, "retries": retries, "keep_runs": keep,
            "engine": engine, "chunk": chunk}


def _check_count(name: str, value) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ConfigError(f"{name} must be a whole number >= 1, got {value!r}")


def _check_pool(rig: Rig, workers: int | None, scheduler: str | None) -> None:
    _check_count("workers", workers)
    if scheduler and workers is not None:
        raise ConfigError("give --workers or --scheduler, not both (a Dask cluster's workers are its own)")
    if rig.kind == "serial" and not scheduler and (workers or 1) > 1:
        raise ConfigError(f"rig {rig.name}: one bench board flies one landing at a time (--workers 1; "
                          "several boards: one Dask worker each, docs/campaigns.md)")


def _check_engine(engine: str, chunk: int | None, plan: Campaign, table: list[Case], rig: Rig) -> None:
    """A known engine, a chunk only for the batch engine, and every case one it can fly."""
    if engine not in ENGINES:
        raise ConfigError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    _check_count("chunk", chunk)
    if engine != "batch":
        if chunk is not None:
            raise ConfigError("--chunk is the batch engine's (cases per task with --engine batch)")
        return
    from hil.batch import check_batchable
    for case in table:
        check_batchable(plan.run_for(case), rig)


def _engine(workers, scheduler, resource, rig: Rig, rig_ref: str, engine: str, chunk: int | None, to_fly: int):
    """The Dask cluster (the rig started once on each worker that may fly it) or the local pool
    (the rig started once here first), flying one case per task or, on the batch engine, `chunk`
    cases (None: engine.default_chunk of the `to_fly` cases)."""
    if scheduler:
        executor = DaskCluster(scheduler, resource or "")
        try:
            executor.check_rig(rig_ref)
        except BaseException:
            executor.close()
            raise
    else:
        start_once(rig)
        executor = LocalPool(workers or os.cpu_count() or 1)
    if engine == "batch":
        executor.batched(chunk or default_chunk(to_fly, executor.slots))
    return executor


def _new_folder(out, plan: Campaign) -> Path:
    if out is None:
        stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
        out = RUNS_ROOT / f"{stamp}-campaign-{safe_name(plan.name)}"
    folder = Path(out)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise ConfigError(f"--out {folder} is not an empty folder (resume a campaign with --resume {folder})")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"--out {folder}: cannot make it ({exc.strerror or exc})") from None
    return folder


def _fly(store: Store, folder: Path, plan: Campaign, table: list[Case], executor, rig: Rig, rig_ref: str,
         retries: int, keep: bool, quiet: bool) -> CampaignResult:
    """Fly the cases without a result, then judge and write the outputs (also after Ctrl-C or a
    broken rig: whatever finished is summarised; the error still propagates)."""
    paths = tuple(k for k, _ in table[0].inputs) if table else ()
    flown_on = rig if isinstance(executor, LocalPool) else rig_ref     # a Dask worker reads its own rig file
    jobs = {c.index: Job(c.index, plan.run_for(c), flown_on, paths, retries, str(case_folder(folder, c.index)), keep)
            for c in table}
    progress = Progress(len(table), len(store.done_ids()), quiet=quiet)
    started = time.perf_counter()
    decision = None
    finished = False
    try:
        decision = execute(store, jobs, executor, max_attempts=retries + 1, progress=progress,
                           sprt=stats.Sprt(plan.target, plan.confidence) if plan.sprt else None)
        finished = True
    finally:
        progress.close()
        wall = time.perf_counter() - started + store.wall_before()
        store.set_meta("wall_s", wall)
        summary, rows = summarise(store, folder, decision, wall_s=wall, engine=executor.name,
                                  workers=executor.slots, flown_now=progress.flown)
        write_outputs(folder, summary, rows)
        store.close()
        if not finished and not quiet:
            print(f"campaign stopped with {summary['flown']} of {summary['cases']} cases flown; finish it with: "
                  f"hil campaign --resume {folder}", file=sys.stderr, flush=True)
    return CampaignResult(folder, summary, rows)


def _write_table_only(folder: Path, store: Store) -> None:
    """--dry-run: cases.csv holds the plan (inputs and seeds), no results."""
    import csv
    rows = store.case_rows()
    inputs = sorted({k for *_, i in rows for k in i})
    with (folder / "cases.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["case", "point", "draw", "seed", *inputs, "replay"])
        for case, point, draw, seed, values in rows:
            writer.writerow([case, point, draw, seed, *(repr(values.get(k, "")) for k in inputs),
                             replay_command(folder, case)])
