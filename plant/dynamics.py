"""Equations of motion of descent stage and rover: a pure derivative on a flat list of floats."""
import math
from typing import NamedTuple, Sequence

from plant.environment import G0_MPS2, gravity_mps2
from plant.params import InitialConditions, PlantParams

# State vector layout (all SI). Positions: DS = its bridle attachment point (underside),
# rover = its wheel bottom. z is up, ground at z = 0.
STATE_NAMES = (
    "ds_x", "ds_z", "ds_vx", "ds_vz",           # m, m, m/s, m/s
    "rover_x", "rover_z", "rover_vx", "rover_vz",  # m, m, m/s, m/s
    "throttle_actual",                           # fraction of full thrust
    "tilt_rad",                                  # rad, positive tilts thrust toward +x
    "propellant_kg",                             # kg
    "bridle_length_m",                           # m, unstretched length paid out
)
(DS_X, DS_Z, DS_VX, DS_VZ, ROVER_X, ROVER_Z, ROVER_VX, ROVER_VZ,
 THROTTLE, TILT, PROPELLANT, BRIDLE_LENGTH) = range(len(STATE_NAMES))

# Mechanical configurations; the host latches them in order.
ATTACHED = 0  # rover rigidly under the DS: one body
HANGING = 1   # separated, bridle connects the two bodies
FREE = 2      # bridle cut: two independent bodies


class Constants(NamedTuple):
    """Parameters pre-digested into the floats the derivative uses (a tuple unpacks fast)."""

    gravity: float           # m/s^2
    full_thrust: float       # N at throttle 1, bias included
    inv_tau_engine: float    # 1/s
    inv_tau_attitude: float  # 1/s
    inv_exhaust_vel: float   # s/m: mass flow per newton of thrust
    dry_mass: float          # kg, descent stage without propellant
    rover_mass: float        # kg
    inv_rover_mass: float    # 1/kg
    deck_height: float       # m, wheel bottom to bridle attachment
    bridle_k: float          # N/m
    bridle_c: float          # N s/m
    ground_k: float          # N/m
    ground_c: float          # N s/m
    friction_mu: float       # -
    inv_slip_vel: float      # s/m, tanh regularisation of Coulomb friction


class Inputs(NamedTuple):
    """What is held constant over a substep: conditioned commands and the configuration."""

    throttle_cmd: float  # fraction of full thrust, already clipped (0 = off)
    tilt_cmd: float      # rad, already clipped
    mode: int            # ATTACHED, HANGING or FREE
    payout_rate: float   # m/s, dL/dt (0 unless the BUD is paying out)


def constants(params: PlantParams) -> Constants:
    """Reduce the parameter tree to the flat constants of the derivative."""
    eng, rover = params.engine, params.rover
    return Constants(
        gravity=gravity_mps2(params.environment),
        full_thrust=float(eng.thrust_bias * eng.count * eng.max_thrust_per_engine_n),
        inv_tau_engine=1.0 / eng.time_constant_s,
        inv_tau_attitude=1.0 / params.attitude.time_constant_s,
        inv_exhaust_vel=1.0 / (eng.isp_s * G0_MPS2),
        dry_mass=float(params.descent_stage.dry_mass_kg),
        rover_mass=float(rover.mass_kg),
        inv_rover_mass=1.0 / rover.mass_kg,
        deck_height=float(rover.deck_height_m),
        bridle_k=float(params.bridle.stiffness_n_per_m),
        bridle_c=float(params.bridle.damping_n_s_per_m),
        ground_k=float(params.ground.stiffness_n_per_m),
        ground_c=float(params.ground.damping_n_s_per_m),
        friction_mu=float(params.ground.friction_coefficient),
        inv_slip_vel=1.0 / params.ground.slip_velocity_mps,
    )


def initial_state(params: PlantParams, initial: InitialConditions, tilt_rad: float) -> list[float]:
    """State at t = 0: rover attached under the DS, bridle not yet paid out."""
    z_ds = float(initial.altitude_m)
    vx, vz = float(initial.vx_mps), float(initial.vz_mps)
    return [float(initial.x_m), z_ds, vx, vz,
            float(initial.x_m), z_ds - params.rover.deck_height_m, vx, vz,
            float(initial.throttle), float(tilt_rad), float(params.descent_stage.propellant_kg),
            0.0]


def bridle_tension(dx: float, dz: float, dvx: float, dvz: float, length: float,
                   payout: float, k: float, c: float) -> tuple[float, float, float]:
    """Tension (N) and unit vector rover deck -> DS, for separation (dx, dz) and its rate."""
    dist = math.sqrt(dx * dx + dz * dz)
    stretch = dist - length
    if stretch <= 0.0:  # slack: a rope cannot push (also avoids dist == 0)
        return 0.0, 0.0, 0.0
    ex = dx / dist
    ez = dz / dist
    stretch_rate = dvx * ex + dvz * ez - payout
    tension = k * stretch + c * stretch_rate
    if tension <= 0.0:  # damper cannot push the rope either
        return 0.0, ex, ez
    return tension, ex, ez


