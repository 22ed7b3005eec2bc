"""`hil bench`: wall time of nominal loopback landings and the link's overhead per cycle."""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from hil.linkbench import measure_link_overhead
from hil.run import NOTHING, Outputs, Run
from hil.session import Session
from plant.model import Plant
from plant.scenario import load_scenario

LANDING_TARGET_S = 5.0
MIL_RATIO_TARGET = 150.0   # in-process MIL, outputs off: simulated over wall time


def plant_substep_us(seconds: float = 20.0) -> float:
    """Plant cost per substep (dynamics + sensors) over the first `seconds` of nominal powered descent."""
    scenario = load_scenario("nominal")
    plant = Plant(scenario.params, scenario.initial, np.random.default_rng(1))
    plant.apply(0.4, 0.0, 0.0, False, False)
    steps = round(seconds * scenario.params.substep_hz)
    started = time.perf_counter()
    plant.advance(seconds)
    return (time.perf_counter() - started) / steps * 1e6


def mil_landing_ratio(runs: int = 5) -> dict:
    """The nominal landing on the in-process MIL rig with no outputs at all, on one session."""
    walls, sim = [], 0.0
    with Session("mil") as session:
        for _ in range(runs):
            result = session.fly(Run(load_scenario("nominal"), outputs=NOTHING))
            walls.append(result.summary["wall_time_s"])
            sim = result.summary["sim_time_s"]
    median = statistics.median(walls)
    return {"runs": runs, "sim_s": sim, "wall_s": {"min": min(walls), "median": median, "max": max(walls)},
            "ratio_median": sim / median, "target_ratio": MIL_RATIO_TARGET}


def run_bench(runs: int = 3, json_path: str | None = None) -> dict:
    scenario = load_scenario("nominal")
    walls, sims, verdicts = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(runs):
            with Session("loopback") as session:
                result = session.fly(Run(scenario, outputs=Outputs(Path(tmp) / f"run{i}", report=False)))
            walls.append(result.summary["wall_time_s"])
            sims.append(result.summary["sim_time_s"])
            verdicts.append(result.summary["verdict"])
            round_trip = result.summary["link_round_trip_us"]
    mil = mil_landing_ratio(max(runs, 3))
    link = measure_link_overhead()
    figures = {
        "landing_wall_s": {"min": min(walls), "median": statistics.median(walls), "max": max(walls)},
        "landing_sim_s": sims[0],
        "sim_to_wall_ratio": sims[0] / statistics.median(walls),
        "landing_verdicts": verdicts,
        "landing_link_round_trip_us": round_trip,
        "link": link,
        "mil_in_process": mil,
        "plant_substep_us": plant_substep_us(),
        "target_landing_wall_s": LANDING_TARGET_S,
    }
    median = figures["landing_wall_s"]["median"]
    print(f"nominal loopback landing: {sims[0]:.1f} s simulated, wall median {median:.2f} s "
          f"(min {min(walls):.2f}, max {max(walls):.2f}) over {runs} runs = "
          f"{figures['sim_to_wall_ratio']:.1f}x real time; target <= {LANDING_TARGET_S:.0f} s: "
          f"{'met' if median <= LANDING_TARGET_S else 'MISSED'}")
    print(f"  FC23 round trip inside the landing: mean {round_trip['mean']:.0f} us, "
          f"p99 {round_trip['p99']:.0f} us")
    print(f"link alone, {link['transactions']} FC23 transactions on a pty: client+server mean "
          f"{link['rtu']['mean_us']:.0f} us (p99 {link['rtu']['p99_us']:.0f}); raw pty echo of the same "
          f"bytes {link['raw']['mean_us']:.0f} us (p99 {link['raw']['p99_us']:.0f}); "
          f"overhead {link['overhead_mean_us']:.0f} us per cycle")
    print(f"in-process MIL landing, outputs off: wall median {mil['wall_s']['median']:.3f} s (best "
          f"{mil['wall_s']['min']:.3f}) over {mil['runs']} runs = {mil['ratio_median']:.0f}x real time; target >= "
          f"{MIL_RATIO_TARGET:.0f}x: {'met' if mil['ratio_median'] >= MIL_RATIO_TARGET else 'MISSED'}")
    print(f"plant: {figures['plant_substep_us']:.1f} us per substep (dynamics, RK4 and sensor models)")
    if json_path:
        Path(json_path).write_text(json.dumps(figures, indent=2) + "\n")
    return figures
