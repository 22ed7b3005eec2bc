"""Engines and attitude loop: command conditioning, exact lag responses, thrust per instant."""
import math
from typing import NamedTuple

from plant.environment import G0_MPS2
from plant.params import PlantParams

# Indices of the actuator state [throttle, tilt_x, tilt_y, propellant].
THROTTLE, TILT_X, TILT_Y, PROPELLANT = range(4)

# Thrust forcing of one instant, as the mechanics take it: (ax, ay, az, inv_mass) with a the
# thrust acceleration (m/s^2, no gravity) of the body carrying the engines and inv_mass its 1/kg.
Forcing = tuple[float, float, float, float]


class ActuatorConstants(NamedTuple):
    """Parameters pre-digested for one substep of length dt (a tuple unpacks fast)."""

    full_thrust: float     # N at throttle 1, bias included
    inv_tau_engine: float  # 1/s
    tau_engine: float      # s
    inv_tau_tilt: float    # 1/s
    tau_tilt: float        # s
    max_rate: float        # rad/s, tilt rate limit
    linear_zone: float     # rad: |error| below max_rate * tau_tilt stays off the rate limit
    burn_rate: float       # kg/s at throttle 1 (full_thrust / exhaust velocity)
    dry_mass: float        # kg, descent stage without propellant
    rover_mass: float      # kg
    dt: float              # s, substep
    eta_half: float        # exp(-dt / 2 tau_e): throttle error left after half a substep
    eta_full: float        # exp(-dt / tau_e)
    burn_half: float       # tau_e (1 - eta_half): integral of exp(-t / tau_e) over dt / 2
    burn_full: float       # tau_e (1 - eta_full)
    tilt_half: float       # exp(-dt / 2 tau_a)
    tilt_full: float       # exp(-dt / tau_a)


def actuator_constants(params: PlantParams) -> ActuatorConstants:
    """Reduce the engine and attitude parameters to the floats of one substep."""
    eng, att = params.engine, params.attitude
    dt = 1.0 / params.substep_hz
    full = float(eng.thrust_bias * eng.count * eng.max_thrust_per_engine_n)
    tau_e, tau_a = float(eng.time_constant_s), float(att.time_constant_s)
    eta_half, eta_full = math.exp(-0.5 * dt / tau_e), math.exp(-dt / tau_e)
    return ActuatorConstants(
        full_thrust=full, inv_tau_engine=1.0 / tau_e, tau_engine=tau_e,
        inv_tau_tilt=1.0 / tau_a, tau_tilt=tau_a, max_rate=float(att.max_rate_rad_s),
        linear_zone=float(att.max_rate_rad_s) * tau_a,
        burn_rate=full / (eng.isp_s * G0_MPS2),
        dry_mass=float(params.descent_stage.dry_mass_kg), rover_mass=float(params.rover.mass_kg),
        dt=dt, eta_half=eta_half, eta_full=eta_full,
        burn_half=tau_e * (1.0 - eta_half), burn_full=tau_e * (1.0 - eta_full),
        tilt_half=math.exp(-0.5 * dt / tau_a), tilt_full=math.exp(-dt / tau_a),
    )


def throttle_command(throttle: float, min_throttle: float) -> float:
    """Throttle the engines will track: 0 (off) for <= 0, else clipped to [min_throttle, 1]."""
    if not math.isfinite(throttle):
        raise ValueError(f"throttle command must be finite, got {throttle!r}")
    if throttle <= 0.0:
        return 0.0
    return min(1.0, max(float(min_throttle), float(throttle)))


def tilt_command(tilt_rad: float, max_tilt_rad: float) -> float:
    """Tilt the attitude loop will track on one axis, clipped to +/- max_tilt_rad."""
    if not math.isfinite(tilt_rad):
        raise ValueError(f"tilt command must be finite, got {tilt_rad!r}")
    limit = float(max_tilt_rad)
    return min(limit, max(-limit, float(tilt_rad)))


def tilt_rate(tilt: float, cmd: float, k: ActuatorConstants) -> float:
    """d(tilt)/dt of one axis: first-order toward the command, clipped to the rate limit."""
    rate = (cmd - tilt) * k.inv_tau_tilt
    return max(-k.max_rate, min(k.max_rate, rate))


