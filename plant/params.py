"""Plant parameters: frozen dataclasses with SI units, defaults and their sources (docs/plant.md)."""
import math
from dataclasses import dataclass, field


class ParamError(ValueError):
    """A parameter value is out of range; `field` names it so loaders can add file and section."""

    def __init__(self, field_name: str, reason: str) -> None:
        super().__init__(f"{field_name} {reason}")
        self.field = field_name
        self.reason = reason


def _positive(obj: object, *names: str) -> None:
    for name in names:
        value = getattr(obj, name)
        # `not value > 0` also rejects NaN.
        if not value > 0:
            raise ParamError(name, f"must be positive, got {value!r}")


def _non_negative(obj: object, *names: str) -> None:
    for name in names:
        value = getattr(obj, name)
        if not value >= 0:
            raise ParamError(name, f"must be >= 0, got {value!r}")


def _within(obj: object, name: str, low: float, high: float) -> None:
    value = getattr(obj, name)
    if not low <= value <= high:
        raise ParamError(name, f"must be in [{low:g}, {high:g}], got {value!r}")


@dataclass(frozen=True)
class EngineParams:
    """Mars Lander Engines, lumped into one throttled thrust along the tilted body axis."""

    count: int = 8                          # engines lit [S: Dawson et al. 2007]
    max_thrust_per_engine_n: float = 3300.0  # N [S: Parker et al. 2013]
    min_throttle: float = 0.1               # fraction of full thrust; UNCONFIRMED ESTIMATE
    time_constant_s: float = 0.08           # s, first-order lag; UNCONFIRMED ESTIMATE (50-150 ms)
    isp_s: float = 218.0                    # s; UNCONFIRMED ESTIMATE (835 kN s / 390 kg / g0)
    thrust_bias: float = 1.0                # multiplies delivered thrust; flight ran high [S]

    def __post_init__(self) -> None:
        _positive(self, "count", "max_thrust_per_engine_n", "time_constant_s", "isp_s",
                  "thrust_bias")
        _within(self, "min_throttle", 0.0, 1.0)


@dataclass(frozen=True)
class DescentStageParams:
    """Descent stage without the rover."""

    dry_mass_kg: float = 850.0    # kg; UNCONFIRMED ESTIMATE (800-900)
    propellant_kg: float = 401.0  # kg at backshell separation [S: M2020, 884 lb; MSL 390]

    def __post_init__(self) -> None:
        _positive(self, "dry_mass_kg")
        _non_negative(self, "propellant_kg")


@dataclass(frozen=True)
class RoverParams:
    """Rover as a point mass at its wheel bottoms; the bridles attach at its deck."""

    mass_kg: float = 1025.0      # kg, Perseverance [S: JPL Mars 2020 press kit]
    deck_height_m: float = 1.1   # m, wheel bottom to bridle attachment; UNCONFIRMED ESTIMATE

    def __post_init__(self) -> None:
        _positive(self, "mass_kg", "deck_height_m")


@dataclass(frozen=True)
class BridleParams:
    """Three bridles and the umbilical as one tension-only spring-damper paid out by the BUD."""

    stiffness_n_per_m: float = 30000.0  # N/m; UNCONFIRMED ESTIMATE (3 x 5-15 kN/m)
    # N s/m: 2 * 0.3 * sqrt(30000 * 1025), i.e. damping ratio 0.3 for the default rover
    # hanging under a fixed descent stage; UNCONFIRMED ESTIMATE.
    damping_n_s_per_m: float = 3330.0
    length_m: float = 7.5               # m, fully deployed [2: AGU Eos 2012]
    # m/s relative to the DS. Facts say ~1 m/s [2, unconfirmed]; 0.75 gives MSL's predicted
    # separation-to-touchdown of ~15.7 s.
    payout_rate_mps: float = 0.75

    def __post_init__(self) -> None:
        _positive(self, "stiffness_n_per_m", "length_m", "payout_rate_mps")
        _non_negative(self, "damping_n_s_per_m")


