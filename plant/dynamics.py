"""Equations of motion of descent stage and rover: pure derivatives on flat lists of floats."""
import math
from typing import NamedTuple, Sequence

from plant import actuators
from plant.actuators import ActuatorConstants, Forcing
from plant.environment import gravity_mps2
from plant.params import PlantParams
from plant.terrain import terrain

# Mechanical state (all SI). Positions: DS = its bridle attachment point (underside),
# rover = its wheel bottom. World frame, z up.
MECH_NAMES = (
    "ds_x", "ds_y", "ds_z", "ds_vx", "ds_vy", "ds_vz",                    # m, m/s
    "rover_x", "rover_y", "rover_z", "rover_vx", "rover_vy", "rover_vz",  # m, m/s
    "bridle_length_m",                                                    # m, unstretched, paid out
)
(DS_X, DS_Y, DS_Z, DS_VX, DS_VY, DS_VZ, ROVER_X, ROVER_Y, ROVER_Z, ROVER_VX, ROVER_VY, ROVER_VZ,
 BRIDLE_LENGTH) = range(len(MECH_NAMES))
# The full state adds the actuators (plant.actuators order) for the reference derivative.
STATE_NAMES = MECH_NAMES + ("throttle_actual", "tilt_x_rad", "tilt_y_rad", "propellant_kg")
THROTTLE, TILT_X, TILT_Y, PROPELLANT = range(len(MECH_NAMES), len(STATE_NAMES))

# Mechanical configurations; the host latches them in order.
ATTACHED = 0  # rover rigidly under the DS: one body; its derivative covers the DS entries only
HANGING = 1   # separated, bridle connects the two bodies
FREE = 2      # bridle cut: two independent bodies; the bridle length is frozen

# Mechanical entries each mode integrates (ATTACHED: the DS; FREE: all but the bridle length).
MODE_SIZE = {ATTACHED: 6, HANGING: 13, FREE: 12}


class Constants(NamedTuple):
    """Parameters pre-digested into the floats the mechanics use (a tuple unpacks fast)."""

    gravity: float          # m/s^2
    deck_height: float      # m, wheel bottom to bridle attachment
    inv_rover_mass: float   # 1/kg
    drag_ds: float          # m^2, 0.5 Cd A of the DS
    drag_rover: float       # m^2, 0.5 Cd A of the rover
    drag_stack: float       # m^2, 0.5 Cd A of DS and rover together (no shielding)
    density: float          # kg/m^3 at the terrain datum
    datum: float            # m, terrain height at the origin: where density = `density`
    inv_scale_height: float  # 1/m
    bridle_k: float         # N/m
    bridle_c: float         # N s/m
    inv_spool_c: float      # m/(N s): spool speed per newton of line tension
    payout_max: float       # m/s, the BUD brake's speed
    length_max: float       # m, bridle fully out
    ground_z0: float        # m, terrain height at the origin
    grad_x: float           # terrain dz/dx
    grad_y: float           # terrain dz/dy
    cos_slope: float        # z component of the terrain's unit normal
    ground_k: float         # N/m
    ground_c: float         # N s/m
    friction_mu: float      # -
    inv_slip_vel: float     # s/m, tanh regularisation of Coulomb friction


class Inputs(NamedTuple):
    """What the reference derivative holds constant: commands, configuration and wind."""

    throttle_cmd: float  # fraction of full thrust, already conditioned (0 = off)
    tilt_x_cmd: float    # rad, already clipped
    tilt_y_cmd: float    # rad, already clipped
    mode: int            # ATTACHED, HANGING or FREE
    wind_x: float        # m/s
    wind_y: float        # m/s


