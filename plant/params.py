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


MAX_ALTITUDE_M = 20_000.0


def _finite(obj: object, *names: str) -> None:
    for name in names:
        value = getattr(obj, name)
        if not math.isfinite(value):
            raise ParamError(name, f"must be finite, got {value!r}")


@dataclass(frozen=True)
class EngineParams:
    """Mars Lander Engines, lumped into one throttled thrust along the tilted thrust axis."""

    count: int = 8                          # engines lit [S: Dawson et al. 2007]
    max_thrust_per_engine_n: float = 3300.0  # N [S: Parker et al. 2013]
    min_throttle: float = 0.1               # fraction of full thrust; UNCONFIRMED ESTIMATE
    time_constant_s: float = 0.08           # s, first-order lag; UNCONFIRMED ESTIMATE (50-150 ms)
    dead_time_s: float = 0.0                # s, command to response delay; UNCONFIRMED ESTIMATE
    isp_s: float = 218.0                    # s; UNCONFIRMED ESTIMATE (835 kN s / 390 kg / g0)
    thrust_bias: float = 1.0                # multiplies delivered thrust; flight ran high [S]

    def __post_init__(self) -> None:
        _positive(self, "count", "max_thrust_per_engine_n", "time_constant_s", "isp_s",
                  "thrust_bias")
        _within(self, "min_throttle", 0.0, 1.0)
        _within(self, "dead_time_s", 0.0, 1.0)


@dataclass(frozen=True)
class DescentStageParams:
    """Descent stage without the rover."""

    dry_mass_kg: float = 850.0    # kg; UNCONFIRMED ESTIMATE (800-900)
    propellant_kg: float = 401.0  # kg at backshell separation [S: M2020, 884 lb; MSL 390]
    drag_area_m2: float = 10.0    # m^2, Cd * A; UNCONFIRMED ESTIMATE - ours

    def __post_init__(self) -> None:
        _positive(self, "dry_mass_kg")
        _non_negative(self, "propellant_kg", "drag_area_m2")


@dataclass(frozen=True)
class RoverParams:
    """Rover as a point mass at its wheel bottoms; the bridles attach at its deck."""

    mass_kg: float = 1025.0      # kg, Perseverance [S: JPL Mars 2020 press kit]
    deck_height_m: float = 1.1   # m, wheel bottom to bridle attachment; UNCONFIRMED ESTIMATE
    drag_area_m2: float = 6.0    # m^2, Cd * A; UNCONFIRMED ESTIMATE - ours

    def __post_init__(self) -> None:
        _positive(self, "mass_kg", "deck_height_m")
        _non_negative(self, "drag_area_m2")


@dataclass(frozen=True)
class BridleParams:
    """Three bridles and the umbilical as one tension-only spring-damper paid out by the BUD."""

    stiffness_n_per_m: float = 30000.0  # N/m; UNCONFIRMED ESTIMATE (3 x 5-15 kN/m)
    # N s/m: 2 * 0.3 * sqrt(30000 * 1025), i.e. damping ratio 0.3 for the default rover
    # hanging under a fixed descent stage; UNCONFIRMED ESTIMATE.
    damping_n_s_per_m: float = 3330.0
    length_m: float = 7.5               # m, fully deployed [2: AGU Eos 2012]
    # m/s relative to the DS: the speed the BUD's descent brake holds. Facts say ~1 m/s
    # [2, unconfirmed]; 0.75 gives MSL's predicted separation-to-touchdown of ~15.7 s.
    payout_rate_mps: float = 0.75
    # N s/m: below the braked speed the spool turns at tension / this; UNCONFIRMED - ours.
    spool_damping_n_s_per_m: float = 1000.0

    def __post_init__(self) -> None:
        _positive(self, "stiffness_n_per_m", "length_m", "payout_rate_mps",
                  "spool_damping_n_s_per_m")
        _non_negative(self, "damping_n_s_per_m")


@dataclass(frozen=True)
class TerrainParams:
    """A plane through (0, 0, height_m), rising at slope_deg toward slope_azimuth_deg."""

    height_m: float = 0.0            # m, terrain height at the world origin (the datum)
    slope_deg: float = 0.0           # deg; the design allows up to 15 [S: NTRS 20070021683]
    slope_azimuth_deg: float = 0.0   # deg from +x toward +y: the uphill direction

    def __post_init__(self) -> None:
        _finite(self, "height_m", "slope_azimuth_deg")
        _within(self, "slope_deg", 0.0, 45.0)


