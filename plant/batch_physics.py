"""The plant's substeps for a batch of landings: model.py's hot loop compiled, one case at a time.

advance_cases() runs model.py's _run for every case of a batch: the actuators propagated exactly,
RK4 over the mechanics of the case's mode (dynamics.attached, hanging, free), and the checks
between substeps (propellant out, bridles full, first contact with its extrapolated velocity, the
descent stage on the ground). The code is the scalar plant's, statement for statement, compiled
with numba: no fast-math (no reordering, no fused multiply-add), and math.exp, tan, tanh are the C
library's, the functions the scalar plant calls through Python's math module. A batch landing
therefore follows its scalar landing bit for bit (tests/test_batch.py holds it to that).

Why compiled rather than numpy over arrays: a substep is a few hundred small operations per case;
over arrays each one streams every case's numbers through memory, here they stay in registers.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numba import njit

from plant import actuators, dynamics
from plant.dynamics import ATTACHED, HANGING
from plant.params import PlantParams

# Rows of the (13, N) mechanical state, as dynamics.STATE_NAMES' first 13.
DS_X, DS_Y, DS_Z, DS_VX, DS_VY, DS_VZ = range(6)
ROVER_X, ROVER_Y, ROVER_Z, ROVER_VX, ROVER_VY, ROVER_VZ = range(6, 12)
LENGTH = 12
ROWS = 13


# The constants of every case: one record per case, a field per name of dynamics.Constants and
# actuators.ActuatorConstants, made by those very functions (so the derived numbers are the
# scalar plant's). advance_cases() reads a case's record; the sensors read a field over all cases.
CONSTANTS = dynamics.Constants._fields + actuators.ActuatorConstants._fields
CONSTANTS_DTYPE = np.dtype([(name, np.float64) for name in CONSTANTS])


def case_constants(params: Sequence[PlantParams]) -> np.ndarray:
    """The constants of these cases, as a structured array of CONSTANTS_DTYPE."""
    return np.array([tuple(dynamics.constants(p) + actuators.actuator_constants(p)) for p in params],
                    dtype=CONSTANTS_DTYPE)


# advance_cases()' event rows: the substep count at which each happened to a case, NO_EVENT if not.
PROPELLANT_OUT, BRIDLES_FULL, CONTACT, DS_GROUND = range(4)
NO_EVENT = -1

# The kernel keeps a case's state in a 13-tuple (registers, no arrays: arrays passed between
# compiled functions are reference counted, which costs more than the arithmetic). Entries a mode
# does not integrate (the rover while attached, the bridle length after the cut) get a zero
# derivative, so RK4 leaves them as they were, as the scalar plant's shorter state does.


@njit(cache=True)
def advance_cases(x, act, throttle_cmd, tilt_x_cmd, tilt_y_cmd, mode, alive, watch, wind_x, wind_y, constants,
                  stop_steps, steps, event_step, case, contact_v):
    """model.py's _run for every alive case: substeps from count `steps` to `stop_steps` with its
    commands, mode and wind held. x (13, N) and act (4, N) are advanced in place; watch (3, N)
    says which events a case still waits for (propellant out, bridles full, first contact).
    event_step (4, N) receives the substep count of each event (NO_EVENT: none), contact_v (3, cases)
    the rover's velocity at first contact, in the column of the case (case[j]) of array position j.
    A case whose descent stage reaches the ground stops there (its x stays at that substep; its
    DS_GROUND event says so). Cases not alive are left as they are."""
    for j in range(x.shape[1]):
        if not alive[j]:
            continue
        c = constants[j]
        m = mode[j]
        xs = (x[0, j], x[1, j], x[2, j], x[3, j], x[4, j], x[5, j], x[6, j], x[7, j], x[8, j], x[9, j], x[10, j],
              x[11, j], x[12, j])
        carried = c.rover_mass if m == ATTACHED else 0.0
        # Where the wheels are in xs: under the DS while attached, else the rover's own entries.
        wheel = 0 if m == ATTACHED else 6
        lift = c.deck_height if m == ATTACHED else 0.0
        wx, wy = wind_x[j], wind_y[j]
        throttle, tilt_x, tilt_y, propellant = act[0, j], act[1, j], act[2, j], act[3, j]
        cmd, cmd_x, cmd_y = throttle_cmd[j], tilt_x_cmd[j], tilt_y_cmd[j]
        f0 = _forcing(throttle, tilt_x, tilt_y, propellant, carried, c)
        dt = c.dt
        half = 0.5 * dt
        sixth = dt / 6.0
        s = steps
        while s < stop_steps:
            # actuators.propagate
            error = throttle - cmd
            throttle_mid = cmd + error * c.eta_half
            throttle_end = cmd + error * c.eta_full
            burn = c.burn_rate
            if propellant > 0.0:
                propellant_mid = propellant - burn * (cmd * 0.5 * dt + error * c.burn_half)
                propellant_end = propellant - burn * (cmd * dt + error * c.burn_full)
            else:
                propellant_mid = propellant_end = propellant
            tilt_x_mid, tilt_x_end = _tilt_pair(tilt_x, cmd_x, c)
            tilt_y_mid, tilt_y_end = _tilt_pair(tilt_y, cmd_y, c)
            throttle, tilt_x, tilt_y, propellant = throttle_end, tilt_x_end, tilt_y_end, propellant_end
            f_mid = _forcing(throttle_mid, tilt_x_mid, tilt_y_mid, propellant_mid, carried, c)
            f1 = _forcing(throttle_end, tilt_x_end, tilt_y_end, propellant_end, carried, c)
            # integrator.rk4_forced
            before = xs
            k1 = _derivative(m, xs, f0, wx, wy, c)
            k2 = _derivative(m, _stage(xs, half, k1), f_mid, wx, wy, c)
            k3 = _derivative(m, _stage(xs, half, k2), f_mid, wx, wy, c)
            k4 = _derivative(m, _stage(xs, dt, k3), f1, wx, wy, c)
            xs = _rk4_sum(xs, sixth, k1, k2, k3, k4)
            s += 1
            # Discrete checks between substeps, in model.py's order; events carry the substep's end.
            if watch[0, j] and propellant <= 0.0:
                propellant = 0.0
                watch[0, j] = False
                event_step[PROPELLANT_OUT, j] = s
            if watch[1, j] and m == HANGING and xs[12] >= c.length_max:
                xs = xs[:12] + (c.length_max,)
                watch[1, j] = False
                event_step[BRIDLES_FULL, j] = s
            if watch[2, j] and (c.ground_z0 + c.grad_x * xs[wheel] + c.grad_y * xs[wheel + 1] - xs[wheel + 2]
                                + lift) > 0.0:
                watch[2, j] = False
                event_step[CONTACT, j] = s
                v = _first_contact(m, before, f0, wx, wy, wheel, lift, c)
                contact_v[0, case[j]], contact_v[1, case[j]], contact_v[2, case[j]] = v
            if xs[2] - c.ground_z0 - c.grad_x * xs[0] - c.grad_y * xs[1] <= 0.0:
                event_step[DS_GROUND, j] = s
                break
            f0 = f1
        for i in range(13):
            x[i, j] = xs[i]
        act[0, j], act[1, j], act[2, j], act[3, j] = throttle, tilt_x, tilt_y, propellant


@njit(cache=True)
def _stage(x, h, d):
    """An RK4 stage's state: x + h d, entry by entry."""
    return (x[0] + h * d[0], x[1] + h * d[1], x[2] + h * d[2], x[3] + h * d[3], x[4] + h * d[4], x[5] + h * d[5],
            x[6] + h * d[6], x[7] + h * d[7], x[8] + h * d[8], x[9] + h * d[9], x[10] + h * d[10],
            x[11] + h * d[11], x[12] + h * d[12])


