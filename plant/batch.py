"""BatchPlant: the Plant of model.py for N landings at once, one array element per case.

Every case shares one substep clock (the same substep, radar, gust and IMU rates and engine dead
time; plant/batch_sensors.py checks that), so the schedule of model.py's advance() — substeps,
radar measurements, gust updates, delayed throttle — runs once for all. What differs per case is
in arrays: parameters, state, mode, commands, events. Modes and events are masks. A case that
ends (the descent stage on the ground) is frozen in `final_*` at its substep and dropped from the
arrays by keep() at the next control cycle, so finished landings cost nothing.

Held to the scalar plant: tests/test_batch.py flies the same cases both ways (docs/batch.md).
"""
from __future__ import annotations

from collections import deque
from collections.abc import Sequence

import numpy as np

from plant import noise
from plant.actuators import throttle_command, tilt_command
from plant.batch_physics import (
    DS_X,
    DS_Y,
    DS_Z,
    LENGTH,
    ROVER_X,
    ROVER_Y,
    ROVER_Z,
    ROWS,
    CaseConstants,
    Modes,
    Rk4Buffers,
    derivative,
    forcing,
    propagate,
    rk4,
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
        self.k = CaseConstants.of(params)
        self.dt = 1.0 / self.hz
        self.steps = 0
        self.t = 0.0
        self.alive = np.ones(n, dtype=bool)      # not yet ended (an ended case waits for keep())
        self.mode = np.full(n, ATTACHED, dtype=np.int8)
        self.modes = Modes.of(self.mode, self.k)
        self.mode_changed = False                # since the last mode_order()
        self.bridles_full = np.zeros(n, dtype=bool)
        self.contact_seen = np.zeros(n, dtype=bool)
        self.propellant_out = np.array([p.descent_stage.propellant_kg <= 0.0 for p in params])
        self.min_throttle = np.array([float(p.engine.min_throttle) for p in params])
        self.max_tilt = np.array([float(p.attitude.max_tilt_rad) for p in params])
        self.throttle_cmd = np.array([throttle_command(i.throttle, p.engine.min_throttle)
                                      for p, i in zip(params, initial)])
        self.tilt_x_cmd = np.array([tilt_command(i.tilt_x_rad, p.attitude.max_tilt_rad) for p, i in zip(params, initial)])
        self.tilt_y_cmd = np.array([tilt_command(i.tilt_y_rad, p.attitude.max_tilt_rad) for p, i in zip(params, initial)])
        self._delayed: deque[tuple[int, np.ndarray]] = deque()
        self.x = np.zeros((ROWS, n))
        self._rk4 = Rk4Buffers(n)
        for j, (p, i) in enumerate(zip(params, initial)):
            x0, y0 = float(i.x_m), float(i.y_m)
            self.x[0:6, j] = (x0, y0, height_at(terrain(p.terrain), x0, y0) + i.altitude_m,
                              float(i.vx_mps), float(i.vy_mps), float(i.vz_mps))
        self._mirror_rover(np.ones(n, dtype=bool))
        self.act = [np.array([float(i.throttle) for i in initial]), self.tilt_x_cmd.copy(), self.tilt_y_cmd.copy(),
                    np.array([float(p.descent_stage.propellant_kg) for p in params])]
        # Each case's streams, its start-up draws made by the scalar sensor classes themselves.
        streams = [noise.landing_streams(s) for s in seeds]
        self.wind = BatchWind([Wind(p.wind, self.hz, s[noise.WIND]) for p, s in zip(params, streams)], streams)
        self.radar = BatchRadar([Radar(p.radar, self.hz, terrain(p.terrain), s[noise.RADAR_NOISE],
                                       s[noise.RADAR_EVENTS]) for p, s in zip(params, streams)], streams)
        self.imu = BatchImu([Imu(p.imu, g, s[noise.IMU], 0.0, (0.0, 0.0, 0.0))
                             for p, g, s in zip(params, self.k.gravity, streams)], streams, self.x[3:6])
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
        self.mode_changed = bool(separating.any() or cutting.any())

    def mode_order(self) -> np.ndarray | None:
        """After a mode changed: the positions in mode order, for keep() (the caller reorders
        everything it holds per case the same way). None when the order still holds."""
        if not self.mode_changed:
            return None
        self.mode_changed = False
        if not (np.diff(self.mode) < 0).any():
            self.modes = Modes.of(self.mode, self.k)
            return None
        return np.argsort(self.mode, kind="stable")

    def _mirror_rover(self, where: np.ndarray) -> None:
        """dynamics.mirror_rover for these cases: the rover where the rigid attachment holds it."""
        x = self.x
        x[ROVER_X, where], x[ROVER_Y, where] = x[DS_X, where], x[DS_Y, where]
        x[ROVER_Z, where] = x[DS_Z, where] - self.k.deck_height[where]
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
        """Substeps up to count `stop` with commands, modes and wind fixed (model.py's _run)."""
        k, m, act = self.k, self.modes, self.act
        carried = np.where(self.mode == ATTACHED, k.rover_mass, 0.0)
        wind_x, wind_y = self.wind.velocity
        f0 = forcing(act[0], act[1], act[2], act[3], carried, k)
        throttle, tilt_x, tilt_y = self.throttle_cmd, self.tilt_x_cmd, self.tilt_y_cmd
        x = self.x
        m.near_ground(x, k, (stop - self.steps) * self.dt)
        while self.steps < stop:
            f_mid, f1 = propagate(act, throttle, tilt_x, tilt_y, carried, k)
            before = x
            x = rk4(x, self.dt, f0, f_mid, f1, wind_x, wind_y, m, k, self._rk4)
            self.steps += 1
            self.x = x
            self._substep_events(before, f0, wind_x, wind_y)
            f0 = f1
        self.t = self.steps / self.hz

    def _substep_events(self, before, f0, wind_x, wind_y) -> None:
        """model.py's checks between substeps, in its order; events carry the substep's end."""
        x, k, act, alive = self.x, self.k, self.act, self.alive
        t = self.steps / self.hz
        out = ~self.propellant_out & alive & (act[3] <= 0.0)
        if out.any():
            act[3][out] = 0.0
            self.propellant_out |= out
            self._record("propellant_out", out, t)
        h = self.modes.hanging
        full = np.zeros_like(alive)
        full[h] = ~self.bridles_full[h] & alive[h] & (x[LENGTH, h] >= k.length_max[h])
        if full.any():
            x[LENGTH, full] = k.length_max[full]
            self.bridles_full |= full
            self._record("bridles_full", full, t)
        # Only the cases that can be on the ground are looked at: an attached stack out of reach
        # of it this run of substeps (Modes.near_ground) can neither touch nor land.
        m = self.modes
        looked = slice(0, x.shape[1]) if m.stack_near else m.separated
        watch = ~self.contact_seen[looked] & alive[looked]
        if watch.any():
            touched = np.zeros_like(alive)
            a = slice(looked.start, m.attached.stop)
            touched[a] = (k.ground_z0[a] + k.grad_x[a] * x[DS_X, a] + k.grad_y[a] * x[DS_Y, a] - x[DS_Z, a]
                          + k.deck_height[a]) > 0.0
            s = m.separated
            touched[s] = (k.ground_z0[s] + k.grad_x[s] * x[ROVER_X, s] + k.grad_y[s] * x[ROVER_Y, s] - x[ROVER_Z, s]) > 0.0
            touched[looked] &= watch
            if touched.any():
                self._first_contact(np.flatnonzero(touched), before, f0, wind_x, wind_y, t)
        down = np.zeros_like(alive)
        down[looked] = alive[looked] & (x[DS_Z, looked] - k.ground_z0[looked] - k.grad_x[looked] * x[DS_X, looked]
                                        - k.grad_y[looked] * x[DS_Y, looked] <= 0.0)
        if down.any():
            self._record("ds_ground", down, t)
            self._freeze(down)

    def _first_contact(self, i: np.ndarray, before, f0, wind_x, wind_y, t: float) -> None:
        """model.py's _first_contact for the cases at positions i: the rover's velocity at the
        instant its wheel point reached the terrain, extrapolated from the state before the substep."""
        self.contact_seen[i] = True
        k = self.k.take(i)
        modes = Modes.of(self.mode[i], k)
        b = before[:, i]
        modes.near_ground(b, k, self.dt)
        accel = derivative(b, tuple(f[i] for f in f0), wind_x[i], wind_y[i], modes, k, np.empty_like(b))
        attached = self.mode[i] == ATTACHED
        wheel = np.where(attached, 0, 6)            # first row of the body whose wheels touch
        lift = np.where(attached, k.deck_height, 0.0)
        cols = np.arange(i.size)
        px, py = b[wheel, cols], b[wheel + 1, cols]
        pz = b[wheel + 2, cols] - lift
        v = [b[wheel + 3 + a, cols] for a in range(3)]
        a = [accel[wheel + 3 + a, cols] for a in range(3)]
        nz = k.cos_slope
        n = (k.normal_x, k.normal_y, nz)
        gap = (pz - k.ground_z0 - k.grad_x * px - k.grad_y * py) * nz
        vn = n[0] * v[0] + n[1] * v[1] + n[2] * v[2]
        an = n[0] * a[0] + n[1] * a[1] + n[2] * a[2]
        disc = vn * vn - 2.0 * an * gap
        with np.errstate(invalid="ignore", divide="ignore"):
            denom = np.where(disc >= 0.0, -vn + np.sqrt(disc), 0.0)
            s = np.where((denom > 0.0) & (gap > 0.0), 2.0 * gap / denom, 0.0)
        s = np.minimum(s, k.dt)
        self.contact_v[:, self.case[i]] = [v[j] + a[j] * s for j in range(3)]
        self.events["contact"][self.case[i]] = t

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
        self.k = self.k.take(index)
        self.x = self.x[:, index]
        self._rk4 = Rk4Buffers(self.x.shape[1])
        self.act = [a[index] for a in self.act]
        for name in ("alive", "mode", "bridles_full", "contact_seen", "propellant_out", "min_throttle", "max_tilt",
                     "throttle_cmd", "tilt_x_cmd", "tilt_y_cmd"):
            setattr(self, name, getattr(self, name)[index])
        self.modes = Modes.of(self.mode, self.k)
        self._delayed = deque((due, command[index]) for due, command in self._delayed)
        self.wind.keep(index)
        self.radar.keep(index)
        self.imu.keep(index)
