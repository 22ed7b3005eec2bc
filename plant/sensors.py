"""SensorFrame: what the flight computer reads once per control cycle (radar, IMU, BUD encoder)."""
from dataclasses import dataclass


@dataclass(frozen=True)
class SensorFrame:
    """Sensor readings at time t. Radar values are the newest delivered measurement, held; NaN
    before the first valid one. IMU values are means since the previous frame; NaN if invalid."""

    t: float                # s
    radar_valid: bool       # newest delivered radar measurement is a valid solution
    radar_seq: int          # radar measurements delivered so far, valid or not
    altitude_m: float       # m, radar altitude of the DS above the terrain
    vx_mps: float           # m/s, radar ground-relative DS velocity, world frame
    vy_mps: float           # m/s
    vz_mps: float           # m/s, up positive
    imu_valid: bool         # at least one IMU sample since the previous frame
    imu_fx: float           # m/s^2, mean specific force, local-level (world) frame
    imu_fy: float           # m/s^2
    imu_fz: float           # m/s^2, hover reads +g
    bridle_length_m: float  # m, BUD encoder (exact)
    separated: bool
    cut: bool
    # Told faults (hil.icd.HealthFlags): what the vehicle's fault protection reports; the
    # defaults are a healthy vehicle (plant/faults.py sets them for a fault with told = true).
    health: int = 0
    thrust_avail: float = 1.0   # share of full thrust the engines can deliver