def tilt_after(tilt: float, cmd: float, s: float, k: ActuatorConstants) -> float:
    """Exact solution of tilt_rate after s seconds: a ramp at the rate limit, then exponential."""
    error = cmd - tilt
    excess = abs(error) - k.linear_zone  # rad beyond the reach of the linear response
    if excess > 0.0:
        ramp_time = excess / k.max_rate
        if s <= ramp_time:
            return tilt + math.copysign(k.max_rate * s, error)
        s -= ramp_time
        error = math.copysign(k.linear_zone, error)
    return cmd - error * math.exp(-s * k.inv_tau_tilt)


def thrust_direction(tilt_x: float, tilt_y: float) -> tuple[float, float, float]:
    """Unit thrust vector along (tan tilt_x, tan tilt_y, 1): tilt_x alone gives (sin, 0, cos)."""
    a, b = math.tan(tilt_x), math.tan(tilt_y)
    nz = 1.0 / math.sqrt(1.0 + a * a + b * b)
    return a * nz, b * nz, nz


def forcing(throttle: float, tilt_x: float, tilt_y: float, propellant: float,
            carried_mass: float, k: ActuatorConstants) -> Forcing:
    """Thrust acceleration and 1/mass of the body carrying the engines (carried_mass: the rover's
    while attached, else 0)."""
    if propellant > 0.0:
        mass = k.dry_mass + propellant + carried_mass
        thrust = k.full_thrust * throttle
    else:  # no propellant, no thrust
        mass = k.dry_mass + carried_mass
        thrust = 0.0
    a, b = math.tan(tilt_x), math.tan(tilt_y)
    s = thrust / (mass * math.sqrt(1.0 + a * a + b * b))
    return a * s, b * s, s, 1.0 / mass


def propagate(act: list[float], throttle_cmd: float, tilt_x_cmd: float, tilt_y_cmd: float,
              carried_mass: float, k: ActuatorConstants) -> tuple[Forcing, Forcing]:
    """Advance the actuator state act in place by one substep with the commands held; return the
    forcing at mid-substep and at its end.

    Exact: the throttle is a linear lag, the propellant its integral, the tilt a rate-limited lag,
    and none of them depends on the mechanical state. Propellant may end below zero; the caller
    clamps it (thrust is already zero at any instant where it is <= 0)."""
    throttle, tilt_x, tilt_y, propellant = act
    error = throttle - throttle_cmd
    throttle_mid = throttle_cmd + error * k.eta_half
    throttle_end = throttle_cmd + error * k.eta_full
    burn = k.burn_rate
    if propellant > 0.0:
        propellant_mid = propellant - burn * (throttle_cmd * 0.5 * k.dt + error * k.burn_half)
        propellant_end = propellant - burn * (throttle_cmd * k.dt + error * k.burn_full)
    else:
        propellant_mid = propellant_end = propellant
    zone = k.linear_zone
    ex, ey = tilt_x_cmd - tilt_x, tilt_y_cmd - tilt_y
    if -zone <= ex <= zone:
        tilt_x_mid, tilt_x_end = tilt_x_cmd - ex * k.tilt_half, tilt_x_cmd - ex * k.tilt_full
    else:
        tilt_x_mid = tilt_after(tilt_x, tilt_x_cmd, 0.5 * k.dt, k)
        tilt_x_end = tilt_after(tilt_x, tilt_x_cmd, k.dt, k)
    if -zone <= ey <= zone:
        tilt_y_mid, tilt_y_end = tilt_y_cmd - ey * k.tilt_half, tilt_y_cmd - ey * k.tilt_full
    else:
        tilt_y_mid = tilt_after(tilt_y, tilt_y_cmd, 0.5 * k.dt, k)
        tilt_y_end = tilt_after(tilt_y, tilt_y_cmd, k.dt, k)
    act[0], act[1], act[2], act[3] = throttle_end, tilt_x_end, tilt_y_end, propellant_end
    return (forcing(throttle_mid, tilt_x_mid, tilt_y_mid, propellant_mid, carried_mass, k),
            forcing(throttle_end, tilt_x_end, tilt_y_end, propellant_end, carried_mass, k))
