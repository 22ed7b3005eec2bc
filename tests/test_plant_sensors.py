"""Sensor frames and truth snapshots: noise levels, determinism by seed, exact zero-noise reads."""
import numpy as np
import pytest

from plant import InitialConditions, Plant, PlantParams, Truth
from plant.params import SensorParams

pytestmark = pytest.mark.timeout(60)


def frames(seed: int, params: PlantParams | None = None, n: int = 50) -> list:
    plant = Plant(params or PlantParams(), InitialConditions(), np.random.default_rng(seed))
    out = []
    for _ in range(n):
        plant.apply(0.6, 0.1, False, False)
        plant.advance(0.05)
        out.append(plant.sense())
    return out


def test_same_seed_gives_identical_sensor_sequence():
    assert frames(7) == frames(7)
    assert frames(7) != frames(8)


def test_zero_noise_reads_truth_exactly():
    params = PlantParams(sensors=SensorParams(0.0, 0.0, 0.0))
    plant = Plant(params, InitialConditions(), np.random.default_rng(3))
    plant.apply(0.5, 0.0, True, False)
    plant.advance(2.0)
    frame, truth = plant.sense(), plant.truth()
    assert (frame.t, frame.altitude_m, frame.vz_mps, frame.vx_mps, frame.bridle_length_m) == (
        truth.t, truth.ds_z, truth.ds_vz, truth.ds_vx, truth.bridle_length_m)
    assert frame.bridle_length_m == pytest.approx(1.5)
    assert frame.radar_valid and frame.separated and not frame.cut


def test_noise_has_the_specified_sigma():
    # 4000 samples at a fixed state: sample sigma within 5 % (its standard error is ~1.1 %).
    plant = Plant(PlantParams(), InitialConditions(altitude_m=1000.0), np.random.default_rng(5))
    truth = plant.truth()
    samples = np.array([[f.altitude_m, f.vz_mps, f.vx_mps]
                        for f in (plant.sense() for _ in range(4000))])
    errors = samples - np.array([truth.ds_z, truth.ds_vz, truth.ds_vx])
    assert np.std(errors[:, 0]) == pytest.approx(0.002 * 1000.0 + 0.02, rel=0.05)
    assert np.std(errors[:, 1]) == pytest.approx(0.03, rel=0.05)
    assert np.std(errors[:, 2]) == pytest.approx(0.03, rel=0.05)
    assert abs(np.mean(errors[:, 1])) < 0.003


def test_truth_field_names_for_telemetry():
    assert Truth.FIELDS[0] == "t"
    assert Truth.FIELDS == (
        "t", "ds_x", "ds_z", "ds_vx", "ds_vz", "rover_x", "rover_z", "rover_vx", "rover_vz",
        "tilt_rad", "throttle_actual", "thrust_n", "propellant_kg", "ds_mass_kg",
        "bridle_length_m", "bridle_tension_n", "rover_normal_force_n", "separated", "cut")
    truth = Plant(PlantParams(), InitialConditions(), np.random.default_rng(0)).truth()
    assert len(truth.row()) == len(Truth.FIELDS)
    assert truth.ds_mass_kg == 850.0 + 401.0 and truth.rover_z == pytest.approx(2000.0 - 1.1)
