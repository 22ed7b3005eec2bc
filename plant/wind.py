"""Horizontal wind: a steady part plus first-order Gauss-Markov gusts, updated at a fixed rate."""
import math

import numpy as np

from plant.params import WindParams


class Wind:
    """Wind (m/s) held between gust updates; update() advances the gusts by one interval exactly.

    Each gust axis is filtered white noise, dg/dt = -g / tau + sigma sqrt(2 / tau) w(t), sampled
    without discretisation error: g' = a g + sigma sqrt(1 - a^2) n, a = exp(-interval / tau). It
    starts from its stationary distribution, so the statistics hold from t = 0."""

    def __init__(self, params: WindParams, substep_hz: float, rng: np.random.Generator) -> None:
        self.steady_x = float(params.steady_x_mps)
        self.steady_y = float(params.steady_y_mps)
        self.sigma = float(params.gust_sigma_mps)
        # Gusts change every `every` substeps; the interval is a whole number of substeps.
        self.every = max(1, round(substep_hz / params.gust_update_hz))
        self.interval_s = self.every / substep_hz
        self.decay = math.exp(-self.interval_s / params.gust_time_constant_s)
        self.drive = self.sigma * math.sqrt(1.0 - self.decay * self.decay)
        self._rng = rng
        self.gust_x = self.gust_y = 0.0
        if self.gusty:
            self.gust_x, self.gust_y = (self.sigma * rng.standard_normal(2)).tolist()

    @property
    def gusty(self) -> bool:
        """Whether the gusts move at all (sigma > 0); if not, update() need never be called."""
        return self.sigma > 0.0

    @property
    def velocity(self) -> tuple[float, float]:
        """Current wind (x, y), m/s."""
        return self.steady_x + self.gust_x, self.steady_y + self.gust_y

    def update(self) -> None:
        """Advance the gusts by one interval (two normal draws)."""
        nx, ny = self._rng.standard_normal(2).tolist()
        self.gust_x = self.decay * self.gust_x + self.drive * nx
        self.gust_y = self.decay * self.gust_y + self.drive * ny
