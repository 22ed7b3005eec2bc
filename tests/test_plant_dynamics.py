"""Plant dynamics against closed-form answers: free fall, rocket equation, drag, statics, lags."""
import math
from dataclasses import replace

import numpy as np
import pytest

from plant import InitialConditions, Plant, PlantParams
from plant import actuators, dynamics
from plant.integrator import rk4_step
from plant.params import (DescentStageParams, EngineParams, EnvironmentParams,
                          GroundParams, ImuParams, TerrainParams)

pytestmark = pytest.mark.timeout(60)

G = 3.711
G0 = 9.80665
STACK = 850.0 + 401.0 + 1025.0  # kg: dry DS + propellant + Perseverance


def make(params: PlantParams | None = None, **initial) -> Plant:
    return Plant(params or PlantParams(), InitialConditions(**initial), np.random.default_rng(0))


def vacuum(params: PlantParams | None = None) -> PlantParams:
    """No atmosphere, so the closed forms without drag apply."""
    params = params or PlantParams()
    return replace(params, environment=replace(params.environment, density_kg_m3=0.0))


def no_mass_flow(params: PlantParams | None = None) -> PlantParams:
    """Params whose engines burn (almost) no propellant, so a fixed throttle hovers exactly."""
    params = params or PlantParams()
    return replace(params, engine=replace(params.engine, isp_s=1e15))


def full_thrust(params: PlantParams) -> float:
    e = params.engine
    return e.count * e.max_thrust_per_engine_n * e.thrust_bias


def test_free_fall_is_exact_parabola_in_3d():
    # Tolerance 1e-9 relative: RK4 integrates a constant acceleration exactly, leaving rounding.
    plant = make(vacuum(), altitude_m=2000.0, vz_mps=-80.0, vx_mps=3.0, vy_mps=-2.0)
    plant.apply(0.0, 0.0, 0.0, False, False)
    for _ in range(10):
        plant.advance(1.0)
        t = plant.t
        truth = plant.truth()
        assert truth.ds_z == pytest.approx(2000.0 - 80.0 * t - 0.5 * G * t * t, rel=1e-9)
        assert truth.ds_vz == pytest.approx(-80.0 - G * t, rel=1e-9)
        assert (truth.ds_x, truth.ds_y) == pytest.approx((3.0 * t, -2.0 * t), rel=1e-9)
        assert truth.rover_z == pytest.approx(truth.ds_z - 1.1, rel=1e-9)
        assert truth.thrust_n == 0.0
    assert plant.t == pytest.approx(10.0, abs=1e-12)
    assert not plant.events


@pytest.mark.parametrize("bias", [1.0, 1.1])
def test_constant_throttle_burn_matches_rocket_equation(bias):
    # Engine lag removed by starting at the commanded throttle; tolerance 1e-6 relative.
    params = vacuum(PlantParams(engine=EngineParams(thrust_bias=bias)))
    throttle, z0, v0, duration = 0.5, 2000.0, -80.0, 20.0
    plant = make(params, altitude_m=z0, vz_mps=v0, throttle=throttle)
    plant.apply(throttle, 0.0, 0.0, False, False)
    plant.advance(duration)

    thrust = throttle * full_thrust(params)
    ve = params.engine.isp_s * G0
    mdot = thrust / ve
    m_t = STACK - mdot * duration
    v = v0 + ve * math.log(STACK / m_t) - G * duration
    z = (z0 + v0 * duration - 0.5 * G * duration**2
         + ve * (duration + m_t / mdot * math.log(m_t / STACK)))
    truth = plant.truth()
    assert truth.thrust_n == pytest.approx(thrust, rel=1e-12)
    assert truth.propellant_kg == pytest.approx(401.0 - mdot * duration, rel=1e-9)
    assert truth.ds_vz - v0 == pytest.approx(v - v0, rel=1e-6)
    assert truth.ds_z - z0 == pytest.approx(z - z0, rel=1e-6)


