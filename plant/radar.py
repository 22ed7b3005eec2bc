"""Terminal Descent Sensor model: beam slant ranges to altitude, velocity, latency and glitches."""
import math
from collections import deque
from typing import NamedTuple

import numpy as np

from plant.params import RadarParams
from plant.terrain import Terrain

NAN = float("nan")


class Measurement(NamedTuple):
    """One radar solution as delivered to the flight computer."""

    due_step: int       # substep count at which it is delivered
    valid: bool         # False for a dropout or a geometry without a solution
    altitude_m: float   # m, DS height above the fitted terrain plane, vertically
    vx_mps: float       # m/s, ground-relative DS velocity
    vy_mps: float
    vz_mps: float


def beam_directions(cant_deg: float) -> tuple[tuple[float, float, float], ...]:
    """Three beams in the DS body frame, canted off the down axis, 120 degrees apart in azimuth."""
    cant = math.radians(cant_deg)
    s, c = math.sin(cant), math.cos(cant)
    return tuple((s * math.cos(az), s * math.sin(az), -c)
                 for az in (0.0, 2.0 * math.pi / 3.0, 4.0 * math.pi / 3.0))


def body_to_world(tilt_x: float, tilt_y: float, v: tuple[float, float, float]):
    """Rotate a body-frame vector by the DS attitude R = Ry(tilt_x) Rx(-beta), which takes the
    body z axis to the thrust direction (tan tilt_x, tan tilt_y, 1) normalised; no yaw."""
    a, b = math.tan(tilt_x), math.tan(tilt_y)
    sin_beta = b / math.sqrt(1.0 + a * a + b * b)
    cos_beta = math.sqrt(1.0 - sin_beta * sin_beta)
    x, y, z = v
    y, z = cos_beta * y + sin_beta * z, -sin_beta * y + cos_beta * z
    ca, sa = math.cos(tilt_x), math.sin(tilt_x)
    return ca * x + sa * z, y, -sa * x + ca * z


class Radar:
    """Measures at rate_hz from the truth of that instant; delivers each latency_s later.

    Random draws per measurement are fixed (six normals from `normals`, five uniforms from
    `uniforms`; plant/noise.py), so the streams do not depend on which errors are switched on. The
    per-beam scale errors are drawn once, here, from `uniforms`."""

    def __init__(self, params: RadarParams, substep_hz: float, plane: Terrain,
                 normals: np.random.Generator, uniforms: np.random.Generator) -> None:
        self.params = params
        self.every = max(1, round(substep_hz / params.rate_hz))  # substeps between measurements
        self.delay = round(params.latency_s * substep_hz)         # substeps of latency
        self.plane = plane
        self.beams = beam_directions(params.beam_cant_deg)
        bound = params.range_scale_error
        self.scale = [1.0 + e for e in uniforms.uniform(-bound, bound, len(self.beams)).tolist()]
        self._normals, self._uniforms = normals, uniforms
        self._pending: deque[Measurement] = deque()
        # What the flight computer holds: the newest delivered measurement.
        self.seq = 0
        self.valid = False
        self.altitude_m = self.vx_mps = self.vy_mps = self.vz_mps = NAN

    def measure(self, step: int, ds: tuple[float, float, float], v: tuple[float, float, float],
                tilt_x: float, tilt_y: float, thrusting: bool) -> None:
        """Take one measurement of the DS at position ds, velocity v, for delivery later."""
        p = self.params
        n_vx, n_vy, n_vz, *n_range = self._normals.standard_normal(6).tolist()
        u_drop, u_dust, u_axis, u_size, u_sign = self._uniforms.random(5).tolist()
        plane = self.plane
        height = ds[2] - (plane.height + plane.grad_x * ds[0] + plane.grad_y * ds[1])
        dusty = thrusting and height < p.dust_altitude_m  # the plume lofts debris into the beams
        altitude = self._altitude(ds, tilt_x, tilt_y, n_range)
        p_drop = p.dropout_probability + (p.dust_dropout_probability if dusty else 0.0)
        valid = altitude is not None and u_drop >= p_drop
        sigma = p.velocity_sigma_mps
        vel = [v[0] + sigma * n_vx, v[1] + sigma * n_vy, v[2] + sigma * n_vz]
        if dusty and u_dust < p.dust_glitch_probability:
            # Plume-lofted debris: one axis reads a few tenths to ~1 m/s off (Chen & Pollard 2014).
            size = p.dust_glitch_min_mps + (p.dust_glitch_max_mps - p.dust_glitch_min_mps) * u_size
            vel[min(2, int(3.0 * u_axis))] += size if u_sign < 0.5 else -size
        self._pending.append(Measurement(step + self.delay, valid,
                                         altitude if valid else NAN, *vel))

    def deliver(self, step: int) -> None:
        """Hand over every measurement due by substep count `step`; hold the newest."""
        pending = self._pending
        while pending and pending[0].due_step <= step:
            m = pending.popleft()
            self.seq += 1
            self.valid = m.valid
            if m.valid:  # a dropout keeps the last valid values, flagged invalid
                self.altitude_m, self.vx_mps, self.vy_mps, self.vz_mps = m[2:]

    def _altitude(self, ds, tilt_x: float, tilt_y: float, noise: list[float]) -> float | None:
        """Vertical height above the plane through the three beam ground points, or None when a
        beam does not reach the terrain."""
        plane = self.plane
        nz = plane.nz
        nx, ny = -plane.grad_x * nz, -plane.grad_y * nz
        above = (ds[2] - (plane.height + plane.grad_x * ds[0] + plane.grad_y * ds[1])) * nz
        if above <= 0.0:
            return None
        points = []
        for beam, scale, n in zip(self.beams, self.scale, noise):
            dx, dy, dz = body_to_world(tilt_x, tilt_y, beam)
            closing = -(nx * dx + ny * dy + nz * dz)  # cosine between beam and the down-normal
            if closing < 1e-3:
                return None
            r = above / closing * scale * (1.0 + self.params.range_sigma_fraction * n)
            points.append((r * dx, r * dy, r * dz))
        (x1, y1, z1), (x2, y2, z2), (x3, y3, z3) = points
        # Plane through the three points (relative to the DS): normal = (p2 - p1) x (p3 - p1).
        ax, ay, az = x2 - x1, y2 - y1, z2 - z1
        bx, by, bz = x3 - x1, y3 - y1, z3 - z1
        cx, cy, cz = ay * bz - az * by, az * bx - ax * bz, ax * by - ay * bx
        if abs(cz) < 1e-9:
            return None
        # Height of that plane at the DS's (x, y) = (0, 0): z = z1 + (cx x1 + cy y1) / cz.
        return -(z1 + (cx * x1 + cy * y1) / cz)
