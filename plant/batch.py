"""BatchPlant: the Plant of model.py for N landings at once, one array element per case.

Every case shares one substep clock (the same substep, radar, gust and IMU rates and engine dead
time; plant/batch_sensors.py checks that), so the schedule of model.py's advance() — substeps,
radar measurements, gust updates, delayed throttle — runs once for all. What differs per case is
in arrays: parameters, state, mode, commands, events. The substeps themselves run case by case in
compiled code (plant/batch_physics.py); the sensors, commands and modes are numpy over arrays. A
case that ends (the descent stage on the ground) is frozen in `final_*` at its substep and dropped
from the arrays by keep() at the next control cycle, so finished landings cost nothing.

Held to the scalar plant: tests/test_batch.py flies the same cases both ways (docs/batch.md).
"""
from __future__ import annotations

from collections import deque
from collections.abc import Sequence

import numpy as np

from plant import noise
from plant.actuators import throttle_command, tilt_command
from plant.batch_physics import (
    BRIDLES_FULL,
    CONTACT,
    DS_GROUND,
    DS_X,
    DS_Y,
    DS_Z,
    LENGTH,
    NO_EVENT,
    PROPELLANT_OUT,
    ROVER_X,
    ROVER_Y,
    ROVER_Z,
    ROWS,
    advance_cases,
    case_constants,
)
from plant.batch_sensors import BatchImu, BatchRadar, BatchWind, shared_value
from plant.dynamics import ATTACHED, FREE, HANGING
from plant.imu import Imu
from plant.params import InitialConditions, PlantParams
from plant.radar import Radar
from plant.terrain import height_at, terrain
from plant.wind import Wind

NEVER = 1 << 62
# Event times per case (NaN until it happens), as model.py records them.
EVENTS = ("separation", "bridles_full", "contact", "cut", "ds_ground", "propellant_out")