def test_terminal_velocity_with_drag_matches_tanh_law():
    # Uniform density (huge scale height) and no wind: v(t) = -vt tanh(g t / vt),
    # drop = vt^2 / g ln cosh(g t / vt), vt = sqrt(2 m g / (rho CdA)). Tolerance 1e-6 relative.
    params = replace(PlantParams(), environment=EnvironmentParams(density_kg_m3=1.0,
                                                                  scale_height_m=1e12))
    plant = make(params, altitude_m=5000.0, vz_mps=0.0)
    plant.apply(0.0, 0.0, 0.0, False, False)
    vt = math.sqrt(2.0 * STACK * G / (1.0 * (10.0 + 6.0)))
    for t in (5.0, 10.0, 20.0):
        plant.advance(t - plant.t)
        truth = plant.truth()
        assert truth.ds_vz == pytest.approx(-vt * math.tanh(G * t / vt), rel=1e-6)
        drop = vt * vt / G * math.log(math.cosh(G * t / vt))
        assert 5000.0 - truth.ds_z == pytest.approx(drop, rel=1e-6)
    assert plant.truth().ds_vz == pytest.approx(-vt, rel=0.025)  # 20 s: tanh(2.3) = 0.98


def test_density_falls_with_the_scale_height():
    env = EnvironmentParams()
    from plant.environment import density_kg_m3
    assert density_kg_m3(env, 0.0) == 0.017
    assert density_kg_m3(env, 11100.0) == pytest.approx(0.017 / math.e, rel=1e-12)


def test_steady_wind_drags_a_falling_stack_downwind():
    params = replace(PlantParams(), wind=replace(PlantParams().wind, steady_x_mps=8.0))
    plant = make(params, altitude_m=2000.0, vz_mps=0.0)
    plant.apply(0.0, 0.0, 0.0, False, False)
    plant.advance(5.0)
    truth = plant.truth()
    assert truth.wind_x == 8.0 and truth.wind_y == 0.0
    assert 0.0 < truth.ds_vx < 8.0 and truth.ds_vy == 0.0


def test_rover_hanging_under_hovering_ds_settles_to_its_weight():
    # The DS thrust equals the total weight, so the pair's centre of mass stays put while the
    # bridle pays out (~10 s) and the bounce decays. Tolerance 0.5 % of m g.
    params = no_mass_flow()
    hover = STACK * G / full_thrust(params)
    plant = make(params, altitude_m=200.0, vz_mps=0.0, throttle=hover)
    plant.apply(hover, 0.0, 0.0, True, False)
    plant.advance(25.0)
    truth = plant.truth()
    assert truth.bridle_length_m == 7.5
    assert truth.bridle_tension_n == pytest.approx(1025.0 * G, rel=0.005)
    assert truth.ds_z - truth.rover_z - 1.1 == pytest.approx(7.5 + 1025.0 * G / 30000.0, abs=1e-3)
    assert abs(truth.rover_vz) < 1e-3 and abs(truth.ds_vz) < 1e-3


def test_separation_snatch_then_braked_payout():
    # The spool turns with line tension up to the brake's 0.75 m/s: the tension first peaks
    # above the rover's weight (the snatch), then the payout runs at the brake's speed.
    params = no_mass_flow()
    hover = STACK * G / full_thrust(params)
    plant = make(params, altitude_m=200.0, vz_mps=0.0, throttle=hover)
    plant.apply(hover, 0.0, 0.0, True, False)
    tensions, lengths = [], []
    for _ in range(600):
        plant.advance(0.02)
        tensions.append(plant.truth().bridle_tension_n)
        lengths.append(plant.truth().bridle_length_m)
    assert max(tensions[:100]) > 1.2 * 1025.0 * G
    rate = (lengths[300] - lengths[200]) / 2.0
    assert rate == pytest.approx(0.75, rel=1e-9)
    assert plant.event_time("bridles_full") == pytest.approx(10.0, abs=0.2)


def settle_on_slope(slope_deg: float, seconds: float, mu: float = 0.5) -> list:
    """A rover set down on a slope next to a hovering DS; the bridle is cut at once."""
    params = no_mass_flow(PlantParams(terrain=TerrainParams(slope_deg=slope_deg,
                                                            slope_azimuth_deg=30.0),
                                      ground=GroundParams(friction_coefficient=mu)))
    hover = (850.0 + 401.0) * G / full_thrust(params)
    plant = make(params, altitude_m=1.1, vz_mps=0.0, throttle=hover)
    plant.apply(hover, 0.0, 0.0, True, True)
    out = []
    for _ in range(round(seconds / 0.5)):
        plant.advance(0.5)
        out.append(plant.truth())
    assert not plant.ended
    return out


