"""Command conditioning: how the engines and attitude control accept throttle and tilt commands."""
import math

from plant.params import AttitudeParams, EngineParams


def throttle_command(throttle: float, engine: EngineParams) -> float:
    """Throttle the engines will track: 0 (off) for <= 0, else clipped to [min_throttle, 1]."""
    if not math.isfinite(throttle):
        raise ValueError(f"throttle command must be finite, got {throttle!r}")
    if throttle <= 0.0:
        return 0.0
    return min(1.0, max(float(engine.min_throttle), float(throttle)))


def tilt_command(tilt_rad: float, attitude: AttitudeParams) -> float:
    """Tilt the attitude control will track, clipped to +/- max_tilt_rad."""
    if not math.isfinite(tilt_rad):
        raise ValueError(f"tilt command must be finite, got {tilt_rad!r}")
    limit = float(attitude.max_tilt_rad)
    return min(limit, max(-limit, float(tilt_rad)))
