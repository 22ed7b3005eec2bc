"""Benchmark: wall time per plant substep (dynamics, RK4, sensors, checks) over a whole landing.

    .venv/bin/python benchmarks/plant_substep.py [SCENARIO]

Also prints the landing's events and the loads docs/plant.md quotes (bridle snatch and end of
stroke, peak wheel normal force), read at every substep of the same landing flown again.
"""
import argparse
import math
import time

import numpy as np

from plant import Plant, load_scenario
from plant.events import BRIDLES_FULL
from plant.scenario import Scenario

CONTROL_HZ = 50.0  # the plant rounds each advance() to whole substeps: 500 / 50 = 10
REPEATS = 5        # timing noise only ever adds, so report the best of a few runs
SKY_CRANE_ALTITUDE_M = 20.0
SKY_CRANE_RATE_MPS = 0.75
TARGET_US = 15.0


def guidance(plant: Plant, state: dict) -> tuple[float, float, float, bool, bool]:
    """A crude truth-fed descent law, only to drive the plant through every phase."""
    truth = plant.truth()
    p = plant.params
    full = p.engine.count * p.engine.max_thrust_per_engine_n * p.engine.thrust_bias
    g = p.environment.gravity_mps2
    mass = truth.ds_mass_kg + (0.0 if truth.cut else p.rover.mass_kg)
    if truth.cut:
        # Fly away for 1 s, then shut down so the DS comes down and the run ends.
        flying = plant.t - state["cut_t"] < 1.0
        return (1.0 if flying else 0.0), (0.6 if flying else 0.0), 0.0, False, True
    height = max(truth.ds_height_m - SKY_CRANE_ALTITUDE_M, 0.0)
    vz_ref = -min(80.0, SKY_CRANE_RATE_MPS + math.sqrt(2.0 * 3.0 * height))
    # Null the horizontal velocity by tilting: a = -0.5 v, tilt = atan(a / g).
    tilt_x = math.atan(-0.5 * truth.ds_vx / g)
    tilt_y = math.atan(-0.5 * truth.ds_vy / g)
    vertical = 1.0 / math.sqrt(1.0 + math.tan(tilt_x) ** 2 + math.tan(tilt_y) ** 2)
    throttle = mass * (g + 2.0 * (vz_ref - truth.ds_vz)) / (full * vertical)
    separate = truth.separated or (truth.ds_height_m < SKY_CRANE_ALTITUDE_M + 0.5
                                   and abs(truth.ds_vz + SKY_CRANE_RATE_MPS) < 0.1)
    # Truth-based touchdown: 1 s after the bridles are full and the rover carries weight.
    if plant.event_time(BRIDLES_FULL) is not None and truth.rover_normal_force_n > 0.5 * mass * g:
        state.setdefault("contact_t", plant.t)
    if "contact_t" in state and plant.t - state["contact_t"] >= 1.0:
        state["cut_t"] = plant.t
        return throttle, 0.0, 0.0, True, True
    return throttle, tilt_x, tilt_y, separate, False


def landing(scenario: Scenario) -> tuple[Plant, float, float, int]:
    """Fly the scenario to the end; returns plant, time in advance() + sense(), wall, substeps."""
    plant = Plant(scenario.params, scenario.initial, np.random.default_rng(scenario.seed))
    state: dict = {}
    in_plant, substeps = 0.0, 0
    wall0 = time.perf_counter()
    while not plant.ended and plant.t < scenario.max_time_s:
        t0 = time.perf_counter()
        plant.sense()
        in_plant += time.perf_counter() - t0
        plant.apply(*guidance(plant, state))
        before = plant.t
        t0 = time.perf_counter()
        plant.advance(1.0 / CONTROL_HZ)
        in_plant += time.perf_counter() - t0
        substeps += round((plant.t - before) * scenario.params.substep_hz)
    return plant, in_plant, time.perf_counter() - wall0, substeps


def loads(scenario: Scenario) -> dict:
    """The same landing again, read at every substep (untimed): bridle tension from separation to
    the end of the stroke (the snatch) and in the second after it, and the wheels' normal force."""
    plant = Plant(scenario.params, scenario.initial, np.random.default_rng(scenario.seed))
    state: dict = {}
    per_cycle = round(scenario.params.substep_hz / CONTROL_HZ)
    snatch = (0.0, 0.0)       # (tension, time)
    stroke = wheels = 0.0
    while not plant.ended and plant.t < scenario.max_time_s:
        plant.sense()
        plant.apply(*guidance(plant, state))
        for _ in range(per_cycle):
            plant.advance(1.0 / scenario.params.substep_hz)
            truth = plant.truth()
            separated, full = plant.event_time("rover_separation"), plant.event_time(BRIDLES_FULL)
            if separated is not None and full is None and truth.bridle_tension_n > snatch[0]:
                snatch = (truth.bridle_tension_n, plant.t - separated)
            if full is not None and plant.t - full <= 1.0:
                stroke = max(stroke, truth.bridle_tension_n)
            wheels = max(wheels, truth.rover_normal_force_n)
            if plant.ended:
                break
    rover_weight = scenario.params.rover.mass_kg * scenario.params.environment.gravity_mps2
    return {"snatch_n": snatch[0], "snatch_after_separation_s": snatch[1], "end_of_stroke_n": stroke,
            "rover_weight_n": rover_weight, "wheel_normal_peak_n": wheels}


def phase_us(scenario: Scenario, separate: bool, cut: bool) -> float:
    """Microseconds per substep for 5 s in one configuration, engines lit."""
    plant = Plant(scenario.params, scenario.initial, np.random.default_rng(scenario.seed))
    plant.apply(0.6, 0.1, -0.05, separate, cut)
    n = round(5.0 * scenario.params.substep_hz)
    t0 = time.perf_counter()
    plant.advance(5.0)
    return (time.perf_counter() - t0) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("scenario", nargs="?", default="nominal")
    scenario = load_scenario(parser.parse_args().scenario)
    runs = [landing(scenario) for _ in range(REPEATS)]
    plant, in_plant, wall, substeps = min(runs, key=lambda run: run[1])
    us = in_plant / substeps * 1e6
    print(f"{us:.2f} us/substep over the whole {scenario.name} landing, dynamics + sensors "
          f"(best of {REPEATS}; {substeps} substeps, {plant.t:.1f} s simulated, plant "
          f"{in_plant:.2f} s, with guidance {wall:.2f} s wall); target <= {TARGET_US:g}")
    for label, separate, cut in (("attached", False, False), ("hanging", True, False),
                                 ("cut", True, True)):
        best = min(phase_us(scenario, separate, cut) for _ in range(REPEATS))
        print(f"{best:.2f} us/substep {label} (5 s, engines lit)")
    for event in plant.events:
        data = ", ".join(f"{k}={v:.3f}" for k, v in event.data.items())
        print(f"  {event.t:7.3f} s  {event.name:18s} {data}")
    f = loads(scenario)
    print(f"bridle tension: snatch peak {f['snatch_n'] / 1e3:.2f} kN, {f['snatch_after_separation_s']:.2f} s after "
          f"separation; end of stroke {f['end_of_stroke_n'] / 1e3:.2f} kN; the rover's weight "
          f"{f['rover_weight_n'] / 1e3:.2f} kN; peak wheel normal force {f['wheel_normal_peak_n'] / 1e3:.2f} kN")


if __name__ == "__main__":
    main()