@dataclass(frozen=True)
class GroundParams:
    """Wheel/suspension contact: penalty spring-damper on the terrain normal plus friction."""

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
    """Idealised attitude loop: per tilt axis a first-order response with a rate limit."""

    time_constant_s: float = 0.3                   # s; UNCONFIRMED ESTIMATE - ours
    max_rate_rad_s: float = math.radians(20.0)     # rad/s; UNCONFIRMED ESTIMATE - ours
    max_tilt_rad: float = math.radians(60.0)       # rad, per axis; UNCONFIRMED ESTIMATE - ours

    def __post_init__(self) -> None:
        _positive(self, "time_constant_s", "max_rate_rad_s")
        _within(self, "max_tilt_rad", 0.0, math.radians(80.0))


@dataclass(frozen=True)
class EnvironmentParams:
    """Planet and atmosphere: uniform gravity, exponential density."""

    gravity_mps2: float = 3.711         # m/s^2 [S: ESA "Meet Mars"]
    density_kg_m3: float = 0.017        # kg/m^3 at the terrain datum; UNCONFIRMED (0.013-0.020)
    scale_height_m: float = 11100.0     # m [S/2: ESA; Exploratorium]

    def __post_init__(self) -> None:
        _positive(self, "gravity_mps2", "scale_height_m")
        _non_negative(self, "density_kg_m3")


@dataclass(frozen=True)
class WindParams:
    """Horizontal wind: a steady part plus first-order Gauss-Markov gusts on each axis."""

    steady_x_mps: float = 0.0          # m/s; landing-site winds < 8 m/s [S: Paton et al. 2018]
    steady_y_mps: float = 0.0          # m/s
    gust_sigma_mps: float = 0.0        # m/s, 1-sigma of each gust axis; UNCONFIRMED - ours
    gust_time_constant_s: float = 3.0  # s, correlation time; UNCONFIRMED ESTIMATE - ours
    gust_update_hz: float = 50.0       # Hz, rate of the gust state's exact update; numerical

    def __post_init__(self) -> None:
        _finite(self, "steady_x_mps", "steady_y_mps")
        _non_negative(self, "gust_sigma_mps")
        _positive(self, "gust_time_constant_s", "gust_update_hz")


@dataclass(frozen=True)
class RadarParams:
    """Terminal Descent Sensor: beam ranges to altitude, ground-relative velocity, errors."""

    rate_hz: float = 20.0                   # Hz; UNCONFIRMED ESTIMATE (facts: ~20 Hz)
    latency_s: float = 0.05                 # s, measurement to delivery; UNCONFIRMED ESTIMATE
    beam_cant_deg: float = 20.0             # deg off the thrust axis; UNCONFIRMED ESTIMATE - ours
    velocity_sigma_mps: float = 0.05        # m/s per axis; UNCONFIRMED (spec ~0.1 [S])
    range_scale_error: float = 0.015        # per-run scale error bound per beam [S: < 2 %]
    range_sigma_fraction: float = 0.001     # white range noise, fraction of range; UNCONFIRMED
    dropout_probability: float = 0.0        # per measurement; UNCONFIRMED ESTIMATE - ours
    dust_altitude_m: float = 20.0           # m, DS height below which dust can glitch; ours
    dust_glitch_probability: float = 0.0    # per measurement below dust_altitude_m; ours
    dust_dropout_probability: float = 0.0   # added dropout chance below dust_altitude_m; ours
    dust_glitch_min_mps: float = 0.3        # m/s, glitch size range [S: Chen & Pollard 2014]
    dust_glitch_max_mps: float = 1.0        # m/s; sizes UNCONFIRMED ESTIMATE - ours

    def __post_init__(self) -> None:
        _positive(self, "rate_hz")
        _non_negative(self, "latency_s", "velocity_sigma_mps", "range_sigma_fraction",
                      "dust_altitude_m", "dust_glitch_min_mps")
        _within(self, "beam_cant_deg", 5.0, 45.0)
        _within(self, "range_scale_error", 0.0, 0.2)
        _within(self, "dropout_probability", 0.0, 1.0)
        _within(self, "dust_glitch_probability", 0.0, 1.0)
        _within(self, "dust_dropout_probability", 0.0, 1.0)
        if not self.dust_glitch_max_mps >= self.dust_glitch_min_mps:
            raise ParamError("dust_glitch_max_mps",
                             f"must be >= dust_glitch_min_mps, got {self.dust_glitch_max_mps!r}")


