"""Radar, IMU and wind of many landings over numpy arrays, with each case's own random streams.

Each case is set up by the scalar classes themselves (Radar, Imu, Wind draw their start-up numbers
from the case's streams, plant/noise.py), then its per-event numbers are drawn a block of events
ahead, case by case, from the same streams: a case gets exactly the numbers its scalar landing
draws. The measurement equations are radar.py's, imu.py's and wind.py's, in the same order.
"""
from __future__ import annotations

import math
from collections import deque

import numpy as np

from plant import noise
from plant.imu import Imu
from plant.radar import Radar, beam_directions
from plant.wind import Wind

BLOCK = 256          # events drawn ahead per stream: memory is cases x BLOCK x (up to 6) floats
NAN = float("nan")


class Draws:
    """One stream per case, read `width` numbers per event, a block of events ahead."""

    def __init__(self, generators: list, width: int, kind: str) -> None:
        self.generators = generators
        self.width = width
        self.kind = kind            # "normal" or "uniform"
        self.block = np.empty((0, len(generators), width))   # (event, case, number)
        self.rows = np.arange(len(generators))               # the block's rows of the cases kept
        self.used = 0

    def next(self) -> np.ndarray:
        """The next event's numbers: (cases, width)."""
        if self.used == self.block.shape[0]:
            shape = (BLOCK, self.width)
            draw = (lambda g: g.standard_normal(shape)) if self.kind == "normal" else (lambda g: g.random(shape))
            self.block = np.stack([draw(g) for g in self.generators], axis=1) if self.generators else \
                np.empty((BLOCK, 0, self.width))
            self.rows = np.arange(len(self.generators))
            self.used = 0
        self.used += 1
        return self.block[self.used - 1, self.rows]

    def keep(self, index: np.ndarray) -> None:
        self.generators = [self.generators[i] for i in index]
        self.rows = self.rows[index]     # the block is not copied: finished cases' rows are skipped


def shared_value(values, what: str):
    first = values[0]
    if any(v != first for v in values):
        raise ValueError(f"{what} differs between cases; the batch engine needs one value for all")
    return first


class BatchWind:
    """wind.Wind per case: steady plus Gauss-Markov gusts, updated every `every` substeps."""

    def __init__(self, winds: list[Wind], streams: list[list]) -> None:
        self.every = shared_value([w.every for w in winds], "wind.gust_update_hz")
        self.steady_x = np.array([w.steady_x for w in winds])
        self.steady_y = np.array([w.steady_y for w in winds])
        self.gust_x = np.array([w.gust_x for w in winds])
        self.gust_y = np.array([w.gust_y for w in winds])
        self.decay = np.array([w.decay for w in winds])
        self.drive = np.array([w.drive for w in winds])
        gusty = np.array([w.gusty for w in winds], dtype=bool)
        self.gusty = np.flatnonzero(gusty)          # only these draw
        self._draws = Draws([streams[i][noise.WIND] for i in self.gusty], 2, "normal")

    @property
    def any_gusty(self) -> bool:
        return self.gusty.size > 0

    @property
    def velocity(self) -> tuple[np.ndarray, np.ndarray]:
        return self.steady_x + self.gust_x, self.steady_y + self.gust_y

    def update(self) -> None:
        n = self._draws.next()
        g = self.gusty
        self.gust_x[g] = self.decay[g] * self.gust_x[g] + self.drive[g] * n[:, 0]
        self.gust_y[g] = self.decay[g] * self.gust_y[g] + self.drive[g] * n[:, 1]

    def keep(self, index: np.ndarray) -> None:
        position = np.full(self.steady_x.size, -1)
        position[index] = np.arange(index.size)
        kept_gusty = np.isin(self.gusty, index)
        self._draws.keep(np.flatnonzero(kept_gusty))
        self.gusty = position[self.gusty[kept_gusty]]
        for name in ("steady_x", "steady_y", "gust_x", "gust_y", "decay", "drive"):
            setattr(self, name, getattr(self, name)[index])