@njit(cache=True)
def _rk4_sum(x, sixth, k1, k2, k3, k4):
    """integrator.rk4_forced's last line: a + sixth * (b1 + 2.0 * (b2 + b3) + b4) per entry."""
    return (x[0] + sixth * (k1[0] + 2.0 * (k2[0] + k3[0]) + k4[0]),
            x[1] + sixth * (k1[1] + 2.0 * (k2[1] + k3[1]) + k4[1]),
            x[2] + sixth * (k1[2] + 2.0 * (k2[2] + k3[2]) + k4[2]),
            x[3] + sixth * (k1[3] + 2.0 * (k2[3] + k3[3]) + k4[3]),
            x[4] + sixth * (k1[4] + 2.0 * (k2[4] + k3[4]) + k4[4]),
            x[5] + sixth * (k1[5] + 2.0 * (k2[5] + k3[5]) + k4[5]),
            x[6] + sixth * (k1[6] + 2.0 * (k2[6] + k3[6]) + k4[6]),
            x[7] + sixth * (k1[7] + 2.0 * (k2[7] + k3[7]) + k4[7]),
            x[8] + sixth * (k1[8] + 2.0 * (k2[8] + k3[8]) + k4[8]),
            x[9] + sixth * (k1[9] + 2.0 * (k2[9] + k3[9]) + k4[9]),
            x[10] + sixth * (k1[10] + 2.0 * (k2[10] + k3[10]) + k4[10]),
            x[11] + sixth * (k1[11] + 2.0 * (k2[11] + k3[11]) + k4[11]),
            x[12] + sixth * (k1[12] + 2.0 * (k2[12] + k3[12]) + k4[12]))


