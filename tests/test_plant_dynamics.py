"""Plant dynamics against closed-form answers: free fall, rocket equation, statics, lags, RK4."""
import math
from dataclasses import replace

import numpy as np
import pytest

from plant import InitialConditions, Plant, PlantParams
from plant import dynamics
from plant.integrator import rk4_step
from plant.params import DescentStageParams, EngineParams

pytestmark = pytest.mark.timeout(60)

G = 3.711
G0 = 9.80665


def make(params: PlantParams | None = None, **initial) -> Plant:
    return Plant(params or PlantParams(), InitialConditions(**initial), np.random.default_rng(0))


def no_mass_flow(params: PlantParams | None = None) -> PlantParams:
    """Params whose engines burn (almost) no propellant, so a fixed throttle hovers exactly."""
    params = params or PlantParams()
    return replace(params, engine=replace(params.engine, isp_s=1e15))


def full_thrust(params: PlantParams) -> float:
    e = params.engine
    return e.count * e.max_thrust_per_engine_n * e.thrust_bias


def test_free_fall_is_exact_parabola():
    # Tolerance 1e-9 relative: RK4 integrates a constant acceleration exactly, leaving rounding.
    plant = make(altitude_m=2000.0, vz_mps=-80.0, vx_mps=3.0)
    plant.apply(0.0, 0.0, False, False)
    for _ in range(10):
        plant.advance(1.0)
        t = plant.t
        truth = plant.truth()
        assert truth.ds_z == pytest.approx(2000.0 - 80.0 * t - 0.5 * G * t * t, rel=1e-9)
        assert truth.ds_vz == pytest.approx(-80.0 - G * t, rel=1e-9)
        assert truth.ds_x == pytest.approx(3.0 * t, rel=1e-9)
        assert truth.rover_z == pytest.approx(truth.ds_z - 1.1, rel=1e-9)
        assert truth.thrust_n == 0.0
    assert plant.t == pytest.approx(10.0, abs=1e-12)
    assert not plant.events


@pytest.mark.parametrize("bias", [1.0, 1.1])
def test_constant_throttle_burn_matches_rocket_equation(bias):
    # Engine lag removed by starting at the commanded throttle; tolerance 1e-6 relative.
    params = PlantParams(engine=EngineParams(thrust_bias=bias))
    throttle, z0, v0, duration = 0.5, 2000.0, -80.0, 20.0
    plant = make(params, altitude_m=z0, vz_mps=v0, throttle=throttle)
    plant.apply(throttle, 0.0, False, False)
    plant.advance(duration)

    thrust = throttle * full_thrust(params)
    ve = params.engine.isp_s * G0
    mdot = thrust / ve
    m0 = 850.0 + 401.0 + 1025.0
    m_t = m0 - mdot * duration
    v = v0 + ve * math.log(m0 / m_t) - G * duration
    z = z0 + v0 * duration - 0.5 * G * duration**2 + ve * (duration + m_t / mdot * math.log(m_t / m0))
    truth = plant.truth()
    assert truth.thrust_n == pytest.approx(thrust, rel=1e-12)
    assert truth.propellant_kg == pytest.approx(401.0 - mdot * duration, rel=1e-9)
    assert truth.ds_vz - v0 == pytest.approx(v - v0, rel=1e-6)
    assert truth.ds_z - z0 == pytest.approx(z - z0, rel=1e-6)


def test_rover_hanging_under_hovering_ds_settles_to_its_weight():
    # The DS thrust equals the total weight, so the pair's centre of mass stays put while the
    # bridle pays out (10 s) and the bounce decays. Tolerance 0.5 % of m g.
    params = no_mass_flow()
    hover = (850.0 + 401.0 + 1025.0) * G / full_thrust(params)
    plant = make(params, altitude_m=200.0, vz_mps=0.0, throttle=hover)
    plant.apply(hover, 0.0, True, False)
    plant.advance(25.0)
    truth = plant.truth()
    assert truth.bridle_length_m == pytest.approx(7.5)
    assert truth.bridle_tension_n == pytest.approx(1025.0 * G, rel=0.005)
    assert truth.ds_z - truth.rover_z - 1.1 == pytest.approx(7.5 + 1025.0 * G / 30000.0, abs=1e-3)
    assert abs(truth.rover_vz) < 1e-3 and abs(truth.ds_vz) < 1e-3


def test_rover_resting_on_ground_settles_to_its_weight():
    # Rover released with its wheels at the ground under a DS hovering on its own weight.
    # Tolerance 0.5 % of m g; static sink m g / k within 1 mm.
    params = no_mass_flow()
    hover = (850.0 + 401.0) * G / full_thrust(params)
    plant = make(params, altitude_m=1.1, vz_mps=0.0, throttle=hover)
    plant.apply(hover, 0.0, True, True)
    plant.advance(5.0)
    truth = plant.truth()
    assert truth.rover_normal_force_n == pytest.approx(1025.0 * G, rel=0.005)
    assert truth.rover_z == pytest.approx(-1025.0 * G / 80000.0, abs=1e-3)
    assert truth.ds_z == pytest.approx(1.1, abs=1e-9)
    assert not plant.ended


def test_friction_stops_a_sliding_rover():
    # Coulomb deceleration mu g stops 0.5 m/s within ~0.3 s; the tanh law leaves no creep.
    params = no_mass_flow()
    hover = (850.0 + 401.0) * G / full_thrust(params)
    plant = make(params, altitude_m=1.1, vz_mps=0.0, vx_mps=0.5, throttle=hover)
    plant.apply(hover, 0.0, True, True)
    plant.advance(3.0)
    truth = plant.truth()
    assert abs(truth.rover_vx) < 1e-3
    assert 0.5**2 / (2 * 0.5 * G) <= truth.rover_x <= 0.2
    assert truth.ds_vx == pytest.approx(0.5)