def ground_reaction(z: float, vx: float, vz: float, k: float, c: float,
                    mu: float, inv_slip: float) -> tuple[float, float]:
    """Normal force (N, up) and friction force (N, along x) on the rover wheels."""
    if z >= 0.0:
        return 0.0, 0.0
    normal = -k * z - c * vz
    if normal <= 0.0:  # ground never pulls (rebound faster than the spring extends)
        return 0.0, 0.0
    return normal, -mu * normal * math.tanh(vx * inv_slip)


def derivatives(t: float, x: Sequence[float], u: Inputs, c: Constants) -> tuple[float, ...]:
    """dx/dt for the state laid out in STATE_NAMES (pure: no side effects, floats only)."""
    (ds_x, ds_z, ds_vx, ds_vz,      # m, m, m/s, m/s: DS attachment point
     rv_x, rv_z, rv_vx, rv_vz,      # m, m, m/s, m/s: rover wheel bottom
     throttle, tilt,                # fraction, rad
     propellant, length) = x        # kg, m
    throttle_cmd, tilt_cmd, mode, payout = u
    (g, full_thrust, inv_tau_eng, inv_tau_att, inv_ve, dry_mass, rover_mass, inv_rover_mass,
     deck_height, bridle_k, bridle_c, ground_k, ground_c, mu, inv_slip) = c

    # Engines: no propellant, no thrust; the lags are the actuator models.
    if propellant > 0.0:
        thrust = full_thrust * throttle       # N
        ds_mass = dry_mass + propellant       # kg
    else:
        thrust = 0.0
        ds_mass = dry_mass
    d_throttle = (throttle_cmd - throttle) * inv_tau_eng
    # Attitude seam: a first-order lag now, a rate-limited 3-D loop later.
    d_tilt = (tilt_cmd - tilt) * inv_tau_att
    d_propellant = -thrust * inv_ve         # kg/s
    thrust_x = thrust * math.sin(tilt)      # N
    thrust_z = thrust * math.cos(tilt)      # N

    normal, friction = ground_reaction(rv_z, rv_vx, rv_vz, ground_k, ground_c, mu, inv_slip)

    if mode == ATTACHED:
        # One rigid body; the rover mirrors the DS so separation starts from a consistent state.
        inv_mass = 1.0 / (ds_mass + rover_mass)
        ax = (thrust_x + friction) * inv_mass
        az = (thrust_z + normal) * inv_mass - g
        return (ds_vx, ds_vz, ax, az, ds_vx, ds_vz, ax, az,
                d_throttle, d_tilt, d_propellant, 0.0)

    if mode == HANGING:
        tension, ex, ez = bridle_tension(ds_x - rv_x, ds_z - rv_z - deck_height,
                                         ds_vx - rv_vx, ds_vz - rv_vz, length, payout,
                                         bridle_k, bridle_c)
        tension_x = tension * ex  # N, pulls the rover toward the DS and the DS toward the rover
        tension_z = tension * ez
    else:
        tension_x = tension_z = 0.0
    inv_ds_mass = 1.0 / ds_mass
    return (ds_vx, ds_vz,
            (thrust_x - tension_x) * inv_ds_mass,
            (thrust_z - tension_z) * inv_ds_mass - g,
            rv_vx, rv_vz,
            (friction + tension_x) * inv_rover_mass,
            (normal + tension_z) * inv_rover_mass - g,
            d_throttle, d_tilt, d_propellant, payout)


def loads(x: Sequence[float], u: Inputs, c: Constants) -> tuple[float, float, float]:
    """Thrust, bridle tension and rover normal force (all N) in state x, for telemetry."""
    thrust = c.full_thrust * x[THROTTLE] if x[PROPELLANT] > 0.0 else 0.0
    tension = 0.0
    if u.mode == HANGING:
        tension = bridle_tension(x[DS_X] - x[ROVER_X], x[DS_Z] - x[ROVER_Z] - c.deck_height,
                                 x[DS_VX] - x[ROVER_VX], x[DS_VZ] - x[ROVER_VZ],
                                 x[BRIDLE_LENGTH], u.payout_rate, c.bridle_k, c.bridle_c)[0]
    normal = ground_reaction(x[ROVER_Z], x[ROVER_VX], x[ROVER_VZ], c.ground_k, c.ground_c,
                             c.friction_mu, c.inv_slip_vel)[0]
    return thrust, tension, normal