def constants(params: PlantParams) -> Constants:
    """Reduce the parameter tree to the flat constants of the mechanics."""
    rover, env, ground, bridle = params.rover, params.environment, params.ground, params.bridle
    plane = terrain(params.terrain)
    return Constants(
        gravity=gravity_mps2(env),
        deck_height=float(rover.deck_height_m),
        inv_rover_mass=1.0 / rover.mass_kg,
        drag_ds=0.5 * params.descent_stage.drag_area_m2,
        drag_rover=0.5 * rover.drag_area_m2,
        drag_stack=0.5 * (params.descent_stage.drag_area_m2 + rover.drag_area_m2),
        density=float(env.density_kg_m3),
        datum=plane.height,
        inv_scale_height=1.0 / env.scale_height_m,
        bridle_k=float(bridle.stiffness_n_per_m),
        bridle_c=float(bridle.damping_n_s_per_m),
        inv_spool_c=1.0 / bridle.spool_damping_n_s_per_m,
        payout_max=float(bridle.payout_rate_mps),
        length_max=float(bridle.length_m),
        ground_z0=plane.height, grad_x=plane.grad_x, grad_y=plane.grad_y, cos_slope=plane.nz,
        ground_k=float(ground.stiffness_n_per_m),
        ground_c=float(ground.damping_n_s_per_m),
        friction_mu=float(ground.friction_coefficient),
        inv_slip_vel=1.0 / ground.slip_velocity_mps,
    )


def attached(x: Sequence[float], f: Forcing, u: tuple[float, float], c: Constants) -> tuple:
    """d/dt of the DS entries while the rover rides rigidly under it (one body)."""
    (px, py, pz, vx, vy, vz) = x
    tax, tay, taz, inv_m = f  # thrust acceleration and 1/mass of the stack
    wind_x, wind_y = u
    # One unpack instead of a named lookup per constant: this runs four times a substep.
    (g, deck, _, _, _, drag_stack, rho0, datum, inv_h, _, _, _, _, _, z0, grad_x, grad_y, cos_s,
     _, _, _, _) = c
    ux, uy = vx - wind_x, vy - wind_y
    q = (drag_stack * rho0 * math.exp((datum - pz) * inv_h)
         * math.sqrt(ux * ux + uy * uy + vz * vz) * inv_m)
    ax, ay, az = tax - q * ux, tay - q * uy, taz - q * vz - g
    # A stack landed without separating stands on the rover's wheels.
    depth = (z0 + grad_x * px + grad_y * py - pz + deck) * cos_s
    if depth > 0.0:
        fx, fy, fz = wheel_contact(depth, vx, vy, vz, c)
        ax += fx * inv_m
        ay += fy * inv_m
        az += fz * inv_m
    return vx, vy, vz, ax, ay, az


def hanging(x: Sequence[float], f: Forcing, u: tuple[float, float], c: Constants) -> tuple:
    """d/dt of the 13 mechanical entries with the bridle connecting the bodies."""
    (px, py, pz, vx, vy, vz,      # DS attachment point
     rx, ry, rz, wx, wy, wz,      # rover wheel bottom
     length) = x                  # bridle paid out
    tax, tay, taz, inv_m = f
    wind_x, wind_y = u
    (g, deck, inv_mr, drag_ds, drag_rv, _, rho0, datum, inv_h, k, cb, inv_spool, payout_max,
     length_max, z0, grad_x, grad_y, cos_s, _, _, _, _) = c
    # Drag, each body at the density of its own height.
    ux, uy = vx - wind_x, vy - wind_y
    q = drag_ds * rho0 * math.exp((datum - pz) * inv_h) * math.sqrt(ux * ux + uy * uy + vz * vz)
    q *= inv_m
    ax, ay, az = tax - q * ux, tay - q * uy, taz - q * vz - g
    ux, uy = wx - wind_x, wy - wind_y
    q = drag_rv * rho0 * math.exp((datum - rz) * inv_h) * math.sqrt(ux * ux + uy * uy + wz * wz)
    q *= inv_mr
    bx, by, bz = -q * ux, -q * uy, -q * wz - g
    # Bridle: a tension-only spring-damper whose rest length the BUD pays out.
    dx, dy, dz = px - rx, py - ry, pz - rz - deck
    dist = math.sqrt(dx * dx + dy * dy + dz * dz)
    stretch = dist - length
    payout = 0.0
    if stretch > 0.0:
        spring = k * stretch
        if length < length_max:  # the spool turns with line tension, up to the brake's speed
            payout = spring * inv_spool
            if payout > payout_max:
                payout = payout_max
        inv_d = 1.0 / dist
        ex, ey, ez = dx * inv_d, dy * inv_d, dz * inv_d
        tension = spring + cb * ((vx - wx) * ex + (vy - wy) * ey + (vz - wz) * ez - payout)
        if tension > 0.0:  # the damper cannot push the rope either
            sx, sy, sz = tension * ex, tension * ey, tension * ez
            ax -= sx * inv_m
            ay -= sy * inv_m
            az -= sz * inv_m
            bx += sx * inv_mr
            by += sy * inv_mr
            bz += sz * inv_mr
    depth = (z0 + grad_x * rx + grad_y * ry - rz) * cos_s
    if depth > 0.0:
        fx, fy, fz = wheel_contact(depth, wx, wy, wz, c)
        bx += fx * inv_mr
        by += fy * inv_mr
        bz += fz * inv_mr
    return vx, vy, vz, ax, ay, az, wx, wy, wz, bx, by, bz, payout