@njit(cache=True)
def _forcing(throttle, tilt_x, tilt_y, propellant, carried, c):
    """actuators.forcing: (ax, ay, az, inv_mass) of the body carrying the engines."""
    if propellant > 0.0:
        mass = c.dry_mass + propellant + carried
        thrust = c.full_thrust * throttle
    else:
        mass = c.dry_mass + carried
        thrust = 0.0
    a, b = math.tan(tilt_x), math.tan(tilt_y)
    s = thrust / (mass * math.sqrt(1.0 + a * a + b * b))
    return a * s, b * s, s, 1.0 / mass


@njit(cache=True)
def _tilt_pair(tilt, cmd, c):
    """One tilt axis at mid-substep and at its end (actuators.propagate's branch)."""
    zone = c.linear_zone
    e = cmd - tilt
    if -zone <= e <= zone:
        return cmd - e * c.tilt_half, cmd - e * c.tilt_full
    return _tilt_after(tilt, cmd, 0.5 * c.dt, c), _tilt_after(tilt, cmd, c.dt, c)


@njit(cache=True)
def _tilt_after(tilt, cmd, s, c):
    """actuators.tilt_after: a ramp at the rate limit, then exponential."""
    error = cmd - tilt
    excess = abs(error) - c.linear_zone
    if excess > 0.0:
        ramp_time = excess / c.max_rate
        if s <= ramp_time:
            return tilt + math.copysign(c.max_rate * s, error)
        s -= ramp_time
        error = math.copysign(c.linear_zone, error)
    return cmd - error * math.exp(-s * c.inv_tau_tilt)


@njit(cache=True)
def _derivative(m, x, f, wind_x, wind_y, c):
    """dynamics.attached, hanging or free by mode, as a 13-tuple (zero where the mode integrates
    nothing)."""
    tax, tay, taz, inv_m = f
    g, rho0, datum, inv_h = c.gravity, c.density, c.datum, c.inv_scale_height
    px, py, pz, vx, vy, vz, rx, ry, rz, wx, wy, wz, length = x
    ux, uy = vx - wind_x, vy - wind_y
    if m == ATTACHED:
        q = (c.drag_stack * rho0 * math.exp((datum - pz) * inv_h)
             * math.sqrt(ux * ux + uy * uy + vz * vz) * inv_m)
        ax, ay, az = tax - q * ux, tay - q * uy, taz - q * vz - g
        # A stack landed without separating stands on the rover's wheels.
        depth = (c.ground_z0 + c.grad_x * px + c.grad_y * py - pz + c.deck_height) * c.cos_slope
        if depth > 0.0:
            fx, fy, fz = _wheel_contact(depth, vx, vy, vz, c)
            ax += fx * inv_m
            ay += fy * inv_m
            az += fz * inv_m
        return vx, vy, vz, ax, ay, az, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0
    inv_mr = c.inv_rover_mass
    # Drag, each body at the density of its own height.
    q = c.drag_ds * rho0 * math.exp((datum - pz) * inv_h) * math.sqrt(ux * ux + uy * uy + vz * vz)
    q *= inv_m
    ax, ay, az = tax - q * ux, tay - q * uy, taz - q * vz - g
    ux, uy = wx - wind_x, wy - wind_y
    q = c.drag_rover * rho0 * math.exp((datum - rz) * inv_h) * math.sqrt(ux * ux + uy * uy + wz * wz)
    q *= inv_mr
    bx, by, bz = -q * ux, -q * uy, -q * wz - g
    payout = 0.0
    if m == HANGING:
        # Bridle: a tension-only spring-damper whose rest length the BUD pays out.
        dx, dy, dz = px - rx, py - ry, pz - rz - c.deck_height
        dist = math.sqrt(dx * dx + dy * dy + dz * dz)
        stretch = dist - length
        if stretch > 0.0:
            spring = c.bridle_k * stretch
            if length < c.length_max:  # the spool turns with line tension, up to the brake's speed
                payout = spring * c.inv_spool_c
                if payout > c.payout_max:
                    payout = c.payout_max
            inv_d = 1.0 / dist
            ex, ey, ez = dx * inv_d, dy * inv_d, dz * inv_d
            tension = spring + c.bridle_c * ((vx - wx) * ex + (vy - wy) * ey + (vz - wz) * ez - payout)
            if tension > 0.0:  # the damper cannot push the rope either
                sx, sy, sz = tension * ex, tension * ey, tension * ez
                ax -= sx * inv_m
                ay -= sy * inv_m
                az -= sz * inv_m
                bx += sx * inv_mr
                by += sy * inv_mr
                bz += sz * inv_mr
    depth = (c.ground_z0 + c.grad_x * rx + c.grad_y * ry - rz) * c.cos_slope
    if depth > 0.0:
        fx, fy, fz = _wheel_contact(depth, wx, wy, wz, c)
        bx += fx * inv_mr
        by += fy * inv_mr
        bz += fz * inv_mr
    return vx, vy, vz, ax, ay, az, wx, wy, wz, bx, by, bz, payout


