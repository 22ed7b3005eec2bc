"""Many lockstep MIL landings at once: hil/executive.py's LockstepExecutive over arrays.

Each control cycle: sense every case, put the frame through the ICD's float32 fields as the
in-process MIL device does (the register encoding rounds every float to float32), step the batch
controller, round its commands to float32 as the command block does, let the judge watch the
truth before the commands are applied, apply them and fly the plant to the cycle's end. Landings
that ended are judged and dropped from the arrays.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from hil import icd
from hil.batch.controller import BatchController
from hil.batch.judge import BatchJudge
from hil.icd import Discretes, SensorFlags
from plant.batch import BatchPlant
from plant.params import InitialConditions, PlantParams

_RADAR_VALID, _SEPARATED, _CUT, _IMU_VALID = (int(SensorFlags.RADAR_VALID), int(SensorFlags.SEPARATED),
                                              int(SensorFlags.CUT), int(SensorFlags.IMU_VALID))
_SEPARATE, _CUT_BRIDLES = int(Discretes.SEPARATE), int(Discretes.CUT)


@dataclass
class Landing:
    """What one case's landing gave: its metrics, or why it could not be flown."""

    metrics: dict
    error: str | None = None


def f32(values: np.ndarray) -> np.ndarray:
    """The float32 a value becomes in an ICD register (NaN stays NaN), back as float64."""
    return values.astype(np.float32).astype(np.float64)


def fly_batch(params: Sequence[PlantParams], initial: Sequence[InitialConditions], seeds: Sequence[int],
              configs: Sequence[Mapping[str, float]], control_rate_hz: float, max_time_s: float,
              on_cycle: Callable[[int, np.ndarray, BatchController], None] | None = None) -> list[Landing]:
    """Fly every case to its end (descent stage on the ground) or the time limit. configs: each
    case's config block as the device holds it (float32 values, icd.CONFIG.decode_map).
    on_cycle(cycle, cases, controller), if given, sees the controller after each step (cases:
    the case index of each of its array positions), as a scalar landing's record does."""
    plant = BatchPlant(params, initial, seeds)
    controller = BatchController(configs)
    judge = BatchJudge(plant, math.ceil(max_time_s * control_rate_hz) + 2)
    landings: list[Landing | None] = [None] * len(params)
    dt = 1.0 / control_rate_hz
    frame = 0
    while plant.case.size:
        if plant.t >= max_time_s - 1e-9:
            plant.snapshot(np.ones(plant.case.size, dtype=bool))
            _judge(plant, judge, landings, plant.case)
            break
        frame += 1
        s = plant.sense()
        n = plant.case.size
        flags = ((np.where(s["radar_valid"], _RADAR_VALID, 0) | np.where(s["separated"], _SEPARATED, 0))
                 | np.where(s["cut"], _CUT, 0) | (_IMU_VALID if s["imu_valid"] else 0))
        controller.step(round(plant.t * 1e6), np.full(n, s["radar_seq"] & 0xFFFF), f32(s["altitude_m"]),
                        f32(s["vx_mps"]), f32(s["vy_mps"]), f32(s["vz_mps"]), f32(s["imu_fx"]), f32(s["imu_fy"]),
                        f32(s["imu_fz"]), f32(s["bridle_length_m"]), flags)
        if on_cycle is not None:
            on_cycle(frame, plant.case, controller)
        throttle, tilt_x, tilt_y = f32(controller.throttle), f32(controller.tilt_x), f32(controller.tilt_y)
        broken = ~(np.isfinite(throttle) & np.isfinite(tilt_x) & np.isfinite(tilt_y))
        if broken.any():       # Plant.apply refuses a command that is not a number: that landing ends here
            for case in plant.case[broken]:
                landings[case] = Landing({}, "the controller commanded a throttle or tilt that is not a number")
            _keep(plant, controller, np.flatnonzero(~broken))
            throttle, tilt_x, tilt_y = throttle[~broken], tilt_x[~broken], tilt_y[~broken]
            if not plant.case.size:
                break
        judge.observe(plant, throttle, controller.td_time_us != icd.TD_NOT_DECLARED)
        discretes = controller.discretes
        plant.apply(throttle, tilt_x, tilt_y, (discretes & _SEPARATE) != 0, (discretes & _CUT_BRIDLES) != 0)
        plant.advance(max(0.0, frame * dt - plant.t))
        if not plant.alive.all():
            _judge(plant, judge, landings, plant.case[~plant.alive])
            _keep(plant, controller, np.flatnonzero(plant.alive))
    return landings


def _keep(plant: BatchPlant, controller: BatchController, index: np.ndarray) -> None:
    plant.keep(index)
    controller.keep(index)


def _judge(plant: BatchPlant, judge: BatchJudge, landings: list, cases: np.ndarray) -> None:
    for case in cases.tolist():
        landings[case] = Landing(judge.metrics(plant, case))