def test_rover_at_rest_on_a_15_degree_slope_holds():
    # Normal force m g cos 15 within 0.5 %. With mu = 0.5 > tan 15 the regularised friction
    # holds the rover to a creep of at most v_s atanh(tan 15 / mu) = 6 mm/s, not accelerating.
    trace = settle_on_slope(15.0, 8.0)
    last = trace[-1]
    assert last.rover_normal_force_n == pytest.approx(1025.0 * G * math.cos(math.radians(15.0)),
                                                      rel=0.005)
    creep = 0.01 * math.atanh(math.tan(math.radians(15.0)) / 0.5)
    for truth in trace[6:]:
        speed = math.sqrt(truth.rover_vx**2 + truth.rover_vy**2 + truth.rover_vz**2)
        assert speed <= 1.01 * creep
    assert math.hypot(last.rover_x, last.rover_y) < 0.06  # ~5 cm in 8 s
    # It sits on the plane: sink m g cos / k along the normal.
    sink = (last.ground_z_rover - last.rover_z) * math.cos(math.radians(15.0))
    assert sink == pytest.approx(1025.0 * G * math.cos(math.radians(15.0)) / 80000.0, abs=1e-4)


def test_rover_slides_on_a_slope_steeper_than_atan_mu():
    # 30 deg > atan(0.5) = 26.6 deg: sliding at g (sin - mu cos) downhill, within 1 %.
    trace = settle_on_slope(30.0, 4.0)
    a_expected = G * (math.sin(math.radians(30.0)) - 0.5 * math.cos(math.radians(30.0)))

    def speed(truth):
        return math.sqrt(truth.rover_vx**2 + truth.rover_vy**2 + truth.rover_vz**2)

    assert (speed(trace[7]) - speed(trace[3])) / 2.0 == pytest.approx(a_expected, rel=0.01)
    # Downhill is away from the azimuth of the slope (30 deg).
    assert trace[-1].rover_vx < 0.0 and trace[-1].rover_vy < 0.0
    assert math.atan2(trace[-1].rover_vy, trace[-1].rover_vx) == pytest.approx(
        math.radians(30.0 - 180.0), abs=1e-3)


def test_friction_stops_a_sliding_rover():
    # Coulomb deceleration mu g stops 0.5 m/s within ~0.3 s; the tanh law leaves no creep.
    params = no_mass_flow()
    hover = (850.0 + 401.0) * G / full_thrust(params)
    plant = make(params, altitude_m=1.1, vz_mps=0.0, vx_mps=0.3, vy_mps=0.4, throttle=hover)
    plant.apply(hover, 0.0, 0.0, True, True)
    plant.advance(3.0)
    truth = plant.truth()
    assert math.hypot(truth.rover_vx, truth.rover_vy) < 1e-3
    assert 0.5**2 / (2 * 0.5 * G) <= math.hypot(truth.rover_x, truth.rover_y) <= 0.2
    assert truth.rover_y / truth.rover_x == pytest.approx(0.4 / 0.3, rel=1e-6)


def test_cut_frees_the_rover():
    params = no_mass_flow(vacuum())
    hover = STACK * G / full_thrust(params)
    plant = make(params, altitude_m=200.0, vz_mps=0.0, throttle=hover)
    plant.apply(hover, 0.0, 0.0, True, False)
    plant.advance(15.0)
    assert plant.truth().bridle_tension_n > 3000.0
    plant.apply(hover, 0.0, 0.0, False, True)
    before = plant.truth()
    for _ in range(50):
        plant.advance(0.01)
        assert plant.truth().bridle_tension_n == 0.0
    after = plant.truth()
    # Free rover in vacuum: exactly ballistic (tolerance: rounding).
    assert after.rover_vz - before.rover_vz == pytest.approx(-G * 0.5, rel=1e-9)
    assert after.cut and after.separated
    assert after.bridle_length_m == before.bridle_length_m