@njit(cache=True)
def _wheel_contact(depth, vx, vy, vz, c):
    """dynamics.wheel_contact: the terrain's force on the wheels at penetration depth > 0."""
    nz = c.cos_slope
    nx, ny = -c.grad_x * nz, -c.grad_y * nz
    vn = nx * vx + ny * vy + nz * vz
    normal = c.ground_k * depth - c.ground_c * vn
    if normal <= 0.0:  # rebounding faster than the spring extends: the ground does not pull
        return 0.0, 0.0, 0.0
    tx, ty, tz = vx - vn * nx, vy - vn * ny, vz - vn * nz
    speed = math.sqrt(tx * tx + ty * ty + tz * tz)
    if speed > 1e-9:
        scale = c.friction_mu * normal * math.tanh(speed * c.inv_slip_vel) / speed
    else:  # tanh(s / v_s) / s -> 1 / v_s
        scale = c.friction_mu * normal * c.inv_slip_vel
    return normal * nx - scale * tx, normal * ny - scale * ty, normal * nz - scale * tz


@njit(cache=True)
def _first_contact(m, before, f0, wind_x, wind_y, wheel, lift, c):
    """model.py's _first_contact: the rover's velocity at the instant its wheel point reached the
    terrain plane, extrapolated at constant acceleration from the contact-free state before the
    substep, along the terrain normal."""
    accel = _derivative(m, before, f0, wind_x, wind_y, c)
    nz = c.cos_slope
    nx, ny = -c.grad_x * nz, -c.grad_y * nz
    px, py, pz = before[wheel], before[wheel + 1], before[wheel + 2] - lift
    vx, vy, vz = before[wheel + 3], before[wheel + 4], before[wheel + 5]
    ax, ay, az = accel[wheel + 3], accel[wheel + 4], accel[wheel + 5]
    gap = (pz - c.ground_z0 - c.grad_x * px - c.grad_y * py) * nz  # > 0: above the plane
    # sum() over the three products, as model.py forms it (Python's sum starts from 0)
    vn = 0.0 + nx * vx + ny * vy + nz * vz
    an = 0.0 + nx * ax + ny * ay + nz * az
    # First root of gap + vn s + an s^2 / 2 = 0, in the cancellation-free form.
    disc = vn * vn - 2.0 * an * gap
    denom = -vn + math.sqrt(disc) if disc >= 0.0 else 0.0
    s = 2.0 * gap / denom if denom > 0.0 and gap > 0.0 else 0.0
    s = min(s, c.dt)
    return vx + ax * s, vy + ay * s, vz + az * s
