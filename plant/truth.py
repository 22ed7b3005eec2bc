"""Truth: an immutable snapshot of the plant's true state and loads, for telemetry and checks."""
from dataclasses import dataclass, fields
from typing import ClassVar


@dataclass(frozen=True)
class Truth:
    """True plant state at time t (SI units; world frame, z up)."""

    t: float                     # s
    ds_x: float                  # m, DS bridle attachment point
    ds_y: float                  # m
    ds_z: float                  # m
    ds_vx: float                 # m/s
    ds_vy: float                 # m/s
    ds_vz: float                 # m/s
    rover_x: float               # m, rover wheel bottom
    rover_y: float               # m
    rover_z: float               # m
    rover_vx: float              # m/s
    rover_vy: float              # m/s
    rover_vz: float              # m/s
    tilt_x_rad: float            # rad, actual thrust tilt toward +x
    tilt_y_rad: float            # rad, actual thrust tilt toward +y
    throttle_actual: float       # fraction of full thrust
    thrust_n: float              # N, delivered (bias included, 0 without propellant)
    propellant_kg: float         # kg
    ds_mass_kg: float            # kg, dry + propellant (rover excluded)
    bridle_length_m: float       # m, unstretched length paid out
    bridle_tension_n: float      # N
    rover_normal_force_n: float  # N, terrain on rover wheels, along the terrain normal
    ground_z_rover: float        # m, terrain height under the rover
    ds_height_m: float           # m, DS attachment point above the terrain under it
    wind_x: float                # m/s
    wind_y: float                # m/s
    separated: bool
    cut: bool
    faults_active: int = 0       # bit i: fault i of the run's schedule is active (plant/faults.py)

    # Column names in declaration order, e.g. for a CSV header.
    FIELDS: ClassVar[tuple[str, ...]]

    def row(self) -> tuple:
        """Field values in FIELDS order."""
        return tuple(getattr(self, name) for name in self.FIELDS)


Truth.FIELDS = tuple(f.name for f in fields(Truth))
