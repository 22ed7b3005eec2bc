"""The batch engine's speed and memory: a dispersed campaign on it, and the same first cases on
the scalar in-process MIL engine for the speed-up (issue 15's figures, docs/batch.md).

    .venv/bin/python benchmarks/batch_engine.py                       # 10,000 nominal; 1,000 scalar
    .venv/bin/python benchmarks/batch_engine.py --runs 2000 --scalar-runs 0

Each figure is one `fly_campaign` (pool start included, as a user meets it). Peak memory is the
largest sum of resident set sizes over this process and its worker processes, sampled every
0.1 s (psutil). A case-substep is one case advanced by one physics substep: the cases' substeps
are their flown time (descent stage on the ground) times the plant's substep rate. The scalar
campaign flies the first --scalar-runs cases of the same case table (seeds come from the campaign
seed and the case index), which the batch engine then flies again on its own, so the two are
compared on the same landings: verdicts must agree and metrics within METRIC_TOLERANCE.
"""

from __future__ import annotations

import argparse
import math
import tempfile
import threading
import time
from pathlib import Path

import psutil

from hil.batch.flight import METRIC_TOLERANCE, close_metrics
from hil.campaign import fly_campaign
from plant.params import PlantParams


class PeakMemory:
    """The largest summed RSS of this process tree, sampled in a thread while in the `with`."""

    def __init__(self, every_s: float = 0.1) -> None:
        self.every_s, self.peak = every_s, 0
        self._stop = threading.Event()

    def _sample(self) -> None:
        me = psutil.Process()
        while not self._stop.wait(self.every_s):
            total = 0
            for p in [me, *me.children(recursive=True)]:
                try:
                    total += p.memory_info().rss
                except psutil.Error:        # a worker that just exited
                    pass
            self.peak = max(self.peak, total)

    def __enter__(self) -> PeakMemory:
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def campaign(scenario: str, runs: int, workers: int, engine: str, out: Path, chunk: int | None = None):
    with PeakMemory() as memory:
        started = time.perf_counter()
        result = fly_campaign(scenario, runs=runs, rig="mil", workers=workers, seed=0, out=out, quiet=True,
                              engine=engine, chunk=chunk)
        wall = time.perf_counter() - started
    return result, wall, memory.peak


def substeps(result) -> float:
    hz = PlantParams().substep_hz
    return sum(math.floor(row["metrics"]["ds_impact_time_s"] * hz + 0.5) for row in result.cases)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="nominal")
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--chunk", type=int, help="cases per task (default: the engine's)")
    parser.add_argument("--scalar-runs", type=int, default=1000, help="0: skip the scalar comparison")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        result, wall, peak = campaign(args.scenario, args.runs, args.workers, "batch", Path(tmp) / "batch", args.chunk)
        s = result.summary
        n = substeps(result)
        print(f"batch engine: {s['flown']} {args.scenario} cases on {args.workers} workers ({s['engine']}): "
              f"{wall:.1f} s wall, peak memory {peak / 2**20:.0f} MiB, {n / s['flown']:.0f} substeps per case, "
              f"{wall / n * 1e6:.3f} us wall and {wall * args.workers / n * 1e6:.3f} us of CPU per case-substep; "
              f"{s['passes']} passed, {s['verdict']}", flush=True)
        if not args.scalar_runs:
            return
        k = args.scalar_runs
        scalar, scalar_wall, _ = campaign(args.scenario, k, args.workers, "case", Path(tmp) / "case")
        same, same_wall, _ = campaign(args.scenario, k, args.workers, "batch", Path(tmp) / "same")
        differ = [a["case"] for a, b in zip(scalar.cases, same.cases)
                  if a["verdict"] != b["verdict"] or not close_metrics(a["metrics"], b["metrics"])]
        print(f"the first {k} cases: scalar engine {scalar_wall:.1f} s, batch engine {same_wall:.1f} s "
              f"(speed-up {scalar_wall / same_wall:.1f}x); at {args.runs} cases the scalar would take "
              f"{scalar_wall / k * args.runs:.0f} s against the batch's {wall:.1f} s "
              f"(speed-up {scalar_wall / k * args.runs / wall:.1f}x); cases whose verdict differs or whose metrics "
              f"differ by more than {METRIC_TOLERANCE:g}: {differ or 'none'}")


if __name__ == "__main__":
    main()
