"""Navigation for the reference controller: IMU-propagated velocity and altitude, radar-corrected.

The radar arrives at about 20 Hz, late, with dropouts and dust glitches; the IMU arrives every
frame. Propagating with the IMU and blending in each fresh radar sample keeps the velocity loop
fed at the control rate, and an innovation gate throws out glitches. Written for a C99 port:
three-element arrays, float arithmetic, no allocation.
"""

from __future__ import annotations

import math

MARS_G = 3.711  # m/s^2, the controller's model of gravity (facts file: ESA "Meet Mars")


class Navigation:
    """Velocity (x, y, z) and altitude estimates."""

    def __init__(self) -> None:
        self.velocity = [0.0, 0.0, 0.0]
        self.altitude = 0.0
        self.valid = False          # becomes true with the first valid radar measurement
        self.last_seq = -1
        self.rejects = 0            # consecutive gated radar samples
        self.since_radar = 0.0      # s since the last fresh radar sample

    def update(self, dt: float, imu: tuple[float, float, float] | None, radar_seq: int,
               radar: tuple[float, float, float, float] | None, config: dict) -> tuple[bool, bool]:
        """Advance by dt. radar = (altitude, vx, vy, vz) if the newest measurement is valid.

        Returns (fresh_invalid, rejected) for the fault flags.
        """
        v = self.velocity
        if self.valid and imu is not None:
            v[0] += imu[0] * dt
            v[1] += imu[1] * dt
            v[2] += (imu[2] - MARS_G) * dt
        if self.valid:
            self.altitude += v[2] * dt
        self.since_radar += dt
        fresh = radar_seq != self.last_seq
        self.last_seq = radar_seq
        if not fresh:
            return False, False
        if radar is None:
            return True, False
        altitude, vx, vy, vz = radar
        if not self.valid or imu is None:
            # Nothing to propagate with: take the radar as it is.
            v[0], v[1], v[2] = vx, vy, vz
            self.altitude = altitude
            self.valid = True
            self.since_radar = 0.0
            self.rejects = 0
            return False, False
        innovation = max(abs(vx - v[0]), abs(vy - v[1]), abs(vz - v[2]))
        if innovation > config["nav_gate_mps"] and self.rejects < config["nav_max_rejects"]:
            self.rejects += 1
            return False, True
        self.rejects = 0
        gain = config["nav_radar_gain"]
        v[0] += gain * (vx - v[0])
        v[1] += gain * (vy - v[1])
        v[2] += gain * (vz - v[2])
        tau = config["alt_filter_tau_s"]
        weight = 1.0 if tau <= 0.0 else min(1.0, self.since_radar / tau)
        self.altitude += weight * (altitude - self.altitude)
        self.since_radar = 0.0
        return False, False


def vertical_fraction(tilt_x: float, tilt_y: float) -> float:
    """Share of thrust that points up for a thrust direction along (tan tx, tan ty, 1)."""
    tx, ty = math.tan(tilt_x), math.tan(tilt_y)
    return 1.0 / math.sqrt(1.0 + tx * tx + ty * ty)
