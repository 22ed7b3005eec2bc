"""Radar and IMU models, sensor frames, truth snapshots and determinism by seed."""
import math
from dataclasses import replace

import numpy as np
import pytest

from plant import InitialConditions, Plant, PlantParams, Truth, load_scenario
from plant.params import ImuParams, RadarParams, TerrainParams
from plant.radar import Radar
from plant.terrain import terrain

pytestmark = pytest.mark.timeout(60)

G = 3.711
EXACT_RADAR = RadarParams(velocity_sigma_mps=0.0, range_scale_error=0.0, range_sigma_fraction=0.0)


def hovering(params: PlantParams | None = None, altitude_m: float = 100.0, seed: int = 0,
             **initial) -> Plant:
    """A stack whose engines hold its weight exactly (no mass flow, no drag)."""
    params = params or PlantParams()
    params = replace(params, engine=replace(params.engine, isp_s=1e15),
                     environment=replace(params.environment, density_kg_m3=0.0))
    hover = (850.0 + 401.0 + 1025.0) * G / (8 * 3300.0)
    return Plant(params, InitialConditions(altitude_m=altitude_m, vz_mps=0.0, throttle=hover,
                                           **initial), np.random.default_rng(seed))


def test_radar_rate_latency_and_sequence():
    # Measured every 0.05 s from t = 0, each delivered 0.05 s later; held in between. In free
    # fall from rest with an exact radar, the delivered values are the truth 0.05 s earlier.
    params = replace(PlantParams(radar=EXACT_RADAR),
                     environment=replace(PlantParams().environment, density_kg_m3=0.0))
    plant = Plant(params, InitialConditions(altitude_m=500.0, vz_mps=0.0), np.random.default_rng(0))
    plant.apply(0.0, 0.0, 0.0, False, False)
    frame = plant.sense()
    assert frame.radar_seq == 0 and not frame.radar_valid and math.isnan(frame.altitude_m)
    seqs = []
    for i in range(1, 501):  # 1 s in substeps
        plant.advance(0.002)
        frame = plant.sense()
        seqs.append(frame.radar_seq)
        t_measured = 0.05 * (frame.radar_seq - 1)
        if frame.radar_seq:
            assert frame.radar_valid
            assert frame.vz_mps == pytest.approx(-G * t_measured, abs=1e-12)
            assert frame.altitude_m == pytest.approx(500.0 - 0.5 * G * t_measured**2, abs=1e-9)
            assert frame.vx_mps == frame.vy_mps == 0.0
    assert seqs[-1] == 20  # 20 Hz: measurements at 0 ... 0.95 s delivered by 1.0 s
    first = seqs.index(1)
    assert (first + 1) * 0.002 == pytest.approx(0.05)
    assert all(b - a in (0, 1) for a, b in zip(seqs, seqs[1:]))


@pytest.mark.parametrize("tilt, slope", [(0.0, 0.0), (0.25, 0.0), (0.0, 15.0), (0.2, 15.0)])
def test_radar_range_error_within_two_percent(tilt, slope):
    # 40 runs (each its own per-beam scale errors) x 20 measurements at 30-300 m: the altitude
    # from the three beams stays within 2 % of the true height, level or tilted, flat or sloped.
    worst = 0.0
    for seed in range(40):
        height = 30.0 + 270.0 * (seed / 39.0)
        plane = terrain(TerrainParams(slope_deg=slope, slope_azimuth_deg=70.0))
        radar = Radar(RadarParams(), 500.0, plane, *np.random.default_rng(seed).spawn(2))
        for i in range(20):
            radar.measure(i * 25, (3.0, -2.0, height + plane.grad_x * 3.0 - plane.grad_y * 2.0),
                          (0.0, 0.0, 0.0), tilt, -0.5 * tilt, True)
            radar.deliver(i * 25 + 25)
            assert radar.valid
            worst = max(worst, abs(radar.altitude_m / height - 1.0))
    assert worst <= 0.02
    assert worst > 0.002  # the errors are really there


def test_radar_range_errors_are_per_beam_scale_plus_noise():
    plane = terrain(TerrainParams())
    radar = Radar(RadarParams(range_sigma_fraction=0.0), 500.0, plane, *np.random.default_rng(4).spawn(2))
    radar.measure(0, (0.0, 0.0, 100.0), (0.0, 0.0, 0.0), 0.0, 0.0, True)
    radar.deliver(25)
    # Level over flat ground the three symmetric beams weigh nearly equally: close to the mean
    # scale error (not exactly: a scaled range also moves its ground point sideways).
    assert radar.altitude_m == pytest.approx(100.0 * sum(radar.scale) / 3.0, rel=1e-4)
    assert radar.altitude_m != pytest.approx(100.0, rel=1e-3)
    assert all(abs(s - 1.0) <= 0.015 for s in radar.scale)