def test_cut_frees_the_rover():
    params = no_mass_flow()
    hover = (850.0 + 401.0 + 1025.0) * G / full_thrust(params)
    plant = make(params, altitude_m=200.0, vz_mps=0.0, throttle=hover)
    plant.apply(hover, 0.0, True, False)
    plant.advance(15.0)
    assert plant.truth().bridle_tension_n > 3000.0
    plant.apply(hover, 0.0, False, True)
    before = plant.truth()
    for _ in range(50):
        plant.advance(0.01)
        assert plant.truth().bridle_tension_n == 0.0
    after = plant.truth()
    # Free rover: exactly ballistic (tolerance: rounding).
    assert after.rover_vz - before.rover_vz == pytest.approx(-G * 0.5, rel=1e-9)
    assert after.cut and after.separated


def test_bridle_is_tension_only():
    k, c = 30000.0, 3330.0
    # Slack: 5 m apart, 7 m paid out.
    assert dynamics.bridle_tension(0.0, 5.0, 0.0, 0.0, 7.0, 0.0, k, c)[0] == 0.0
    # Stretched but closing fast: k s + c s' < 0 must not push.
    assert dynamics.bridle_tension(0.0, 7.1, 0.0, -2.0, 7.0, 0.0, k, c)[0] == 0.0
    # Stretched and still: pure spring, along the line.
    tension, ex, ez = dynamics.bridle_tension(3.0, 4.0, 0.0, 0.0, 4.9, 0.0, k, c)
    assert tension == pytest.approx(k * 0.1)
    assert (ex, ez) == pytest.approx((0.6, 0.8))
    # Payout counts as the line lengthening: stretch rate = separation rate - payout.
    assert dynamics.bridle_tension(0.0, 7.1, 0.0, 0.0, 7.0, 0.75, k, c)[0] == pytest.approx(
        k * 0.1 - c * 0.75)


def test_slack_bridle_leaves_both_bodies_ballistic():
    p = PlantParams()
    c = dynamics.constants(p)
    x = [0.0, 100.0, 0.0, 0.0, 0.0, 95.0, 0.0, 0.0, 0.0, 0.0, 390.0, 7.5]  # 3.9 m apart < 7.5
    d = dynamics.derivatives(0.0, x, dynamics.Inputs(0.0, 0.0, dynamics.HANGING, 0.0), c)
    assert d[dynamics.DS_VZ] == -G and d[dynamics.ROVER_VZ] == -G
    assert d[dynamics.DS_VX] == 0.0 and d[dynamics.ROVER_VX] == 0.0


def test_ground_never_pulls():
    # Penetrating but leaving fast: the damper would pull, the ground must not.
    assert dynamics.ground_reaction(-0.01, 0.0, 2.0, 80000.0, 12700.0, 0.5, 100.0) == (0.0, 0.0)
    assert dynamics.ground_reaction(0.5, 1.0, -1.0, 80000.0, 12700.0, 0.5, 100.0) == (0.0, 0.0)


def test_throttle_command_conditioning_and_lag():
    plant = make(altitude_m=2000.0)
    plant.apply(0.05, 0.0, False, False)  # below minimum: raised to 0.1
    plant.advance(0.4)  # 5 time constants
    assert plant.truth().throttle_actual == pytest.approx(0.1 * (1 - math.exp(-0.4 / 0.08)),
                                                          rel=1e-7)
    plant.apply(1.7, 0.0, False, False)
    plant.advance(2.0)
    assert plant.truth().throttle_actual == pytest.approx(1.0, abs=1e-9)
    plant.apply(0.0, 0.0, False, False)  # exactly zero: engines off
    plant.advance(2.0)
    assert plant.truth().throttle_actual == pytest.approx(0.0, abs=1e-9)
    with pytest.raises(ValueError):
        plant.apply(float("nan"), 0.0, False, False)


def test_tilt_lag_limit_and_sign():
    plant = make(altitude_m=2000.0, throttle=0.5)
    plant.apply(0.5, 0.2, False, False)
    plant.advance(0.3)
    truth = plant.truth()
    assert truth.tilt_rad == pytest.approx(0.2 * (1 - math.exp(-1.0)), rel=1e-7)
    assert truth.ds_vx > 0.0  # positive tilt pushes toward +x
    plant.apply(0.5, -5.0, False, False)
    plant.advance(10.0)
    assert plant.truth().tilt_rad == pytest.approx(-math.radians(60.0), rel=1e-9)


def test_propellant_runs_out():
    params = PlantParams(descent_stage=DescentStageParams(propellant_kg=2.0))
    plant = make(params, altitude_m=2000.0, throttle=1.0)
    plant.apply(1.0, 0.0, False, False)
    plant.advance(2.0)
    mdot = full_thrust(params) / (218.0 * G0)
    # The cut-off falls inside an RK4 step, so the event may land one substep late: 2 substeps.
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


def test_plant_integration_is_fourth_order():
    # Smooth case: throttle and tilt lags steering the attached pair. Reference: 16 kHz.
    def final(hz):
        params = PlantParams(substep_hz=hz)
        plant = make(params, altitude_m=2000.0, vz_mps=0.0, vx_mps=0.0)
        plant.apply(0.8, 0.5, False, False)
        plant.advance(1.0)
        truth = plant.truth()
        return np.array([truth.ds_vx, truth.ds_vz, truth.ds_x])

    ref = final(16000.0)
    err_coarse = np.max(np.abs(final(500.0) - ref))
    err_fine = np.max(np.abs(final(1000.0) - ref))
    assert 13.0 < err_coarse / err_fine < 19.0