def free(x: Sequence[float], f: Forcing, u: tuple[float, float], c: Constants) -> tuple:
    """d/dt of the 12 body entries after the cut: two independent bodies."""
    (px, py, pz, vx, vy, vz, rx, ry, rz, wx, wy, wz) = x
    tax, tay, taz, inv_m = f
    wind_x, wind_y = u
    (g, _, inv_mr, drag_ds, drag_rv, _, rho0, datum, inv_h, _, _, _, _, _, z0, grad_x, grad_y, cos_s,
     _, _, _, _) = c
    # Drag in the same floating-point order as hanging() (the batch plant's one derivative has one order).
    ux, uy = vx - wind_x, vy - wind_y
    q = drag_ds * rho0 * math.exp((datum - pz) * inv_h) * math.sqrt(ux * ux + uy * uy + vz * vz)
    q *= inv_m
    ax, ay, az = tax - q * ux, tay - q * uy, taz - q * vz - g
    ux, uy = wx - wind_x, wy - wind_y
    q = drag_rv * rho0 * math.exp((datum - rz) * inv_h) * math.sqrt(ux * ux + uy * uy + wz * wz)
    q *= inv_mr
    bx, by, bz = -q * ux, -q * uy, -q * wz - g
    depth = (z0 + grad_x * rx + grad_y * ry - rz) * cos_s
    if depth > 0.0:
        fx, fy, fz = wheel_contact(depth, wx, wy, wz, c)
        bx += fx * inv_mr
        by += fy * inv_mr
        bz += fz * inv_mr
    return vx, vy, vz, ax, ay, az, wx, wy, wz, bx, by, bz


MECHANICS = {ATTACHED: attached, HANGING: hanging, FREE: free}


def wheel_contact(depth: float, vx: float, vy: float, vz: float,
                  c: Constants) -> tuple[float, float, float]:
    """Terrain force (N) on the wheels at penetration depth > 0 along the normal, velocity v.

    Normal: a penalty spring-damper that never pulls. Tangential: regularised Coulomb friction,
    mu N tanh(|v_t| / v_s) against the sliding velocity v_t in the terrain plane."""
    (_, _, _, _, _, _, _, _, _, _, _, _, _, _, _, grad_x, grad_y, nz, ground_k, ground_c, mu, inv_slip) = c
    nx, ny = -grad_x * nz, -grad_y * nz
    vn = nx * vx + ny * vy + nz * vz
    normal = ground_k * depth - ground_c * vn
    if normal <= 0.0:  # rebounding faster than the spring extends: the ground does not pull
        return 0.0, 0.0, 0.0
    tx, ty, tz = vx - vn * nx, vy - vn * ny, vz - vn * nz
    speed = math.sqrt(tx * tx + ty * ty + tz * tz)
    if speed > 1e-9:
        scale = mu * normal * math.tanh(speed * inv_slip) / speed
    else:  # tanh(s / v_s) / s -> 1 / v_s
        scale = mu * normal * inv_slip
    return normal * nx - scale * tx, normal * ny - scale * ty, normal * nz - scale * tz


