"""Sensor models: radar altimeter and velocimeter with Gaussian noise, exact BUD encoder."""
from dataclasses import dataclass

import numpy as np

from plant.params import SensorParams
from plant.truth import Truth


@dataclass(frozen=True)
class SensorFrame:
    """What the flight computer reads at one instant."""

    t: float                # s
    altitude_m: float       # m, radar range to the flat ground below the DS attachment point
    vz_mps: float           # m/s, DS vertical velocity, up positive
    vx_mps: float           # m/s, DS horizontal velocity
    bridle_length_m: float  # m, BUD encoder (exact)
    radar_valid: bool       # no dropout model yet: always True
    separated: bool
    cut: bool


def measure(truth: Truth, params: SensorParams, rng: np.random.Generator) -> SensorFrame:
    """Sample the sensors once. Always draws three normals, so the random stream does not
    depend on which sigmas are zero."""
    n_alt, n_vz, n_vx = rng.standard_normal(3)
    alt_sigma = params.altitude_sigma_fraction * abs(truth.ds_z) + params.altitude_sigma_floor_m
    vel_sigma = params.velocity_sigma_mps
    return SensorFrame(
        t=truth.t,
        altitude_m=truth.ds_z + alt_sigma * float(n_alt),
        vz_mps=truth.ds_vz + vel_sigma * float(n_vz),
        vx_mps=truth.ds_vx + vel_sigma * float(n_vx),
        bridle_length_m=truth.bridle_length_m,
        radar_valid=True,
        separated=truth.separated,
        cut=truth.cut,
    )
