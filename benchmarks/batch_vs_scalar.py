"""The batch engine against the scalar engine on the in-process MIL rig (docs/batch.md).

    .venv/bin/python benchmarks/batch_vs_scalar.py same nominal 20       # the same cases, case by case
    .venv/bin/python benchmarks/batch_vs_scalar.py distribution terminal-descent 2000

same: one campaign's cases flown on both engines (noise on): every verdict and read-back value
must agree; prints how many touchdown velocities are bit-equal and the largest difference of
each metric. distribution: the batch engine on one campaign seed and the scalar engine on
another (independent landings), compared by a two-sample Kolmogorov-Smirnov test over the
touchdown velocity and latency (tests/test_batch.py's test at CI's size, KS_ALPHA there).
"""

from __future__ import annotations

import argparse
import math
import tempfile
from pathlib import Path

from scipy import stats

from hil.campaign import fly_campaign


def campaign(scenario: str, runs: int, seed: int, engine: str, out: Path, workers: int):
    result = fly_campaign(scenario, runs=runs, rig="mil", workers=workers, seed=seed, out=out, target=0.5,
                          quiet=True, engine=engine)
    print(f"  {engine} engine: {runs} cases in {result.summary['wall_s']:.1f} s", flush=True)
    return result.cases


def same(scenario: str, runs: int, workers: int, tmp: Path) -> None:
    batch = campaign(scenario, runs, 5, "batch", tmp / "batch", workers)
    scalar = campaign(scenario, runs, 5, "case", tmp / "case", workers)
    worst: dict[str, float] = {}
    equal_vz = 0
    for b, s in zip(batch, scalar):
        assert (b["verdict"], b["readback"]) == (s["verdict"], s["readback"]), b["case"]
        equal_vz += b["metrics"]["rover_vz_at_contact_mps"] == s["metrics"]["rover_vz_at_contact_mps"]
        for name, x in s["metrics"].items():
            y = b["metrics"][name]
            if isinstance(x, float) and not (math.isnan(x) and math.isnan(y)):
                worst[name] = max(worst.get(name, 0.0), abs(x - y))
            else:
                assert x == y, (b["case"], name)
    print(f"{scenario}: {runs} cases, every verdict and read-back the same; rover vz at contact bit-equal in "
          f"{equal_vz} of {runs}; largest difference per metric:")
    for name, value in worst.items():
        print(f"  {name}: {value:.2e}")


def distribution(scenario: str, runs: int, workers: int, tmp: Path) -> None:
    batch = campaign(scenario, runs, 1, "batch", tmp / "batch", workers)
    scalar = campaign(scenario, runs, 2, "case", tmp / "case", workers)
    for name in ("rover_vz_at_contact_mps", "td_latency_s"):
        result = stats.ks_2samp([r["metrics"][name] for r in batch], [r["metrics"][name] for r in scalar])
        print(f"{scenario} {name}: KS statistic {result.statistic:.4f}, p = {result.pvalue:.3f} ({runs} cases a side)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=("same", "distribution"))
    parser.add_argument("scenario")
    parser.add_argument("runs", type=int)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        (same if args.mode == "same" else distribution)(args.scenario, args.runs, args.workers, Path(tmp))


if __name__ == "__main__":
    main()
