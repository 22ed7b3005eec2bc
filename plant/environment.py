"""Environment seen by both bodies: gravity now; the atmosphere (drag, wind) will join here."""
from plant.params import EnvironmentParams

# Standard gravity, used only to turn specific impulse into exhaust velocity.
G0_MPS2 = 9.80665


def gravity_mps2(env: EnvironmentParams) -> float:
    """Downward acceleration on every body, m/s^2 (flat ground, uniform field)."""
    # A uniform field is fine over a 2 km descent: g changes by ~0.1 % per 3.4 km of height.
    return float(env.gravity_mps2)