class BatchPlant:
    """N landings: params, initial conditions and run seed per case (each seeds its streams as
    hil/flight.py seeds a scalar plant)."""

    def __init__(self, params: Sequence[PlantParams], initial: Sequence[InitialConditions],
                 seeds: Sequence[int]) -> None:
        n = len(params)
        self.params, self.initial = list(params), list(initial)
        self.hz = float(shared_value([p.substep_hz for p in params], "substep_hz"))
        self.dead_steps = round(shared_value([p.engine.dead_time_s for p in params], "engine.dead_time_s") * self.hz)
        self.case = np.arange(n)                 # which case each array element is
        self.k = case_constants(params)
        self.dt = 1.0 / self.hz
        self.steps = 0
        self.t = 0.0
        self.alive = np.ones(n, dtype=bool)      # not yet ended (an ended case waits for keep())
        self.mode = np.full(n, ATTACHED, dtype=np.int8)
        # The events each case still waits for: propellant out, bridles full, first contact.
        self.watch = np.ones((3, n), dtype=bool)
        self.watch[0] = [p.descent_stage.propellant_kg > 0.0 for p in params]
        self.min_throttle = np.array([float(p.engine.min_throttle) for p in params])
        self.max_tilt = np.array([float(p.attitude.max_tilt_rad) for p in params])
        self.throttle_cmd = np.array([throttle_command(i.throttle, p.engine.min_throttle)
                                      for p, i in zip(params, initial)])
        self.tilt_x_cmd = np.array([tilt_command(i.tilt_x_rad, p.attitude.max_tilt_rad) for p, i in zip(params, initial)])
        self.tilt_y_cmd = np.array([tilt_command(i.tilt_y_rad, p.attitude.max_tilt_rad) for p, i in zip(params, initial)])
        self._delayed: deque[tuple[int, np.ndarray]] = deque()
        self.x = np.zeros((ROWS, n))
        for j, (p, i) in enumerate(zip(params, initial)):
            x0, y0 = float(i.x_m), float(i.y_m)
            self.x[0:6, j] = (x0, y0, height_at(terrain(p.terrain), x0, y0) + i.altitude_m,
                              float(i.vx_mps), float(i.vy_mps), float(i.vz_mps))
        self._mirror_rover(np.ones(n, dtype=bool))
        # actuators.propagate's state per case: throttle, tilt_x, tilt_y, propellant
        self.act = np.array([[float(i.throttle) for i in initial], self.tilt_x_cmd, self.tilt_y_cmd,
                             [float(p.descent_stage.propellant_kg) for p in params]])
        # Each case's streams, its start-up draws made by the scalar sensor classes themselves.
        streams = [noise.landing_streams(s) for s in seeds]
        self.wind = BatchWind([Wind(p.wind, self.hz, s[noise.WIND]) for p, s in zip(params, streams)], streams)
        self.radar = BatchRadar([Radar(p.radar, self.hz, terrain(p.terrain), s[noise.RADAR_NOISE],
                                       s[noise.RADAR_EVENTS]) for p, s in zip(params, streams)], streams)
        self.imu = BatchImu([Imu(p.imu, g, s[noise.IMU], 0.0, (0.0, 0.0, 0.0))
                             for p, g, s in zip(params, self.k["gravity"], streams)], streams, self.x[3:6])
        self._next_radar = 0
        self._next_wind = self.wind.every if self.wind.any_gusty else NEVER
        # what every case ends with, by case index
        self.events = {name: np.full(n, np.nan) for name in EVENTS}
        self.contact_v = np.full((3, n), np.nan)   # rover velocity at first contact
        self.final_x = np.full((ROWS, n), np.nan)
        self.final_propellant = np.full(n, np.nan)
        self.final_mode = np.full(n, ATTACHED, dtype=np.int8)
        self.ended = np.zeros(n, dtype=bool)
        self._discrete()  # the radar's first measurement, at t = 0

    # ----------------------------------------------------------------- commands

    def apply(self, throttle, tilt_x, tilt_y, separate, cut) -> None:
        """Plant.apply for every case (arrays; separate and cut booleans)."""
        command = np.where(throttle <= 0.0, 0.0, np.minimum(1.0, np.maximum(self.min_throttle, throttle)))
        if self.dead_steps:
            self._delayed.append((self.steps + self.dead_steps, command))
        else:
            self.throttle_cmd = command
        self.tilt_x_cmd = np.minimum(self.max_tilt, np.maximum(-self.max_tilt, tilt_x))
        self.tilt_y_cmd = np.minimum(self.max_tilt, np.maximum(-self.max_tilt, tilt_y))
        separating = (separate | cut) & (self.mode == ATTACHED) & self.alive
        if separating.any():
            self._mirror_rover(separating)
            self.x[LENGTH, separating] = 0.0
            self.mode[separating] = HANGING
            self._record("separation", separating)
        cutting = cut & (self.mode == HANGING) & self.alive
        if cutting.any():
            self.mode[cutting] = FREE
            self._record("cut", cutting)

    def _mirror_rover(self, where: np.ndarray) -> None:
        """dynamics.mirror_rover for these cases: the rover where the rigid attachment holds it."""
        x = self.x
        x[ROVER_X, where], x[ROVER_Y, where] = x[DS_X, where], x[DS_Y, where]
        x[ROVER_Z, where] = x[DS_Z, where] - self.k["deck_height"][where]
        x[9:12, where] = x[3:6, where]

    def _record(self, name: str, where: np.ndarray, t: float | None = None) -> None:
        self.events[name][self.case[where]] = self.t if t is None else t

    # ----------------------------------------------------------------- time

    def advance(self, duration_s: float) -> None:
        """Plant.advance for every case: the same schedule, once."""
        end = self.steps + round(duration_s * self.hz)
        while self.steps < end and self.alive.any():
            due = min(self._next_radar, self._next_wind, self._delayed[0][0] if self._delayed else NEVER)
            if due > self.steps:
                self._run(min(end, due))
            if self.steps >= due and self.alive.any():
                self._discrete()

    def _discrete(self) -> None:
        steps = self.steps
        while self._delayed and self._delayed[0][0] <= steps:
            self.throttle_cmd = self._delayed.popleft()[1]
        if steps >= self._next_radar:
            thrusting = (self.throttle_cmd > 0.0) & (self.act[3] > 0.0)
            self.radar.measure(steps, self.x, self.act[1], self.act[2], thrusting, self.k)
            self._next_radar += self.radar.every
        if steps >= self._next_wind:
            self.wind.update()
            self._next_wind += self.wind.every

    def _run(self, stop: int) -> None:
        """Substeps up to count `stop` with commands, modes and wind fixed (model.py's _run, per
        case in compiled code), then the events they gave, recorded at their substep's end."""
        n = self.case.size
        event_step = np.full((4, n), NO_EVENT, dtype=np.int64)
        wind_x, wind_y = self.wind.velocity
        advance_cases(self.x, self.act, self.throttle_cmd, self.tilt_x_cmd, self.tilt_y_cmd, self.mode, self.alive,
                      self.watch, wind_x, wind_y, self.k, stop, self.steps, event_step, self.case, self.contact_v)
        self.steps = stop
        self.t = self.steps / self.hz
        for row, name in ((PROPELLANT_OUT, "propellant_out"), (BRIDLES_FULL, "bridles_full"), (CONTACT, "contact"),
                          (DS_GROUND, "ds_ground")):
            happened = event_step[row] != NO_EVENT
            if happened.any():
                self.events[name][self.case[happened]] = event_step[row, happened] / self.hz
        down = event_step[DS_GROUND] != NO_EVENT
        if down.any():
            self._freeze(down)

    def _freeze(self, where: np.ndarray) -> None:
        """These cases ended now: keep their final state; they are integrated no further."""
        self.alive &= ~where
        self.ended[self.case[where]] = True
        self.snapshot(where)

    def snapshot(self, where: np.ndarray) -> None:
        """Record these cases' state as their final one (also for a landing stopped by the time limit)."""
        cases = self.case[where]
        attached = where & (self.mode == ATTACHED)
        if attached.any():
            self._mirror_rover(attached)      # as model.py mirrors after each run of substeps
        self.final_x[:, cases] = self.x[:, where]
        self.final_propellant[cases] = np.maximum(0.0, self.act[3][where])
        self.final_mode[cases] = self.mode[where]

    # ----------------------------------------------------------------- outputs

    def sense(self) -> dict:
        """Plant.sense for every case: the sensor frame's fields as arrays (radar_seq one int)."""
        radar = self.radar
        radar.deliver(self.steps)
        imu_valid, fx, fy, fz = self.imu.read(self.t, self.x[3:6])
        return {"radar_valid": radar.valid, "radar_seq": radar.seq, "altitude_m": radar.altitude_m,
                "vx_mps": radar.vx_mps, "vy_mps": radar.vy_mps, "vz_mps": radar.vz_mps, "imu_valid": imu_valid,
                "imu_fx": fx, "imu_fy": fy, "imu_fz": fz, "bridle_length_m": self.x[LENGTH].copy(),
                "separated": self.mode != ATTACHED, "cut": self.mode == FREE}

    def keep(self, index: np.ndarray) -> None:
        """Keep only the cases at these positions (finished ones dropped)."""
        self.case = self.case[index]
        self.k = self.k[index]
        self.x = self.x[:, index]
        self.act = self.act[:, index]
        self.watch = self.watch[:, index]
        for name in ("alive", "mode", "min_throttle", "max_tilt", "throttle_cmd", "tilt_x_cmd", "tilt_y_cmd"):
            setattr(self, name, getattr(self, name)[index])
        self._delayed = deque((due, command[index]) for due, command in self._delayed)
        self.wind.keep(index)
        self.radar.keep(index)
        self.imu.keep(index)
