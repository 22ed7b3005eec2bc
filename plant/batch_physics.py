"""The plant's equations over numpy arrays, one element per landing: constants, actuators, mechanics.

The same equations as actuators.py and dynamics.py, written in the same floating-point order
(so a batch landing follows its scalar landing to the last bits numpy's exp and tan allow), with
the three mechanical modes in one derivative: a case's mode picks its terms by mask.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np

from plant import actuators, dynamics
from plant.dynamics import ATTACHED, HANGING
from plant.params import PlantParams

# Rows of the (13, N) mechanical state, as dynamics.STATE_NAMES' first 13.
DS_X, DS_Y, DS_Z, DS_VX, DS_VY, DS_VZ = range(6)
ROVER_X, ROVER_Y, ROVER_Z, ROVER_VX, ROVER_VY, ROVER_VZ = range(6, 12)
LENGTH = 12
ROWS = 13


@dataclass
class CaseConstants:
    """dynamics.Constants and actuators.ActuatorConstants of every case, one array per field,
    made by those very functions (so the derived numbers are the scalar plant's)."""

    gravity: np.ndarray
    deck_height: np.ndarray
    inv_rover_mass: np.ndarray
    drag_ds: np.ndarray
    drag_rover: np.ndarray
    drag_stack: np.ndarray
    density: np.ndarray
    datum: np.ndarray
    inv_scale_height: np.ndarray
    bridle_k: np.ndarray
    bridle_c: np.ndarray
    inv_spool_c: np.ndarray
    payout_max: np.ndarray
    length_max: np.ndarray
    ground_z0: np.ndarray
    grad_x: np.ndarray
    grad_y: np.ndarray
    cos_slope: np.ndarray
    ground_k: np.ndarray
    ground_c: np.ndarray
    friction_mu: np.ndarray
    inv_slip_vel: np.ndarray
    full_thrust: np.ndarray
    inv_tau_engine: np.ndarray
    tau_engine: np.ndarray
    inv_tau_tilt: np.ndarray
    tau_tilt: np.ndarray
    max_rate: np.ndarray
    linear_zone: np.ndarray
    burn_rate: np.ndarray
    dry_mass: np.ndarray
    rover_mass: np.ndarray
    dt: np.ndarray
    eta_half: np.ndarray
    eta_full: np.ndarray
    burn_half: np.ndarray
    burn_full: np.ndarray
    tilt_half: np.ndarray
    tilt_full: np.ndarray
    # products the scalar code forms first in every use, so precomputing them changes no bit
    drag_ds_rho: np.ndarray     # drag_ds * density
    drag_rover_rho: np.ndarray  # drag_rover * density
    drag_stack_rho: np.ndarray  # drag_stack * density
    normal_x: np.ndarray        # -grad_x * cos_slope: the terrain normal as wheel_contact forms it
    normal_y: np.ndarray

    @classmethod
    def of(cls, params: Sequence[PlantParams]) -> CaseConstants:
        rows = [dynamics.constants(p) + actuators.actuator_constants(p) for p in params]
        names = dynamics.Constants._fields + actuators.ActuatorConstants._fields
        columns = {name: np.array(col, dtype=float) for name, col in zip(names, zip(*rows))}
        c = columns
        return cls(**columns, drag_ds_rho=c["drag_ds"] * c["density"], drag_rover_rho=c["drag_rover"] * c["density"],
                   drag_stack_rho=c["drag_stack"] * c["density"], normal_x=-c["grad_x"] * c["cos_slope"],
                   normal_y=-c["grad_y"] * c["cos_slope"])

    def take(self, index: np.ndarray) -> CaseConstants:
        return CaseConstants(**{f.name: getattr(self, f.name)[index] for f in fields(self)})


def only_where(mask: np.ndarray, values, other):
    """np.where(mask, values, other), without the selection pass when the mask is all true (the
    common case: the same numbers either way, a third of the cost)."""
    return values if mask.all() else np.where(mask, values, other)


# -- actuators ------------------------------------------------------------------------------------

def forcing(throttle, tilt_x, tilt_y, propellant, carried, k: CaseConstants):
    """actuators.forcing over arrays: (ax, ay, az, inv_mass) of the body carrying the engines."""
    burning = propellant > 0.0
    if burning.all():             # the rule until the tanks run dry: no selection to pay for
        mass, thrust = k.dry_mass + propellant + carried, k.full_thrust * throttle
    else:
        mass = np.where(burning, k.dry_mass + propellant + carried, k.dry_mass + carried)
        thrust = np.where(burning, k.full_thrust * throttle, 0.0)
    a, b = np.tan(tilt_x), np.tan(tilt_y)
    s = thrust / (mass * np.sqrt(1.0 + a * a + b * b))
    return a * s, b * s, s, 1.0 / mass


def _tilt_after(tilt, cmd, s: float, k: CaseConstants):
    """actuators.tilt_after over arrays (for the cases outside the linear zone)."""
    error = cmd - tilt
    excess = np.abs(error) - k.linear_zone
    ramp_time = excess / k.max_rate
    on_ramp = s <= ramp_time
    ramp = tilt + np.copysign(k.max_rate * s, error)
    after = cmd - np.copysign(k.linear_zone, error) * np.exp(-(s - ramp_time) * k.inv_tau_tilt)
    return np.where(on_ramp, ramp, after)


def _tilt_pair(tilt, cmd, k: CaseConstants):
    """One tilt axis at mid-substep and at its end (actuators.propagate's branch per axis)."""
    e = cmd - tilt
    mid, end = cmd - e * k.tilt_half, cmd - e * k.tilt_full
    outside = np.abs(e) > k.linear_zone
    if outside.any():
        i = np.flatnonzero(outside)
        ki = k.take(i)
        mid[i] = _tilt_after(tilt[i], cmd[i], 0.5 * ki.dt[0], ki)
        end[i] = _tilt_after(tilt[i], cmd[i], ki.dt[0], ki)
    return mid, end


def propagate(act: list[np.ndarray], throttle_cmd, tilt_x_cmd, tilt_y_cmd, carried, k: CaseConstants):
    """actuators.propagate over arrays: act = [throttle, tilt_x, tilt_y, propellant] is replaced by
    its values a substep on; returns the forcing at mid-substep and at the end."""
    throttle, tilt_x, tilt_y, propellant = act
    error = throttle - throttle_cmd
    throttle_mid = throttle_cmd + error * k.eta_half
    throttle_end = throttle_cmd + error * k.eta_full
    burn = k.burn_rate
    propellant_mid = only_where(propellant > 0.0, propellant - burn * (throttle_cmd * 0.5 * k.dt + error * k.burn_half),
                                propellant)
    propellant_end = only_where(propellant > 0.0, propellant - burn * (throttle_cmd * k.dt + error * k.burn_full),
                                propellant)
    tilt_x_mid, tilt_x_end = _tilt_pair(tilt_x, tilt_x_cmd, k)
    tilt_y_mid, tilt_y_end = _tilt_pair(tilt_y, tilt_y_cmd, k)
    act[:] = [throttle_end, tilt_x_end, tilt_y_end, propellant_end]
    return (forcing(throttle_mid, tilt_x_mid, tilt_y_mid, propellant_mid, carried, k),
            forcing(throttle_end, tilt_x_end, tilt_y_end, propellant_end, carried, k))


# -- mechanics ------------------------------------------------------------------------------------

@dataclass
class Modes:
    """Which cases are in which mode. The batch keeps its cases sorted by mode (attached, then
    hanging, then free: BatchPlant.mode_order), so each mode is a slice and its terms are computed
    on views, without gathering."""

    attached: slice
    hanging: slice
    free: slice
    separated: slice         # hanging and free: every case with a rover of its own
    ds_drag: np.ndarray      # drag * density of the DS alone, or of the stack while attached
    # Set for each run of substeps (near_ground): whether some attached stack could reach the
    # terrain in it. Out of reach it feels no contact force, so its contact term is left out.
    stack_near: bool = True

    @classmethod
    def of(cls, mode: np.ndarray, k: CaseConstants) -> Modes:
        counts = np.bincount(mode, minlength=3)
        if (np.diff(mode) < 0).any():
            raise ValueError("the batch's cases must be sorted by mode")
        a, h = int(counts[ATTACHED]), int(counts[HANGING])
        attached = mode == ATTACHED
        return cls(slice(0, a), slice(a, a + h), slice(a + h, mode.size), slice(a, mode.size),
                   np.where(attached, k.drag_stack_rho, k.drag_ds_rho))

    def near_ground(self, x: np.ndarray, k: CaseConstants, seconds: float) -> None:
        """Whether an attached stack's wheels could reach the terrain within `seconds` (wide margin)."""
        a = self.attached
        reach = 5.0 + seconds * (50.0 + np.abs(x[DS_VZ, a]).max(initial=0.0))
        height = x[DS_Z, a] - k.deck_height[a] - (k.ground_z0[a] + k.grad_x[a] * x[DS_X, a] + k.grad_y[a] * x[DS_Y, a])
        self.stack_near = bool((height < reach).any())


def derivative(x: np.ndarray, f, wind_x, wind_y, m: Modes, k: CaseConstants, out: np.ndarray) -> np.ndarray:
    """d/dt of the (13, N) mechanical state into `out`: dynamics.attached for the attached slice,
    hanging and free for the others (the DS's drag is one law for all, its coefficient by mode).

    Attached cases integrate the DS rows only: their other rows of `out` are not written (rk4
    keeps those rows of the state as they were; the rover is rewritten from the DS at separation,
    as the scalar plant mirrors it)."""
    tax, tay, taz, inv_m = f
    pz, vx, vy, vz = x[2:6]
    g = k.gravity
    out[0:3] = x[3:6]
    ux, uy = vx - wind_x, vy - wind_y
    q = m.ds_drag * np.exp((k.datum - pz) * k.inv_scale_height) * np.sqrt(ux * ux + uy * uy + vz * vz)
    q *= inv_m
    # tax - q * ux and so on, written straight into out's rows (no temporaries to copy)
    np.subtract(tax, q * ux, out=out[3])
    np.subtract(tay, q * uy, out=out[4])
    np.subtract(taz, q * vz, out=out[5])
    out[5] -= g
    if m.stack_near and m.attached.stop:
        _stack_contact(x, out, inv_m, m.attached, k)
    s = m.separated
    if s.start < s.stop:
        out[6:9, s] = x[9:12, s]
        out[12, s] = 0.0
        _rover(x, out, wind_x, wind_y, s, k)
        if m.hanging.start < m.hanging.stop:
            _bridle(x, out, inv_m, m.hanging, k)
        _rover_contact(x, out, s, k)
    return out


def _rover(x, out, wind_x, wind_y, s: slice, k: CaseConstants) -> None:
    """A separated rover's gravity and drag (dynamics.hanging / free), into out's rover rows."""
    wx, wy, wz = x[9, s], x[10, s], x[11, s]
    ux, uy = wx - wind_x[s], wy - wind_y[s]
    q = k.drag_rover_rho[s] * np.exp((k.datum[s] - x[ROVER_Z, s]) * k.inv_scale_height[s]) * np.sqrt(
        ux * ux + uy * uy + wz * wz)
    q *= -k.inv_rover_mass[s]          # -q from here: -q * ux is (-q) * ux, bit for bit
    np.multiply(q, ux, out=out[9, s])
    np.multiply(q, uy, out=out[10, s])
    np.multiply(q, wz, out=out[11, s])
    out[11, s] -= k.gravity[s]


def _bridle(x, out, inv_m, h: slice, k: CaseConstants) -> None:
    """The hanging cases' bridle: a tension-only spring-damper paid out by the BUD (dynamics.hanging).
    Forces are added where the rope pulls; adding 0.0 elsewhere leaves a number as it was."""
    px, py, pz, vx, vy, vz, rx, ry, rz, wx, wy, wz, length = x[:, h]
    dx, dy, dz = px - rx, py - ry, pz - rz - k.deck_height[h]
    dist = np.sqrt(dx * dx + dy * dy + dz * dz)
    stretch = dist - length
    taut = stretch > 0.0
    if not taut.any():
        return
    spring = k.bridle_k[h] * stretch
    spooling = taut & (length < k.length_max[h])
    payout = only_where(spooling, np.minimum(spring * k.inv_spool_c[h], k.payout_max[h]), 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        inv_d = 1.0 / dist
        ex, ey, ez = dx * inv_d, dy * inv_d, dz * inv_d
        tension = spring + k.bridle_c[h] * ((vx - wx) * ex + (vy - wy) * ey + (vz - wz) * ez - payout)
    pulls = taut & (tension > 0.0)
    sx, sy, sz = (only_where(pulls, tension * e, 0.0) for e in (ex, ey, ez))   # a slack rope adds 0.0
    inv_ds, inv_mr = inv_m[h], k.inv_rover_mass[h]
    out[3, h] -= sx * inv_ds
    out[4, h] -= sy * inv_ds
    out[5, h] -= sz * inv_ds
    out[9, h] += sx * inv_mr
    out[10, h] += sy * inv_mr
    out[11, h] += sz * inv_mr
    out[12, h] = payout


def _rover_contact(x, out, s: slice, k: CaseConstants) -> None:
    """Terrain force on the separated rovers' wheels, added where they touch. While only some
    touch (rovers still hanging above the ground), the force is computed for those alone."""
    depth = (k.ground_z0[s] + k.grad_x[s] * x[ROVER_X, s] + k.grad_y[s] * x[ROVER_Y, s] - x[ROVER_Z, s]) * k.cos_slope[s]
    touching = depth > 0.0
    count = np.count_nonzero(touching)
    if not count:
        return
    if 2 * count < depth.size:
        i = np.flatnonzero(touching)
        depth, touching, at = depth[i], touching[i], i + s.start
    else:
        at = s
    fx, fy, fz = wheel_contact(depth, x[ROVER_VX, at], x[ROVER_VY, at], x[ROVER_VZ, at], touching, at, k)
    inv_mr = k.inv_rover_mass[at]
    out[9, at] += fx * inv_mr
    out[10, at] += fy * inv_mr
    out[11, at] += fz * inv_mr


def _stack_contact(x, out, inv_m, a: slice, k: CaseConstants) -> None:
    """A stack landed without separating stands on the rover's wheels (dynamics.attached)."""
    depth = (k.ground_z0[a] + k.grad_x[a] * x[DS_X, a] + k.grad_y[a] * x[DS_Y, a] - x[DS_Z, a]
             + k.deck_height[a]) * k.cos_slope[a]
    touching = depth > 0.0
    if not touching.any():
        return
    fx, fy, fz = wheel_contact(depth, x[DS_VX, a], x[DS_VY, a], x[DS_VZ, a], touching, a, k)
    inv = inv_m[a]
    out[3, a] += fx * inv
    out[4, a] += fy * inv
    out[5, a] += fz * inv


def wheel_contact(depth, vx, vy, vz, touching, i, k: CaseConstants):
    """dynamics.wheel_contact for the cases at positions (or slice) i: the force where they touch
    (depth > 0), 0.0 elsewhere (adding it changes nothing)."""
    nx, ny, nz = k.normal_x[i], k.normal_y[i], k.cos_slope[i]
    vn = nx * vx + ny * vy + nz * vz
    normal = k.ground_k[i] * depth - k.ground_c[i] * vn
    pushes = touching & (normal > 0.0)   # rebounding faster than the spring extends: the ground does not pull
    tx, ty, tz = vx - vn * nx, vy - vn * ny, vz - vn * nz
    speed = np.sqrt(tx * tx + ty * ty + tz * tz)
    mu, inv_slip = k.friction_mu[i], k.inv_slip_vel[i]
    sliding = speed > 1e-9
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = only_where(sliding, mu * normal * np.tanh(speed * inv_slip) / speed, mu * normal * inv_slip)
    return (only_where(pushes, normal * nx - scale * tx, 0.0), only_where(pushes, normal * ny - scale * ty, 0.0),
            only_where(pushes, normal * nz - scale * tz, 0.0))


class Rk4Buffers:
    """The arrays one RK4 step works in, kept between substeps: fresh (13, N) arrays every
    substep cost more in page faults than the arithmetic done in them. The step's result is
    written into `spare`, and the state it replaced becomes the next spare."""

    def __init__(self, n: int) -> None:
        self.k1, self.k2, self.k3, self.k4, self.y, self.spare = (np.zeros((ROWS, n)) for _ in range(6))


def rk4(x: np.ndarray, dt: float, f0, f_mid, f1, wind_x, wind_y, m: Modes, k: CaseConstants,
        b: Rk4Buffers) -> np.ndarray:
    """integrator.rk4_forced over the (13, N) state, with the scalar's operations (an IEEE sum or
    product does not depend on its operands' order), into b.spare; x becomes the new spare.
    The DS rows are stepped for every case, the other rows for the separated ones only
    (attached cases keep them)."""
    half = 0.5 * dt
    parts = [(slice(0, 6), slice(None))]
    if m.separated.start < m.separated.stop:
        parts.append((slice(6, ROWS), m.separated))
    k1, k2, k3, k4, y, new = b.k1, b.k2, b.k3, b.k4, b.y, b.spare

    def stage(k_prev, h):
        for part in parts:
            np.multiply(k_prev[part], h, out=y[part])
            y[part] += x[part]
        return y

    derivative(x, f0, wind_x, wind_y, m, k, k1)
    derivative(stage(k1, half), f_mid, wind_x, wind_y, m, k, k2)
    derivative(stage(k2, half), f_mid, wind_x, wind_y, m, k, k3)
    derivative(stage(k3, dt), f1, wind_x, wind_y, m, k, k4)
    sixth = dt / 6.0
    for part in parts:
        out = new[part]
        np.add(k2[part], k3[part], out=out)
        out *= 2.0
        out += k1[part]
        out += k4[part]
        out *= sixth
        out += x[part]
    if m.attached.start < m.attached.stop:
        new[6:, m.attached] = x[6:, m.attached]
    b.spare = x
    return new
