"""The plant's fixed-step scheme against a tight adaptive integrator, and energy conservation.

Each test prints what it measured (`pytest -s tests/test_plant_reference.py`): docs/plant.md
quotes it."""
import math
from dataclasses import replace

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from plant import InitialConditions, Plant, PlantParams
from plant import actuators, dynamics
from plant.integrator import rk4_forced

pytestmark = pytest.mark.timeout(60)

G = 3.711


def sky_crane(params: PlantParams) -> Plant:
    """A pair in the sky-crane phase: separated at 200 m, bridles fully out, bounce damped."""
    hover = (850.0 + 401.0 + 1025.0) * G / (8 * 3300.0)
    plant = Plant(params, InitialConditions(altitude_m=200.0, vz_mps=0.0, throttle=hover),
                  np.random.default_rng(0))
    plant.apply(hover, 0.0, 0.0, True, False)
    plant.advance(15.0)
    assert plant.event_time("bridles_full") is not None
    return plant


def test_plant_matches_dop853_over_a_20_s_sky_crane_stretch():
    # Rover hanging, throttle near hover (the mass falls as propellant burns), small tilt steps
    # through the lags, drag in a steady wind, no gusts, no contact, the line taut throughout.
    # Reference: DOP853 at rtol = atol = 1e-10 on dynamics.derivatives (the same model with the
    # actuators integrated as ODEs). Tolerance: 1 mm on every position.
    params = PlantParams()
    params = replace(params, wind=replace(params.wind, steady_x_mps=6.0, steady_y_mps=-3.0))
    plant = sky_crane(params)
    plant.apply(0.36, 0.03, -0.02, False, False)
    x0, u, t0 = plant.state(), plant.inputs(), plant.t
    p = (dynamics.constants(params), actuators.actuator_constants(params))
    times, rows = [], []
    for _ in range(200):
        plant.advance(0.1)
        truth = plant.truth()
        assert truth.bridle_tension_n > 0.0 and truth.rover_normal_force_n == 0.0
        times.append(plant.t)
        rows.append((truth.ds_x, truth.ds_y, truth.ds_z, truth.rover_x, truth.rover_y,
                     truth.rover_z))
    assert plant.t - t0 == pytest.approx(20.0)
    ref = solve_ivp(lambda t, x: dynamics.derivatives(t, x, u, p), (t0, times[-1]), x0,
                    method="DOP853", rtol=1e-10, atol=1e-10, t_eval=times)
    assert ref.success
    expected = ref.y[[dynamics.DS_X, dynamics.DS_Y, dynamics.DS_Z, dynamics.ROVER_X,
                      dynamics.ROVER_Y, dynamics.ROVER_Z]].T
    error = np.max(np.abs(np.array(rows) - expected))
    print(f"largest position error against DOP853 over 20 s: {error:.1e} m (allowed 1e-3 m)")
    assert error <= 1e-3
    # The stretch moved: the pair climbs as propellant burns, drifts and swings.
    assert abs(rows[-1][2] - rows[0][2]) > 1.0 and abs(rows[-1][0] - rows[0][0]) > 1.0


def spinning_pair(params: PlantParams) -> tuple[list[float], float, float]:
    """Rover hanging 7.63 m under the DS (line fully out, 13 cm stretch), the two swinging round
    their common centre of mass so the line stays taut in free fall; returns state, m_ds, m_r."""
    m_ds = params.descent_stage.dry_mass_kg + params.descent_stage.propellant_kg
    m_r = params.rover.mass_kg
    spin = 6.4  # m/s relative, across the line
    x = [0.0, 0.0, 300.0, 2.0 + spin * m_r / (m_ds + m_r), 1.0, 0.0,
         0.0, 0.0, 300.0 - 1.1 - 7.63, 2.0 - spin * m_ds / (m_ds + m_r), 1.0, 0.0, 7.5]
    return x, m_ds, m_r


def energy(x: list[float], m_ds: float, m_r: float, c: dynamics.Constants) -> float:
    kinetic = (0.5 * m_ds * (x[3]**2 + x[4]**2 + x[5]**2)
               + 0.5 * m_r * (x[9]**2 + x[10]**2 + x[11]**2))
    potential = G * (m_ds * x[2] + m_r * x[8])
    stretch = math.dist(x[0:3], (x[6], x[7], x[8] + c.deck_height)) - x[12]
    assert stretch > 0.0  # taut throughout: the check would be vacuous on a slack line
    return kinetic + potential + 0.5 * c.bridle_k * stretch**2


def test_energy_is_conserved_with_engines_off_and_no_losses():
    # Engines off, no drag, no bridle damping: kinetic + gravity + spring energy constant to
    # 1e-6 of the pair's kinetic + elastic energy (the part free of the potential's datum) over
    # 10 s, stepping the plant's mechanics with the plant's RK4 at 500 Hz.
    params = PlantParams()
    params = replace(params, environment=replace(params.environment, density_kg_m3=0.0),
                     bridle=replace(params.bridle, damping_n_s_per_m=0.0))
    c = dynamics.constants(params)
    x, m_ds, m_r = spinning_pair(params)
    off = (0.0, 0.0, 0.0, 1.0 / m_ds)
    e0 = energy(x, m_ds, m_r, c)
    scale = e0 - G * (m_ds * x[2] + m_r * x[8])
    dt = 1.0 / params.substep_hz
    worst = 0.0
    for _ in range(round(10.0 / dt)):
        x = rk4_forced(dynamics.hanging, x, dt, off, off, off, (0.0, 0.0), c)
        worst = max(worst, abs(energy(x, m_ds, m_r, c) - e0))
    print(f"largest energy change over 10 s: {worst / scale:.1e} of the kinetic + elastic energy (allowed 1e-6)")
    assert worst / scale <= 1e-6
    assert x[12] == 7.5  # no payout once fully out


def test_mechanics_integration_is_fourth_order():
    # The spinning, bouncing pair (smooth: the line never slackens). Reference: 4 kHz. The
    # comparison uses 250 and 500 Hz: at 1 kHz the error (~1e-11 m) meets rounding.
    params = PlantParams()
    c = dynamics.constants(params)

    def final(hz):
        x, m_ds, _ = spinning_pair(params)
        forcing = (0.0, 0.0, 0.0, 1.0 / m_ds)
        for _ in range(round(2.0 * hz)):
            x = rk4_forced(dynamics.hanging, x, 1.0 / hz, forcing, forcing, forcing, (3.0, 0.0), c)
        return np.array(x[:12])

    ref = final(4000.0)
    ratio = np.max(np.abs(final(250.0) - ref)) / np.max(np.abs(final(500.0) - ref))
    print(f"error at 250 Hz / error at 500 Hz: {ratio:.2f} (fourth order: 16; allowed 14..18)")
    assert 14.0 < ratio < 18.0