def normal_force(depth: float, vx: float, vy: float, vz: float, c: Constants) -> float:
    """Normal component (N) of wheel_contact: what the rover's suspension carries."""
    if depth <= 0.0:
        return 0.0
    nz = c.cos_slope
    vn = -c.grad_x * nz * vx - c.grad_y * nz * vy + nz * vz
    return max(0.0, c.ground_k * depth - c.ground_c * vn)


def bridle_tension(x: Sequence[float], c: Constants) -> float:
    """Line tension (N) in mechanical state x with the rover hanging (same law as hanging())."""
    dx, dy = x[DS_X] - x[ROVER_X], x[DS_Y] - x[ROVER_Y]
    dz = x[DS_Z] - x[ROVER_Z] - c.deck_height
    dist = math.sqrt(dx * dx + dy * dy + dz * dz)
    stretch = dist - x[BRIDLE_LENGTH]
    if stretch <= 0.0:  # slack: a rope cannot push (also avoids dist == 0)
        return 0.0
    spring = c.bridle_k * stretch
    payout = min(c.payout_max, spring * c.inv_spool_c) if x[BRIDLE_LENGTH] < c.length_max else 0.0
    rate = ((x[DS_VX] - x[ROVER_VX]) * dx + (x[DS_VY] - x[ROVER_VY]) * dy
            + (x[DS_VZ] - x[ROVER_VZ]) * dz) / dist
    return max(0.0, spring + c.bridle_c * (rate - payout))


def rover_depth(x: Sequence[float], c: Constants) -> float:
    """Penetration (m) of the rover's wheel point into the terrain along its normal (< 0: above)."""
    return (c.ground_z0 + c.grad_x * x[ROVER_X] + c.grad_y * x[ROVER_Y] - x[ROVER_Z]) * c.cos_slope


def mirror_rover(x: list[float], c: Constants) -> None:
    """Put the rover where the rigid attachment holds it: deck at the DS attachment point."""
    x[ROVER_X], x[ROVER_Y], x[ROVER_Z] = x[DS_X], x[DS_Y], x[DS_Z] - c.deck_height
    x[ROVER_VX], x[ROVER_VY], x[ROVER_VZ] = x[DS_VX], x[DS_VY], x[DS_VZ]


def derivatives(t: float, x: Sequence[float], u: Inputs,
                p: tuple[Constants, ActuatorConstants]) -> list[float]:
    """dx/dt of the full state (STATE_NAMES): the model's definition, for reference integrators.

    The plant steps the same equations, but propagates the actuators exactly (see model.py)."""
    c, k = p
    throttle, tilt_x, tilt_y, propellant = x[THROTTLE:]
    carried = k.rover_mass if u.mode == ATTACHED else 0.0
    f = actuators.forcing(throttle, tilt_x, tilt_y, propellant, carried, k)
    act = [(u.throttle_cmd - throttle) * k.inv_tau_engine,
           actuators.tilt_rate(tilt_x, u.tilt_x_cmd, k),
           actuators.tilt_rate(tilt_y, u.tilt_y_cmd, k),
           -k.burn_rate * throttle if propellant > 0.0 else 0.0]
    wind = (u.wind_x, u.wind_y)
    if u.mode == ATTACHED:
        d = attached(x[:6], f, wind, c)
        return list(d) + list(d) + [0.0] + act  # the rover mirrors the DS
    if u.mode == HANGING:
        return list(hanging(x[:13], f, wind, c)) + act
    return list(free(x[:12], f, wind, c)) + [0.0] + act
