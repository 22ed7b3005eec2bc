"""Reference descent controller: the executable specification that the C firmware ports.

Written the way the C will be: one flat state record, float arithmetic only, no allocation,
clock taken from the sensor frame. docs/controller.md describes it state by state.
"""

from __future__ import annotations

import functools
import math
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction

from hil import icd
from hil.icd import ControllerState as S
from hil.icd import Discretes, Faults, HealthFlags, SensorFlags
from hil.reference.navigation import MARS_G, Navigation, vertical_fraction

# Flag bits as plain ints: an IntFlag operation builds an enum member each time (slow per cycle).
_FRAME_SKIP, _CLOCK_BACKWARDS = int(Faults.FRAME_SKIP), int(Faults.CLOCK_BACKWARDS)
_RADAR_INVALID, _RADAR_REJECTED, _NO_NAVIGATION = (int(Faults.RADAR_INVALID), int(Faults.RADAR_REJECTED),
                                                   int(Faults.NO_NAVIGATION))
_IMU_VALID, _RADAR_VALID, _CUT_DONE = int(SensorFlags.IMU_VALID), int(SensorFlags.RADAR_VALID), int(SensorFlags.CUT)
_SEPARATE, _CUT = int(Discretes.SEPARATE), int(Discretes.CUT)
_RADAR_FAILED, _IMU_FAILED, _ENGINES_DEGRADED = (int(HealthFlags.RADAR_FAILED), int(HealthFlags.IMU_FAILED),
                                                 int(HealthFlags.ENGINES_DEGRADED))

BRIDLE_FULL_TOL_M = 0.01  # BUD length within this of bridle_full_m counts as fully out
HOVER_EST_MIN, HOVER_EST_MAX = 0.02, 1.0
THRUST_AVAIL_MIN = 0.0625  # a told thrust_avail is taken no lower (exact in float32): below it no throttle helps


@dataclass(frozen=True)
class SensorInput:
    """One sensor frame as the device decodes it (field order of the ICD sensor block)."""

    frame: int
    t_us: int
    radar_seq: int
    altitude_m: float
    vx_mps: float
    vy_mps: float
    vz_mps: float
    imu_fx: float
    imu_fy: float
    imu_fz: float
    bridle_length_m: float
    flags: int
    health: int = 0             # HealthFlags: told faults
    thrust_avail: float = 1.0   # share of full thrust, with ENGINES_DEGRADED


@dataclass(frozen=True)
class CommandOutput:
    """The command block the device answers with (step_time_us is added by the device)."""

    frame: int
    state: int
    throttle: float
    tilt_x_rad: float
    tilt_y_rad: float
    discretes: int
    td_time_us: int
    faults: int
    state_since_us: int = 0     # clock when the state was entered