class BatchRadar:
    """radar.Radar per case: measures every `every` substeps, delivers `delay` substeps later."""

    def __init__(self, radars: list[Radar], streams: list[list]) -> None:
        self.every = shared_value([r.every for r in radars], "radar.rate_hz")
        self.delay = shared_value([r.delay for r in radars], "radar.latency_s")
        p = [r.params for r in radars]
        self.sigma = np.array([q.velocity_sigma_mps for q in p])
        self.range_sigma = np.array([q.range_sigma_fraction for q in p])
        self.dropout = np.array([q.dropout_probability for q in p])
        self.dust_altitude = np.array([q.dust_altitude_m for q in p])
        self.dust_glitch = np.array([q.dust_glitch_probability for q in p])
        self.dust_dropout = np.array([q.dust_dropout_probability for q in p])
        self.glitch_min = np.array([q.dust_glitch_min_mps for q in p])
        self.glitch_max = np.array([q.dust_glitch_max_mps for q in p])
        # beams[b][axis]: beam b's body-frame direction per case; scale[b]: its range scale error
        beams = [beam_directions(q.beam_cant_deg) for q in p]
        self.beams = [[np.array([case[b][a] for case in beams]) for a in range(3)] for b in range(3)]
        self.scale = [np.array([r.scale[b] for r in radars]) for b in range(3)]
        self._normals = Draws([s[noise.RADAR_NOISE] for s in streams], 6, "normal")
        self._uniforms = Draws([s[noise.RADAR_EVENTS] for s in streams], 5, "uniform")
        self._pending: deque[tuple] = deque()   # (due step, valid, altitude, vx, vy, vz)
        n = len(radars)
        self.seq = 0                            # the same count for every case: one schedule
        self.valid = np.zeros(n, dtype=bool)
        self.altitude_m, self.vx_mps, self.vy_mps, self.vz_mps = (np.full(n, NAN) for _ in range(4))

    def measure(self, step: int, x: np.ndarray, tilt_x, tilt_y, thrusting, k) -> None:
        """Radar.measure for every case, from the (13, N) state x."""
        n = self._normals.next()
        u = self._uniforms.next()
        height = x[2] - (k["ground_z0"] + k["grad_x"] * x[0] + k["grad_y"] * x[1])
        dusty = thrusting & (height < self.dust_altitude)
        altitude, solved = self._altitude(x, tilt_x, tilt_y, n[:, 3:6], k)
        p_drop = self.dropout + np.where(dusty, self.dust_dropout, 0.0)
        valid = solved & (u[:, 0] >= p_drop)
        vel = [x[3] + self.sigma * n[:, 0], x[4] + self.sigma * n[:, 1], x[5] + self.sigma * n[:, 2]]
        glitch = dusty & (u[:, 1] < self.dust_glitch)
        if glitch.any():   # plume-lofted debris: one axis reads a few tenths to ~1 m/s off
            size = self.glitch_min + (self.glitch_max - self.glitch_min) * u[:, 3]
            signed = np.where(u[:, 4] < 0.5, size, -size)
            axis = np.minimum(2, (3.0 * u[:, 2]).astype(np.int64))
            for a in range(3):
                vel[a] = np.where(glitch & (axis == a), vel[a] + signed, vel[a])
        self._pending.append((step + self.delay, valid, np.where(valid, altitude, NAN), *vel))

    def deliver(self, step: int) -> None:
        """Radar.deliver: hand over every measurement due by `step`; hold the newest valid values."""
        while self._pending and self._pending[0][0] <= step:
            _, valid, altitude, vx, vy, vz = self._pending.popleft()
            self.seq += 1
            self.valid = valid
            self.altitude_m = np.where(valid, altitude, self.altitude_m)
            self.vx_mps = np.where(valid, vx, self.vx_mps)
            self.vy_mps = np.where(valid, vy, self.vy_mps)
            self.vz_mps = np.where(valid, vz, self.vz_mps)

    def _altitude(self, x, tilt_x, tilt_y, range_noise, k):
        """Radar._altitude per case: (altitude, solved); altitude is meaningless where not solved."""
        nz = k["cos_slope"]
        nx, ny = -k["grad_x"] * nz, -k["grad_y"] * nz        # the terrain normal, as wheel_contact forms it
        above = (x[2] - (k["ground_z0"] + k["grad_x"] * x[0] + k["grad_y"] * x[1])) * nz
        solved = above > 0.0
        a, b = np.tan(tilt_x), np.tan(tilt_y)
        sin_beta = b / np.sqrt(1.0 + a * a + b * b)
        cos_beta = np.sqrt(1.0 - sin_beta * sin_beta)
        ca, sa = np.cos(tilt_x), np.sin(tilt_x)
        points = []
        with np.errstate(divide="ignore", invalid="ignore"):
            for beam, scale, i in zip(self.beams, self.scale, range(3)):
                bx, by, bz = beam
                by, bz = cos_beta * by + sin_beta * bz, -sin_beta * by + cos_beta * bz
                dx, dy, dz = ca * bx + sa * bz, by, -sa * bx + ca * bz
                closing = -(nx * dx + ny * dy + nz * dz)
                solved &= closing >= 1e-3
                r = above / closing * scale * (1.0 + self.range_sigma * range_noise[:, i])
                points.append((r * dx, r * dy, r * dz))
            (x1, y1, z1), (x2, y2, z2), (x3, y3, z3) = points
            ax, ay, az = x2 - x1, y2 - y1, z2 - z1
            bx, by, bz = x3 - x1, y3 - y1, z3 - z1
            cx, cy, cz = ay * bz - az * by, az * bx - ax * bz, ax * by - ay * bx
            solved &= np.abs(cz) >= 1e-9
            return -(z1 + (cx * x1 + cy * y1) / cz), solved

    def keep(self, index: np.ndarray) -> None:
        for name in ("sigma", "range_sigma", "dropout", "dust_altitude", "dust_glitch", "dust_dropout",
                     "glitch_min", "glitch_max", "valid", "altitude_m", "vx_mps", "vy_mps", "vz_mps"):
            setattr(self, name, getattr(self, name)[index])
        self.beams = [[axis[index] for axis in beam] for beam in self.beams]
        self.scale = [s[index] for s in self.scale]
        self._normals.keep(index)
        self._uniforms.keep(index)
        self._pending = deque((due, *(a[index] for a in arrays)) for due, *arrays in self._pending)


