"""Wind: gust statistics of the Gauss-Markov model and how the plant holds and updates it."""
import math
from dataclasses import replace

import numpy as np
import pytest

from plant import InitialConditions, Plant, PlantParams
from plant.params import WindParams
from plant.wind import Wind

pytestmark = pytest.mark.timeout(60)


def test_gust_statistics_match_sigma_and_correlation_time():
    # 300,000 updates at 50 Hz = 6000 s = 2000 correlation times. Stated tolerances: sample std
    # within 8 % of sigma (standard error ~1.6 %), correlation time from the autocorrelation at
    # a lag of tau within 15 % (standard error ~4 %), mean within 0.15 sigma.
    params = WindParams(steady_x_mps=5.0, steady_y_mps=-1.0, gust_sigma_mps=1.5,
                        gust_time_constant_s=3.0, gust_update_hz=50.0)
    wind = Wind(params, 500.0, np.random.default_rng(21))
    assert wind.every == 10 and wind.interval_s == pytest.approx(0.02)
    samples = np.empty((300_000, 2))
    for i in range(len(samples)):
        samples[i] = wind.velocity
        wind.update()
    gusts = samples - [5.0, -1.0]
    assert np.std(gusts, axis=0) == pytest.approx([1.5, 1.5], rel=0.08)
    assert np.all(np.abs(np.mean(gusts, axis=0)) < 0.15 * 1.5)
    lag = round(3.0 / 0.02)
    for axis in range(2):
        g = gusts[:, axis] - gusts[:, axis].mean()
        rho = np.dot(g[:-lag], g[lag:]) / np.dot(g, g)
        assert -lag * 0.02 / math.log(rho) == pytest.approx(3.0, rel=0.15)
    # The axes are independent.
    assert abs(np.corrcoef(gusts.T)[0, 1]) < 0.1


def test_no_gusts_means_no_draws_and_a_steady_wind():
    rng = np.random.default_rng(3)
    wind = Wind(WindParams(steady_x_mps=2.0), 500.0, rng)
    assert not wind.gusty and wind.velocity == (2.0, 0.0)
    assert rng.bit_generator.state == np.random.default_rng(3).bit_generator.state


def test_plant_holds_gusts_between_updates():
    params = PlantParams(wind=WindParams(steady_x_mps=5.0, gust_sigma_mps=1.5,
                                         gust_update_hz=50.0))
    plant = Plant(params, InitialConditions(), np.random.default_rng(2))
    seen = []
    for _ in range(100):  # 0.2 s in substeps: 10 gust updates
        plant.advance(0.002)
        seen.append((plant.truth().wind_x, plant.truth().wind_y))
    changes = sum(a != b for a, b in zip(seen, seen[1:]))
    assert changes == 10  # after substeps 10, 20, ..., 100
    assert len(set(seen)) == 11
    calm = replace(params, wind=replace(params.wind, gust_sigma_mps=0.0))
    plant = Plant(calm, InitialConditions(), np.random.default_rng(2))
    plant.advance(1.0)
    assert (plant.truth().wind_x, plant.truth().wind_y) == (5.0, 0.0)