def test_radar_velocity_noise_sigma():
    # 4000 measurements at rest: sample sigma within 5 % (standard error ~1.1 %), mean ~0.
    radar = Radar(RadarParams(), 500.0, terrain(TerrainParams()), *np.random.default_rng(5).spawn(2))
    v = []
    for i in range(4000):
        radar.measure(i, (0.0, 0.0, 100.0), (1.0, -2.0, -0.75), 0.0, 0.0, True)
        radar.deliver(i + 25)
        v.append((radar.vx_mps - 1.0, radar.vy_mps + 2.0, radar.vz_mps + 0.75))
    v = np.array(v)
    assert np.std(v, axis=0) == pytest.approx([0.05] * 3, rel=0.05)
    assert np.all(np.abs(np.mean(v, axis=0)) < 0.003)


def test_radar_dropouts_keep_the_last_valid_values_and_count():
    radar = Radar(replace(EXACT_RADAR, dropout_probability=0.3), 500.0, terrain(TerrainParams()),
                  *np.random.default_rng(6).spawn(2))
    drops = 0
    for i in range(3000):
        radar.measure(i, (0.0, 0.0, 100.0 - 0.01 * i), (0.0, 0.0, -0.75), 0.0, 0.0, True)
        before = radar.altitude_m
        radar.deliver(i + 25)
        assert radar.seq == i + 1
        if not radar.valid:
            drops += 1
            assert radar.altitude_m == before or (math.isnan(before) and
                                                   math.isnan(radar.altitude_m))
        else:
            assert radar.altitude_m == pytest.approx(100.0 - 0.01 * i)
    assert drops / 3000 == pytest.approx(0.3, abs=0.03)  # ~3.6 sigma


def test_dust_glitches_only_below_the_dust_altitude_with_engines_firing():
    params = replace(EXACT_RADAR, dust_glitch_probability=0.5, dust_dropout_probability=0.2)
    plane = terrain(TerrainParams(height_m=50.0))

    def errors(height, thrusting, n=2000):
        radar = Radar(params, 500.0, plane, *np.random.default_rng(7).spawn(2))
        out, drops = [], 0
        for i in range(n):
            radar.measure(i, (0.0, 0.0, 50.0 + height), (0.1, 0.2, -0.75), 0.0, 0.0, thrusting)
            radar.deliver(i + 25)
            drops += not radar.valid
            out.append((radar.vx_mps - 0.1, radar.vy_mps - 0.2, radar.vz_mps + 0.75))
        return np.array(out), drops / n

    above, drops = errors(20.5, True)
    assert np.all(above == 0.0) and drops == 0.0
    quiet, drops = errors(5.0, False)
    assert np.all(quiet == 0.0) and drops == 0.0
    dusty, drops = errors(5.0, True)
    glitched = np.any(dusty != 0.0, axis=1)
    assert glitched.mean() == pytest.approx(0.5, abs=0.05)
    assert drops == pytest.approx(0.2, abs=0.03)
    sizes = np.abs(dusty[glitched & np.isfinite(dusty).all(axis=1)])  # not a dropout before any valid value
    assert np.all(np.count_nonzero(sizes, axis=1) == 1)  # one axis at a time
    picked = sizes.max(axis=1)
    assert picked.min() >= 0.3 and picked.max() <= 1.0
    assert np.all(np.count_nonzero(dusty[glitched], axis=0) > 0.2 * glitched.sum())


def test_radar_altitude_in_the_plant_follows_tilt_and_slope():
    params = PlantParams(radar=EXACT_RADAR, terrain=TerrainParams(slope_deg=10.0,
                                                                  slope_azimuth_deg=200.0))
    plant = hovering(params, altitude_m=40.0, x_m=20.0, y_m=10.0, tilt_x_rad=0.3, tilt_y_rad=0.2)
    plant.advance(0.2)
    frame, truth = plant.sense(), plant.truth()
    assert frame.radar_valid and frame.radar_seq == 4  # measured at 0, 0.05, 0.1, 0.15 s
    # Delivered measurements are 0.05 s old; the stack drifts sideways over sloped ground.
    assert frame.altitude_m == pytest.approx(truth.ds_height_m, abs=0.05)