@dataclass(frozen=True)
class ImuParams:
    """Accelerometers of the IMU: white noise per sample and a constant bias per run."""

    rate_hz: float = 200.0             # Hz; Phoenix's MIMU ran at 200 Hz [S] (an analogue)
    noise_sigma_mps2: float = 0.02     # m/s^2 per sample, 1-sigma; UNCONFIRMED ESTIMATE - ours
    bias_sigma_mps2: float = 0.003     # m/s^2, 1-sigma of the per-run bias; UNCONFIRMED - ours

    def __post_init__(self) -> None:
        if not self.rate_hz >= 100.0:
            raise ParamError("rate_hz", f"must be >= 100, got {self.rate_hz!r}")
        _non_negative(self, "noise_sigma_mps2", "bias_sigma_mps2")


@dataclass(frozen=True)
class PlantParams:
    """Everything the plant needs, plus its integration rate."""

    engine: EngineParams = field(default_factory=EngineParams)
    descent_stage: DescentStageParams = field(default_factory=DescentStageParams)
    rover: RoverParams = field(default_factory=RoverParams)
    bridle: BridleParams = field(default_factory=BridleParams)
    terrain: TerrainParams = field(default_factory=TerrainParams)
    ground: GroundParams = field(default_factory=GroundParams)
    attitude: AttitudeParams = field(default_factory=AttitudeParams)
    environment: EnvironmentParams = field(default_factory=EnvironmentParams)
    wind: WindParams = field(default_factory=WindParams)
    radar: RadarParams = field(default_factory=RadarParams)
    imu: ImuParams = field(default_factory=ImuParams)
    substep_hz: float = 500.0  # Hz, fixed step rate

    def __post_init__(self) -> None:
        if not self.substep_hz >= 500.0:
            raise ParamError("substep_hz", f"must be >= 500, got {self.substep_hz!r}")
        # The bridle's Maxwell element (spring in series with the spool) has the time constant
        # c_spool / k; RK4 is stable for a real pole only while dt / tau < ~2.8.
        bridle = self.bridle
        if bridle.spool_damping_n_s_per_m / bridle.stiffness_n_per_m * self.substep_hz < 0.5:
            raise ParamError("bridle.spool_damping_n_s_per_m",
                             f"must be >= 0.5 * stiffness / substep_hz for a stable RK4, got "
                             f"{bridle.spool_damping_n_s_per_m!r}")
        if self.radar.rate_hz > self.substep_hz:
            raise ParamError("radar.rate_hz", f"must be <= substep_hz, got {self.radar.rate_hz!r}")
        if self.wind.gust_update_hz > self.substep_hz:
            raise ParamError("wind.gust_update_hz",
                             f"must be <= substep_hz, got {self.wind.gust_update_hz!r}")


@dataclass(frozen=True)
class InitialConditions:
    """State at backshell separation: rover attached, engines as given."""

    altitude_m: float = 2000.0  # m, DS attachment point above the terrain under it [2: 2.1-2.6 km]
    vz_mps: float = -80.0       # m/s, up positive; UNCONFIRMED ESTIMATE (75-100 m/s)
    x_m: float = 0.0            # m
    y_m: float = 0.0            # m
    vx_mps: float = 0.0         # m/s
    vy_mps: float = 0.0         # m/s
    tilt_x_rad: float = 0.0     # rad, actual and commanded
    tilt_y_rad: float = 0.0     # rad, actual and commanded
    # Actual throttle at t = 0, also taken as the standing command; non-zero lets a test start
    # a burn without the engine lag.
    throttle: float = 0.0

    def __post_init__(self) -> None:
        _positive(self, "altitude_m")
        # Powered descent starts near 2 km; the flat, constant-gravity, exponential-atmosphere
        # environment is no model of anything above a few tens of km.
        _within(self, "altitude_m", 0.0, MAX_ALTITUDE_M)
        _within(self, "throttle", 0.0, 1.0)
        _finite(self, "vz_mps", "x_m", "y_m", "vx_mps", "vy_mps", "tilt_x_rad", "tilt_y_rad")
