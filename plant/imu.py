"""IMU accelerometers: mean specific force over each sensing interval, with noise and bias."""
import math

import numpy as np

from plant.params import ImuParams

NAN = float("nan")


class Imu:
    """Specific force f = a - g_vec of the DS, in the local-level (world) frame.

    The integral of f over an interval is exactly dv - g_vec dt, so the mean over the interval
    since the previous read needs only the DS velocity then and now. The noise is that of the
    mean of N independent samples at rate_hz (N = sample instants in the interval): one normal
    per axis with sigma / sqrt(N), equal in distribution and much cheaper. The bias is drawn once
    per run, here. Expressing f in the world frame stands for the flight system's attitude
    knowledge (its gyros and attitude estimator), which is not modelled."""

    def __init__(self, params: ImuParams, gravity: float, rng: np.random.Generator,
                 t: float, velocity: tuple[float, float, float]) -> None:
        self.params = params
        self.gravity = float(gravity)
        self._rng = rng
        self.bias = (params.bias_sigma_mps2 * rng.standard_normal(3)).tolist()
        self._t, self._v = t, velocity

    def read(self, t: float,
             velocity: tuple[float, float, float]) -> tuple[bool, float, float, float]:
        """(valid, fx, fy, fz) averaged since the previous read; invalid if no sample fell in it."""
        rate = self.params.rate_hz
        noise = self._rng.standard_normal(3).tolist()  # always drawn: a stream that never forks
        t0, v0 = self._t, self._v
        self._t, self._v = t, velocity
        samples = math.floor(t * rate + 1e-9) - math.floor(t0 * rate + 1e-9)
        if t <= t0 or samples < 1:
            return False, NAN, NAN, NAN
        inv_dt = 1.0 / (t - t0)
        sigma = self.params.noise_sigma_mps2 / math.sqrt(samples)
        bx, by, bz = self.bias
        return (True,
                (velocity[0] - v0[0]) * inv_dt + bx + sigma * noise[0],
                (velocity[1] - v0[1]) * inv_dt + by + sigma * noise[1],
                (velocity[2] - v0[2]) * inv_dt + self.gravity + bz + sigma * noise[2])
