"""Environment seen by both bodies: uniform gravity and an exponential atmosphere for drag."""
import math

from plant.params import EnvironmentParams

# Standard gravity, used only to turn specific impulse into exhaust velocity.
G0_MPS2 = 9.80665


def gravity_mps2(env: EnvironmentParams) -> float:
    """Downward acceleration on every body, m/s^2 (uniform field)."""
    # A uniform field is fine over a 2 km descent: g changes by ~0.1 % per 3.4 km of height.
    return float(env.gravity_mps2)


def density_kg_m3(env: EnvironmentParams, height_above_datum_m: float) -> float:
    """Atmospheric density at a height above the terrain datum (isothermal exponential)."""
    return env.density_kg_m3 * math.exp(-height_above_datum_m / env.scale_height_m)