class BatchImu:
    """imu.Imu per case: mean specific force since the previous read, with noise and bias."""

    def __init__(self, imus: list[Imu], streams: list[list], velocity: np.ndarray) -> None:
        self.rate = shared_value([i.params.rate_hz for i in imus], "imu.rate_hz")
        self.noise_sigma = np.array([i.params.noise_sigma_mps2 for i in imus])
        self.gravity = np.array([i.gravity for i in imus])
        self.bias = [np.array([i.bias[axis] for i in imus]) for axis in range(3)]
        self._draws = Draws([s[noise.IMU] for s in streams], 3, "normal")
        self._t = 0.0
        self._v = velocity.copy()         # (3, N): the DS velocity at the previous read

    def read(self, t: float, velocity: np.ndarray):
        """(valid, fx, fy, fz) for every case; velocity is the DS velocity rows (3, N) now."""
        n = self._draws.next()
        t0, v0 = self._t, self._v
        self._t, self._v = t, velocity.copy()
        samples = math.floor(t * self.rate + 1e-9) - math.floor(t0 * self.rate + 1e-9)
        if t <= t0 or samples < 1:
            nan = np.full(v0.shape[1], NAN)
            return False, nan, nan, nan
        inv_dt = 1.0 / (t - t0)
        sigma = self.noise_sigma / math.sqrt(samples)
        bx, by, bz = self.bias
        return (True,
                (velocity[0] - v0[0]) * inv_dt + bx + sigma * n[:, 0],
                (velocity[1] - v0[1]) * inv_dt + by + sigma * n[:, 1],
                (velocity[2] - v0[2]) * inv_dt + self.gravity + bz + sigma * n[:, 2])

    def keep(self, index: np.ndarray) -> None:
        self.noise_sigma, self.gravity = self.noise_sigma[index], self.gravity[index]
        self.bias = [b[index] for b in self.bias]
        self._v = self._v[:, index]
        self._draws.keep(index)