def test_bridle_is_tension_only():
    c = dynamics.constants(PlantParams())
    x = [0.0] * 13
    x[dynamics.DS_Z] = 100.0
    x[dynamics.ROVER_Z] = 100.0 - 1.1 - 5.0  # 5 m apart
    x[dynamics.BRIDLE_LENGTH] = 7.0          # 7 m paid out: slack
    assert dynamics.bridle_tension(x, c) == 0.0
    d = dynamics.hanging(x, (0.0, 0.0, 0.0, 1e-3), (0.0, 0.0), c)
    assert d[dynamics.DS_VZ] == -G and d[dynamics.ROVER_VZ] == -G and d[12] == 0.0
    # Stretched but closing fast: k s + c s' < 0 must not push.
    x[dynamics.ROVER_Z] = 100.0 - 1.1 - 7.1
    x[dynamics.ROVER_VZ] = 2.0
    assert dynamics.bridle_tension(x, c) == 0.0
    # Stretched and still along a slanted line, fully paid out: pure spring, along the line.
    x[dynamics.ROVER_VZ] = 0.0
    e = (0.36, 0.48, 0.8)
    x[dynamics.ROVER_X], x[dynamics.ROVER_Y] = -7.6 * e[0], -7.6 * e[1]
    x[dynamics.ROVER_Z] = 100.0 - 1.1 - 7.6 * e[2]
    x[dynamics.BRIDLE_LENGTH] = 7.5
    assert dynamics.bridle_tension(x, c) == pytest.approx(3000.0)
    d = dynamics.hanging(x, (0.0, 0.0, 0.0, 1e-3), (0.0, 0.0), c)
    assert [d[i] for i in (9, 10, 11)] == pytest.approx(
        [3000.0 * e[0] / 1025.0, 3000.0 * e[1] / 1025.0, 3000.0 * e[2] / 1025.0 - G])
    assert d[12] == 0.0  # fully out: the spool is stopped
    # Not fully out: the spool pays out at min(0.75, 3000 N / 1000 N s/m) = 0.75 m/s, which the
    # damper reads as the line lengthening.
    x[dynamics.BRIDLE_LENGTH] = 7.5 - 1e-9
    tension = 30000.0 * (0.1 + 1e-9) - 3330.0 * 0.75
    assert dynamics.bridle_tension(x, c) == pytest.approx(tension)
    assert dynamics.hanging(x, (0.0, 0.0, 0.0, 1e-3), (0.0, 0.0), c)[12] == 0.75


def test_ground_never_pulls():
    c = dynamics.constants(PlantParams())
    # Penetrating but leaving fast: the damper would pull, the ground must not.
    assert dynamics.wheel_contact(0.01, 0.0, 0.0, 2.0, c) == (0.0, 0.0, 0.0)
    assert dynamics.normal_force(0.01, 0.0, 0.0, 2.0, c) == 0.0
    assert dynamics.normal_force(-0.5, 1.0, 0.0, -1.0, c) == 0.0


def test_throttle_command_conditioning_and_lag():
    plant = make(altitude_m=2000.0)
    plant.apply(0.05, 0.0, 0.0, False, False)  # below minimum: raised to 0.1
    plant.advance(0.4)  # 5 time constants
    assert plant.truth().throttle_actual == pytest.approx(0.1 * (1 - math.exp(-0.4 / 0.08)),
                                                          rel=1e-12)
    plant.apply(1.7, 0.0, 0.0, False, False)
    plant.advance(2.0)
    assert plant.truth().throttle_actual == pytest.approx(1.0, abs=1e-9)
    plant.apply(0.0, 0.0, 0.0, False, False)  # exactly zero: engines off
    plant.advance(2.0)
    assert plant.truth().throttle_actual == pytest.approx(0.0, abs=1e-9)
    with pytest.raises(ValueError):
        plant.apply(float("nan"), 0.0, 0.0, False, False)
    with pytest.raises(ValueError):
        plant.apply(0.5, 0.0, float("inf"), False, False)


def test_engine_dead_time_delays_the_throttle():
    params = PlantParams(engine=EngineParams(dead_time_s=0.1))
    plant = make(params, altitude_m=2000.0, throttle=0.3)
    plant.advance(0.5)
    plant.apply(0.8, 0.0, 0.0, False, False)
    plant.advance(0.1)  # exactly the dead time: nothing yet
    assert plant.truth().throttle_actual == pytest.approx(0.3, abs=1e-12)
    plant.apply(0.8, 0.0, 0.0, False, False)  # a repeated command changes nothing
    plant.advance(0.08)  # one engine time constant after the delay
    assert plant.truth().throttle_actual == pytest.approx(0.8 - 0.5 * math.exp(-1.0), rel=1e-12)
    plant.apply(0.0, 0.0, 0.0, False, False)
    plant.advance(0.098)  # the shut-down command is still in flight: the rise goes on
    assert plant.truth().throttle_actual == pytest.approx(0.8 - 0.5 * math.exp(-0.178 / 0.08),
                                                          rel=1e-12)
    plant.advance(1.0)
    assert plant.truth().throttle_actual < 1e-4