def test_imu_reads_gravity_plus_bias_in_hover():
    # Noise off: the mean specific force over each interval is exactly (0, 0, g) + bias.
    plant = hovering(PlantParams(imu=ImuParams(noise_sigma_mps2=0.0)), seed=11)
    first = plant.sense()
    assert not first.imu_valid and math.isnan(first.imu_fz)
    bias = plant._imu.bias
    assert max(abs(b) for b in bias) > 0.0
    for _ in range(20):
        plant.advance(1 / 50)
        frame = plant.sense()
        assert frame.imu_valid
        assert (frame.imu_fx, frame.imu_fy, frame.imu_fz) == pytest.approx(
            (bias[0], bias[1], G + bias[2]), abs=1e-9)
    # Over many runs the bias has the stated sigma (200 runs: within 15 %).
    biases = [Plant(PlantParams(), InitialConditions(), np.random.default_rng(s))._imu.bias
              for s in range(200)]
    assert np.std(biases) == pytest.approx(0.003, rel=0.15)


def test_imu_noise_sigma_is_per_sample_over_the_mean():
    # 200 Hz samples, read every 0.02 s: 4 samples, so sigma / 2 per axis; within 5 %.
    plant = hovering(PlantParams(imu=ImuParams(bias_sigma_mps2=0.0)), seed=12)
    plant.sense()
    reads = []
    for _ in range(4000):
        plant.advance(0.02)
        frame = plant.sense()
        reads.append((frame.imu_fx, frame.imu_fy, frame.imu_fz - G))
    assert np.std(reads, axis=0) == pytest.approx([0.01] * 3, rel=0.05)
    assert np.all(np.abs(np.mean(reads, axis=0)) < 0.001)
    # Read again at the same instant: no sample in the interval, so not valid.
    frame = plant.sense()
    assert not frame.imu_valid


def test_imu_sees_thrust_and_drag_not_gravity_in_free_fall():
    params = PlantParams(imu=ImuParams(noise_sigma_mps2=0.0, bias_sigma_mps2=0.0))
    params = replace(params, environment=replace(params.environment, density_kg_m3=0.0))
    plant = Plant(params, InitialConditions(altitude_m=500.0), np.random.default_rng(0))
    plant.apply(0.0, 0.0, 0.0, False, False)
    plant.sense()
    plant.advance(0.5)
    frame = plant.sense()
    assert (frame.imu_fx, frame.imu_fy, frame.imu_fz) == pytest.approx((0.0, 0.0, 0.0), abs=1e-9)


def frames(seed: int, scenario: str = "radar-dust") -> list:
    """Sensor frames and truth rows of a noisy, gusty run."""
    params = load_scenario(scenario).params
    params = replace(params, wind=replace(params.wind, gust_sigma_mps=1.5))
    plant = Plant(params, InitialConditions(altitude_m=15.0, vz_mps=-0.75, throttle=0.3),
                  np.random.default_rng(seed))
    out = []
    for _ in range(100):
        plant.apply(0.3, 0.02, -0.01, False, False)
        plant.advance(0.02)
        out.append((plant.sense(), plant.truth().row()))
    return out


def test_same_seed_gives_identical_runs():
    assert frames(7) == frames(7)
    assert frames(7) != frames(8)


def test_sensor_frame_and_truth_fields():
    plant = hovering()
    plant.apply(0.5, 0.0, 0.0, True, False)
    plant.advance(2.0)
    frame, truth = plant.sense(), plant.truth()
    assert frame.bridle_length_m == truth.bridle_length_m > 1.0
    assert frame.separated and not frame.cut and frame.t == truth.t == 2.0
    assert Truth.FIELDS == (
        "t", "ds_x", "ds_y", "ds_z", "ds_vx", "ds_vy", "ds_vz",
        "rover_x", "rover_y", "rover_z", "rover_vx", "rover_vy", "rover_vz",
        "tilt_x_rad", "tilt_y_rad", "throttle_actual", "thrust_n", "propellant_kg", "ds_mass_kg",
        "bridle_length_m", "bridle_tension_n", "rover_normal_force_n", "ground_z_rover",
        "ds_height_m", "wind_x", "wind_y", "separated", "cut", "faults_active")
    truth = Plant(PlantParams(), InitialConditions(), np.random.default_rng(0)).truth()
    assert len(truth.row()) == len(Truth.FIELDS)
    assert truth.ds_mass_kg == 850.0 + 401.0 and truth.rover_z == pytest.approx(2000.0 - 1.1)