class ReferenceController:
    """Braking, constant-velocity descent, sky crane, touchdown detection, cut, flyaway."""

    def __init__(self, config: Mapping[str, float] | None = None) -> None:
        self.config = icd.config_defaults()
        if config:
            self.config.update(config)
        self.reset()

    def reset(self) -> None:
        c = self.config
        self.state = S.STANDBY
        self.prev_frame = -1
        self.prev_t_us = 0
        self.nav = Navigation()
        self.hover_est = c["throttle_init"]   # throttle that holds the current load in hover
        self.throttle = 0.0
        self.tilt_x = 0.0
        self.tilt_y = 0.0
        self.discretes = 0
        self.faults = 0
        self.baseline = 0.0                   # filtered throttle the touchdown drop is measured against
        self.drop_time_us = 0                 # how long the throttle has stayed below the drop line
        self.t_bridles_full_us = -1
        self.t_event_us = 0                   # frame time of the last separation / touchdown / cut
        self.td_time_us = icd.TD_NOT_DECLARED
        self.state_since_us = 0               # clock when the current state was entered
        self.thrust_avail = 1.0               # share of full thrust the throttle scale is set for

    # -- one control step ------------------------------------------------------------------

    def step(self, s: SensorInput) -> CommandOutput:
        if self.state == S.LINK_LOST:  # latched until reset (a config write)
            return self._output(self._last_frame())
        c = self.config
        self.faults = 0
        first = self.prev_frame < 0
        if not first and s.frame != self.prev_frame + 1:
            self.faults |= _FRAME_SKIP
        if first:
            dt = 1.0 / c["control_rate_hz"]
        elif s.t_us > self.prev_t_us:
            dt = (s.t_us - self.prev_t_us) * 1e-6
        else:
            dt = 0.0  # no time passed: integrate nothing
            self.faults |= _CLOCK_BACKWARDS
        dt_us = round(dt * 1e6)
        self.prev_frame, self.prev_t_us = s.frame, s.t_us

        # A sensor the vehicle reports failed (told) is not used, whatever its valid flag says.
        imu = (s.imu_fx, s.imu_fy, s.imu_fz) if s.flags & _IMU_VALID and not s.health & _IMU_FAILED else None
        radar = ((s.altitude_m, s.vx_mps, s.vy_mps, s.vz_mps)
                 if s.flags & _RADAR_VALID and not s.health & _RADAR_FAILED else None)
        invalid, rejected = self.nav.update(dt, imu, s.radar_seq, radar, c)
        if invalid:
            self.faults |= _RADAR_INVALID
        if rejected:
            self.faults |= _RADAR_REJECTED
        if not self.nav.valid:
            # No velocity estimate yet: hold the last command, change nothing else.
            self.faults |= _NO_NAVIGATION
            return self._output(s.frame)

        altitude = self.nav.altitude
        vx, vy, vz = self.nav.velocity
        entered = self.state
        self._advance_state(altitude, s.bridle_length_m, s.flags, s.t_us)
        self._rescale_throttle(available_thrust(s.health, s.thrust_avail))
        if self.state in (S.FLYAWAY, S.ENGINES_OFF):
            self._flyaway(vz, s.t_us, dt)
        else:
            v_ref, a_ref = self._guidance(altitude, vz)
            limit = c["tilt_max_rad"]
            self.tilt_x = _clip(-c["kp_vh"] * vx, -limit, limit)
            self.tilt_y = _clip(-c["kp_vh"] * vy, -limit, limit)
            self._track(v_ref, a_ref, vz, dt)
            self._detect_touchdown(s.t_us, dt, dt_us)
        if self.state != entered:
            self.state_since_us = s.t_us
        return self._output(s.frame)

    def link_lost(self, t_us: int) -> CommandOutput:
        """Real-time watchdog: no sensor frame for watchdog_s. Safe state LINK_LOST, latched until reset.

        Throttle holds the hover estimate while the engines were burning (POWERED_DESCENT ..
        FLYAWAY), else 0; both tilts 0; discretes stay as they are (no new pyro); td_time_us
        and the frame stay those of the last step. t_us: the controller clock now (the device
        time since the first frame), state_since_us of LINK_LOST.
        """
        if self.state != S.LINK_LOST:
            burning = S.POWERED_DESCENT <= self.state <= S.FLYAWAY
            self.throttle = self.hover_est if burning else 0.0
            self.tilt_x = 0.0
            self.tilt_y = 0.0
            self.state = S.LINK_LOST
            self.state_since_us = t_us
        self.faults = int(Faults.WATCHDOG)
        return self._output(self._last_frame())

    def _last_frame(self) -> int:
        return self.prev_frame if self.prev_frame >= 0 else 0

    def _advance_state(self, altitude: float, bridle_length: float, flags: int, t_us: int) -> None:
        """State transitions that depend on the sensors (touchdown is decided in the detector)."""
        c = self.config
        if self.state == S.STANDBY:
            self.state = S.POWERED_DESCENT
            self.hover_est = c["throttle_init"]  # here, not at reset: the run's config is written by now
            if flags & _CUT_DONE:
                # A cold start after the cut (a board reset): the rover is down, only the flyaway
                # is left; descending by altitude would put the stage on it.
                self.state = S.FLYAWAY
                self.discretes |= _SEPARATE | _CUT
                self.t_event_us = t_us
        if self.state == S.POWERED_DESCENT and altitude <= c["h_cv_m"]:
            self.state = S.CONSTANT_VELOCITY
        if self.state == S.CONSTANT_VELOCITY and altitude <= c["h_sep_m"]:
            self.state = S.SKY_CRANE
            self.discretes |= _SEPARATE
            self.t_event_us = t_us
            self.baseline = self.throttle
        if self.state == S.SKY_CRANE:
            if self.t_bridles_full_us < 0 and bridle_length >= c["bridle_full_m"] - BRIDLE_FULL_TOL_M:
                self.t_bridles_full_us = t_us
            if (self.t_bridles_full_us >= 0 and c["td_enable"]
                    and t_us - self.t_bridles_full_us >= duration_us(c["td_arm_delay_s"])):
                self.state = S.TOUCHDOWN_ARMED
                self.drop_time_us = 0
        if self.state == S.TOUCHDOWN and t_us - self.t_event_us >= duration_us(c["cut_delay_s"]):
            self.state = S.FLYAWAY
            self.discretes |= _CUT
            self.t_event_us = t_us

    def _rescale_throttle(self, avail: float) -> None:
        """A told change of the available thrust changes what a throttle delivers: the hover
        estimate and the detector's baseline (both throttles) move at once to keep the same
        thrust, instead of the integrator winding up to it and the detector taking the step for
        a drop. Bounded as the throttle is (the baseline filters a throttle of at most 1)."""
        if avail == self.thrust_avail:
            return
        ratio = self.thrust_avail / avail
        self.hover_est = _clip(self.hover_est * ratio, HOVER_EST_MIN, HOVER_EST_MAX)
        baseline = self.baseline * ratio
        self.baseline = baseline if baseline < 1.0 else 1.0
        self.thrust_avail = avail

    def _guidance(self, altitude: float, vz: float) -> tuple[float, float]:
        """Reference vertical velocity and its rate for the powered-descent and sky-crane states."""
        c = self.config
        if self.state != S.POWERED_DESCENT:
            return -c["v_cv_mps"], 0.0
        # Constant-deceleration braking profile that arrives at v_cv at h_cv.
        height = max(0.0, altitude - c["h_cv_m"])
        speed = math.sqrt(c["v_cv_mps"] ** 2 + 2.0 * c["brake_decel_mps2"] * height)
        v_ref = -speed
        # Rate of v_ref along the actual descent: a_b * vz / v_ref, bounded.
        a_ref = _clip(c["brake_decel_mps2"] * vz / v_ref, 0.0, 2.0 * c["brake_decel_mps2"])
        return v_ref, a_ref

    def _track(self, v_ref: float, a_ref: float, vz: float, dt: float) -> None:
        """Velocity loop: throttle = hover estimate scaled by the wanted acceleration.

        Scaling by the hover estimate makes the gains independent of mass and engine bias:
        the integrator learns the throttle that holds the load, whatever the thrust really is.
        """
        c = self.config
        error = v_ref - vz
        accel = a_ref + c["kp_vz"] * error
        raw = self.hover_est * (1.0 + accel / MARS_G) / vertical_fraction(self.tilt_x, self.tilt_y)
        self.throttle = _clip(raw, c["throttle_min"], 1.0)
        saturated_low = raw <= c["throttle_min"] and error < 0.0
        saturated_high = raw >= 1.0 and error > 0.0
        if not (saturated_low or saturated_high):  # anti-windup
            self.hover_est = _clip(self.hover_est + c["ki_vz"] * error * dt, HOVER_EST_MIN, HOVER_EST_MAX)

    def _detect_touchdown(self, t_us: int, dt: float, dt_us: int) -> None:
        """Touchdown: the throttle stays a set fraction below its filtered baseline for a while.

        Relative, not absolute: engine thrust bias moves the whole throttle level. The baseline
        is frozen while the throttle is below the drop line so the drop cannot drag it down.
        """
        c = self.config
        if self.state not in (S.SKY_CRANE, S.TOUCHDOWN_ARMED):
            return
        below = self.throttle < (1.0 - c["td_drop_frac"]) * self.baseline
        if not below or self.state == S.SKY_CRANE:
            self.baseline += (self.throttle - self.baseline) * min(1.0, dt / c["td_baseline_tau_s"])
        if self.state != S.TOUCHDOWN_ARMED:
            return
        self.drop_time_us = self.drop_time_us + dt_us if below else 0
        if below and self.drop_time_us >= duration_us(c["td_persist_s"]):
            self.state = S.TOUCHDOWN
            self.t_event_us = t_us
            self.td_time_us = t_us

    def _flyaway(self, vz: float, t_us: int, dt: float) -> None:
        """After the cut: short hover, vertical climb, tilted burn, engines off."""
        c = self.config
        since = t_us - self.t_event_us
        hover_end = duration_us(c["flyaway_hover_s"])
        climb_end = duration_us(c["flyaway_hover_s"], c["flyaway_climb_s"])
        burn_end = duration_us(c["flyaway_hover_s"], c["flyaway_climb_s"], c["flyaway_burn_s"])
        self.tilt_y = 0.0
        if since < climb_end:
            self.tilt_x = 0.0
            self._track(0.0 if since < hover_end else c["flyaway_climb_mps"], 0.0, vz, dt)
        elif since < burn_end:
            self.tilt_x = c["flyaway_tilt_rad"]
            throttle = c["flyaway_throttle"] / self.thrust_avail   # the same thrust from degraded engines
            self.throttle = throttle if throttle < 1.0 else 1.0
        else:
            self.state = S.ENGINES_OFF
            self.tilt_x = 0.0
            self.throttle = 0.0

    def _output(self, frame: int) -> CommandOutput:
        return CommandOutput(frame, int(self.state), self.throttle, self.tilt_x, self.tilt_y,
                             self.discretes, self.td_time_us, self.faults, self.state_since_us)


def available_thrust(health: int, thrust_avail: float) -> float:
    """The share of full thrust the engines deliver: thrust_avail when ENGINES_DEGRADED is told,
    within [THRUST_AVAIL_MIN, 1]; 1 when not told or not a number."""
    if not health & _ENGINES_DEGRADED or math.isnan(thrust_avail):
        return 1.0
    return _clip(thrust_avail, THRUST_AVAIL_MIN, 1.0)


@functools.lru_cache(maxsize=256)  # a handful of config values, asked every cycle; Fraction is slow
def duration_us(*seconds: float) -> int:
    """Whole microseconds that config durations (summed) last: the exact ceiling of their float32 values.

    Times are compared as integer microseconds of frame time, so a threshold that falls exactly
    on a microsecond gives the same answer here (float64) as in the float32 firmware.
    """
    total = sum((Fraction(struct.unpack("<f", struct.pack("<f", s))[0]) for s in seconds if s > 0.0),
                Fraction(0))
    return math.ceil(total * 1_000_000)


def _clip(value: float, low: float, high: float) -> float:
    return low if value < low else high if value > high else value