def test_tilt_lag_rate_limit_clip_and_sign():
    plant = make(altitude_m=2000.0, throttle=0.5)
    # Small step: inside the linear zone (rate limit x tau = 0.105 rad), a pure lag.
    plant.apply(0.5, 0.05, -0.05, False, False)
    plant.advance(0.3)
    truth = plant.truth()
    assert truth.tilt_x_rad == pytest.approx(0.05 * (1 - math.exp(-1.0)), rel=1e-12)
    assert truth.tilt_y_rad == pytest.approx(-0.05 * (1 - math.exp(-1.0)), rel=1e-12)
    assert truth.ds_vx > 0.0 and truth.ds_vy < 0.0  # positive tilts push toward +x / +y
    # Large step: a ramp at 20 deg/s until the error is 0.105 rad, then the lag.
    plant = make(altitude_m=2000.0, throttle=0.5)
    plant.apply(0.5, 0.5, 0.0, False, False)
    rate = math.radians(20.0)
    plant.advance(0.5)
    assert plant.truth().tilt_x_rad == pytest.approx(rate * 0.5, rel=1e-12)
    ramp_end = (0.5 - rate * 0.3) / rate
    plant.advance(2.0 - 0.5)
    expected = 0.5 - rate * 0.3 * math.exp(-(2.0 - ramp_end) / 0.3)
    assert plant.truth().tilt_x_rad == pytest.approx(expected, rel=1e-12)
    # Commands clip at the per-axis limit.
    plant.apply(0.5, -5.0, 5.0, False, False)
    plant.advance(20.0)
    truth = plant.truth()
    assert (truth.tilt_x_rad, truth.tilt_y_rad) == pytest.approx(
        (-math.radians(60.0), math.radians(60.0)), rel=1e-9)


def test_tilt_angles_compose_as_tangents():
    # Thrust along (tan tx, tan ty, 1) normalised, read through a noiseless, bias-free IMU.
    params = vacuum(PlantParams(imu=ImuParams(noise_sigma_mps2=0.0, bias_sigma_mps2=0.0)))
    tx, ty = 0.3, -0.2
    plant = make(params, altitude_m=2000.0, throttle=0.6, tilt_x_rad=tx, tilt_y_rad=ty)
    plant.sense()
    plant.advance(0.1)
    truth, frame = plant.truth(), plant.sense()
    assert frame.imu_fx / frame.imu_fz == pytest.approx(math.tan(tx), rel=1e-9)
    assert frame.imu_fy / frame.imu_fz == pytest.approx(math.tan(ty), rel=1e-9)
    mass = STACK - (401.0 - truth.propellant_kg) / 2.0  # mean mass over the 0.1 s (linear burn)
    assert math.sqrt(frame.imu_fx**2 + frame.imu_fy**2 + frame.imu_fz**2) == pytest.approx(
        0.6 * full_thrust(params) / mass, rel=1e-6)
    assert actuators.thrust_direction(0.4, 0.0) == pytest.approx((math.sin(0.4), 0.0,
                                                                  math.cos(0.4)))


def test_propellant_runs_out():
    params = PlantParams(descent_stage=DescentStageParams(propellant_kg=2.0))
    plant = make(params, altitude_m=2000.0, throttle=1.0)
    plant.apply(1.0, 0.0, 0.0, False, False)
    plant.advance(2.0)
    mdot = full_thrust(params) / (218.0 * G0)
    # The cut-off falls inside a substep, so the event may land one substep late: 2 substeps.
    assert plant.event_time("propellant_out") == pytest.approx(2.0 / mdot, abs=4e-3)
    truth = plant.truth()
    assert truth.propellant_kg == 0.0 and truth.thrust_n == 0.0
    assert truth.ds_mass_kg == 850.0


def test_rk4_step_is_fourth_order():
    # Harmonic oscillator x'' = -x over 2 s: halving dt divides the error by ~16.
    def f(t, x, u, p):
        return (x[1], -x[0])

    def error(dt):
        x, t = (1.0, 0.0), 0.0
        for _ in range(round(2.0 / dt)):
            x = rk4_step(f, t, x, dt, None, None)
            t += dt
        return abs(x[0] - math.cos(2.0))

    ratio = error(0.1) / error(0.05)
    assert 14.0 < ratio < 18.0