@dataclass(frozen=True)
class GroundParams:
    """Flat ground under the rover wheels: penalty spring-damper plus regularised friction."""

    stiffness_n_per_m: float = 80000.0  # N/m: ~4.8 cm static sink for 1025 kg; UNCONFIRMED
    # N s/m: 2 * 0.7 * sqrt(80000 * 1025), damping ratio 0.7; UNCONFIRMED ESTIMATE.
    damping_n_s_per_m: float = 12700.0
    friction_coefficient: float = 0.5   # Coulomb mu; UNCONFIRMED ESTIMATE
    slip_velocity_mps: float = 0.01     # tanh regularisation speed; numerical choice

    def __post_init__(self) -> None:
        _positive(self, "stiffness_n_per_m", "slip_velocity_mps")
        _non_negative(self, "damping_n_s_per_m", "friction_coefficient")


@dataclass(frozen=True)
class AttitudeParams:
    """Pitch response to a tilt command (first-order lag; a later issue brings a 3-D loop)."""

    time_constant_s: float = 0.3          # s; UNCONFIRMED ESTIMATE
    max_tilt_rad: float = math.radians(60.0)  # rad; UNCONFIRMED ESTIMATE

    def __post_init__(self) -> None:
        _positive(self, "time_constant_s")
        _within(self, "max_tilt_rad", 0.0, math.pi / 2)


@dataclass(frozen=True)
class EnvironmentParams:
    """Planet and atmosphere; only gravity is modelled so far."""

    gravity_mps2: float = 3.711  # m/s^2 [S: ESA "Meet Mars"]

    def __post_init__(self) -> None:
        _positive(self, "gravity_mps2")


@dataclass(frozen=True)
class SensorParams:
    """1-sigma noise of the sensed quantities; all zero gives exact readings."""

    altitude_sigma_fraction: float = 0.002  # of altitude; UNCONFIRMED (TDS spec: <2 %)
    altitude_sigma_floor_m: float = 0.02    # m; UNCONFIRMED ESTIMATE
    velocity_sigma_mps: float = 0.03        # m/s per axis; UNCONFIRMED (TDS spec: ~0.1)

    def __post_init__(self) -> None:
        _non_negative(self, "altitude_sigma_fraction", "altitude_sigma_floor_m",
                      "velocity_sigma_mps")


@dataclass(frozen=True)
class PlantParams:
    """Everything the plant needs, plus its integration rate."""

    engine: EngineParams = field(default_factory=EngineParams)
    descent_stage: DescentStageParams = field(default_factory=DescentStageParams)
    rover: RoverParams = field(default_factory=RoverParams)
    bridle: BridleParams = field(default_factory=BridleParams)
    ground: GroundParams = field(default_factory=GroundParams)
    attitude: AttitudeParams = field(default_factory=AttitudeParams)
    environment: EnvironmentParams = field(default_factory=EnvironmentParams)
    sensors: SensorParams = field(default_factory=SensorParams)
    substep_hz: float = 500.0  # Hz, fixed RK4 step rate

    def __post_init__(self) -> None:
        if not self.substep_hz >= 500.0:
            raise ParamError("substep_hz", f"must be >= 500, got {self.substep_hz!r}")
        # RK4 is stable for a real pole only while dt / tau < ~2.8; keep well inside.
        for name, lag in (("engine.time_constant_s", self.engine.time_constant_s),
                          ("attitude.time_constant_s", self.attitude.time_constant_s)):
            if lag * self.substep_hz < 0.5:
                raise ParamError(name, f"must be >= 0.5 / substep_hz for a stable RK4, got {lag!r}")


@dataclass(frozen=True)
class InitialConditions:
    """State at backshell separation: rover attached, engines as given."""

    altitude_m: float = 2000.0  # m, DS attachment point above ground [2: 2.1-2.6 km M2020]
    vz_mps: float = -80.0       # m/s, up positive; UNCONFIRMED ESTIMATE (75-100 m/s)
    x_m: float = 0.0            # m
    vx_mps: float = 0.0         # m/s
    tilt_rad: float = 0.0       # rad, actual and commanded
    # Actual throttle at t = 0, also taken as the standing command; non-zero lets a test start
    # a burn without the engine lag.
    throttle: float = 0.0

    def __post_init__(self) -> None:
        _positive(self, "altitude_m")
        _within(self, "throttle", 0.0, 1.0)
        for name in ("vz_mps", "x_m", "vx_mps", "tilt_rad"):
            if not math.isfinite(getattr(self, name)):
                raise ParamError(name, f"must be finite, got {getattr(self, name)!r}")
