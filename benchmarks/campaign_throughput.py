"""Campaign throughput: landings per minute per rig with 1 and 2 local workers (parallel
efficiency), and Dask's overhead per case against the local pool.

    .venv/bin/python benchmarks/campaign_throughput.py --runs 40
    .venv/bin/python benchmarks/campaign_throughput.py --rig mil --workers 2 --runs 40 --dask

Each figure is one `fly_campaign` of `--runs` dispersed cases of the scenario, timed by the
campaign itself (pool start included, as a user meets it). Dask: a dask.distributed
LocalCluster with the same number of single-thread worker processes on this machine, so the
difference is the scheduler's per-case cost, not the hardware's.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from hil.campaign import fly_campaign


def one(scenario: str, rig: str, runs: int, *, workers: int | None = None, scheduler: str | None = None) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        result = fly_campaign(scenario, runs=runs, rig=rig, workers=workers, scheduler=scheduler,
                              out=Path(tmp) / "c", target=0.5, quiet=True)
    s = result.summary
    return {"rig": rig, "workers": s["workers"], "engine": s["engine"], "cases": s["flown"], "wall_s": s["wall_s"],
            "per_minute": s["flown"] / s["wall_s"] * 60.0, "passes": s["passes"], "verdict": s["verdict"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="nominal")
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--rig", action="append", help="rigs to time (default: mil, loopback, rigs/sil.toml)")
    parser.add_argument("--workers", type=int, action="append", help="worker counts (default: 1 and 2)")
    parser.add_argument("--dask", action="store_true", help="also the same campaign on a local Dask cluster")
    parser.add_argument("--json", help="write the rows to this file")
    args = parser.parse_args()
    rigs = args.rig or ["mil", "loopback", "rigs/sil.toml"]
    counts = args.workers or [1, 2]
    rows = []
    for rig in rigs:
        base = None
        for k in counts:
            row = one(args.scenario, rig, args.runs, workers=k)
            base = base or row["per_minute"] / k
            row["efficiency"] = row["per_minute"] / (base * k)
            rows.append(row)
            print(f"{rig:>14}  local x{k}: {row['per_minute']:6.1f} landings/min ({row['cases']} in "
                  f"{row['wall_s']:.1f} s), parallel efficiency {row['efficiency']:.0%}", flush=True)
        if args.dask:
            from distributed import LocalCluster
            k = counts[-1]
            with LocalCluster(n_workers=k, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
                row = one(args.scenario, rig, args.runs, scheduler=cluster.scheduler_address)
            local = next(r for r in rows if r["rig"] == rig and r["workers"] == k and r["engine"] == "local")
            row["overhead_per_case_ms"] = (row["wall_s"] - local["wall_s"]) / row["cases"] * k * 1e3
            rows.append(row)
            print(f"{rig:>14}  dask  x{k}: {row['per_minute']:6.1f} landings/min ({row['cases']} in "
                  f"{row['wall_s']:.1f} s); against the local pool {row['overhead_per_case_ms']:+.0f} ms "
                  f"per case per worker", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
