"""The controller contract on hand-made frames, over the Python reference and the C core: state
machine, touchdown detection, cut and flyaway, navigation, faults, limits, link lost.

Each test runs once per implementation (tests/contract.py). Frames go in as a host sends them in
lockstep (a write of the whole sensor block steps the controller once) and answers come back from
the command block, so both implementations are held to the same register-level behaviour; the
controller's inner state is read through probe().
"""

import math
import struct
from dataclasses import astuple, replace

import pytest

from hil import icd
from hil.icd import ControllerState as S
from hil.icd import Discretes, Faults, HealthFlags, SensorFlags
from hil.reference import CommandOutput, SensorInput
from tests import contract

pytestmark = pytest.mark.timeout(30)
VALID = int(SensorFlags.RADAR_VALID)


def f32(x: float) -> float:
    return struct.unpack("<f", struct.pack("<f", x))[0]


def as_sent(out: CommandOutput) -> CommandOutput:
    """The answer as the command block carries it (float32 values)."""
    return replace(out, throttle=f32(out.throttle), tilt_x_rad=f32(out.tilt_x_rad), tilt_y_rad=f32(out.tilt_y_rad))


class Frames:
    """Feeds 50 Hz frames to one implementation: a fresh radar sample every frame, no IMU unless given.

    Without an IMU the navigation takes each radar sample as it is, so these tests script the
    controller's view of altitude and velocity directly.
    """

    def __init__(self, implementation: str, **config):
        self.dev = contract.device(implementation, lambda: 0)
        self.configure(**config)
        self.frame = 0
        self.t_us = 0               # the clock of the last frame sent

    def configure(self, **values) -> None:
        """A config write: the values over the ICD defaults; starts a new run (the reset)."""
        self.dev.write(icd.CONFIG.base, icd.encode_config({**icd.config_defaults(), **values}))

    def step(self, altitude=1000.0, vz=-50.0, vx=0.0, vy=0.0, bridle=0.0, flags=VALID, dt=0.02,
             imu=(0.0, 0.0, 0.0), seq=None, health=0, thrust_avail=1.0) -> CommandOutput:
        self.frame += 1
        seq = self.frame if seq is None else seq
        return self.send(SensorInput(self.frame, round(self.frame * dt * 1e6), seq, altitude, vx, vy, vz,
                                     *imu, bridle, flags, health, thrust_avail))

    def send(self, frame: SensorInput) -> CommandOutput:
        """One frame as the host writes it (lockstep: one step); the command block it leaves."""
        self.t_us = frame.t_us
        self.dev.write(icd.SENSORS.base, icd.SENSORS.encode(list(astuple(frame))))
        c = icd.COMMANDS.decode_map(self.dev.read(icd.COMMANDS.base, icd.COMMANDS.length))
        return CommandOutput(*(c[name] for name in CommandOutput.__dataclass_fields__))

    def link_lost(self, t_us: int | None = None) -> CommandOutput:
        """The watchdog at t_us (default: a frame period after the last frame)."""
        return self.dev.controller_link_lost(self.t_us + 20_000 if t_us is None else t_us)

    @property
    def inner(self) -> dict:
        return self.dev.probe()


def test_states_follow_the_descent_and_separation_fires_once(implementation):
    f = Frames(implementation)
    assert f.step(altitude=2000).state == S.POWERED_DESCENT
    assert f.step(altitude=21.9, vz=-0.75).state == S.CONSTANT_VELOCITY
    out = f.step(altitude=19.9, vz=-0.75)
    assert out.state == S.SKY_CRANE and out.discretes == Discretes.SEPARATE


def test_detector_arms_only_after_bridles_out_and_the_arm_delay(implementation):
    f = Frames(implementation, td_arm_delay_s=1.0)
    f.step(altitude=19.0, vz=-0.75)
    f.step(altitude=19.0, vz=-0.75)
    for _ in range(20):
        assert f.step(altitude=18.0, vz=-0.75, bridle=7.0).state == S.SKY_CRANE
    states = [f.step(altitude=17.0, vz=-0.75, bridle=7.5).state for _ in range(60)]
    assert states[45] == S.SKY_CRANE and states[-1] == S.TOUCHDOWN_ARMED


def _armed(implementation, **config):
    f = Frames(implementation, td_arm_delay_s=0.0, **config)
    for _ in range(3):
        f.step(altitude=19.0, vz=-0.75)
    for _ in range(200):
        f.step(altitude=17.0, vz=-0.75, bridle=7.5)  # steady: baseline settles
    return f


def test_sustained_throttle_drop_declares_touchdown_then_cuts_after_the_delay(implementation):
    f = _armed(implementation, td_persist_s=0.5, cut_delay_s=0.4)
    assert f.inner["state"] == S.TOUCHDOWN_ARMED
    outs = [f.step(altitude=16.0, vz=+0.5, bridle=7.5) for _ in range(120)]  # offload: stage pushed up
    declared = next(i for i, o in enumerate(outs) if o.state == S.TOUCHDOWN)
    cut = next(i for i, o in enumerate(outs) if o.discretes & Discretes.CUT)
    assert outs[declared].td_time_us != icd.TD_NOT_DECLARED
    assert 0.4 <= (cut - declared) * 0.02 <= 0.44


def test_a_short_dip_does_not_declare_touchdown(implementation):
    f = _armed(implementation, td_persist_s=1.0)
    for _ in range(10):
        f.step(altitude=16.0, vz=+0.5, bridle=7.5)  # 0.2 s transient
    for _ in range(200):
        assert f.step(altitude=16.0, vz=-0.75, bridle=7.5).state == S.TOUCHDOWN_ARMED


def test_detection_disabled_never_arms(implementation):
    f = Frames(implementation, td_enable=0, td_arm_delay_s=0.0)
    f.step(altitude=19.0, vz=-0.75)
    assert all(f.step(altitude=17, vz=+0.5, bridle=7.5).state == S.SKY_CRANE for _ in range(300))


def test_no_command_change_before_the_first_valid_radar_sample(implementation):
    f = Frames(implementation)
    out = f.step(flags=0)
    assert out.faults & Faults.NO_NAVIGATION and out.faults & Faults.RADAR_INVALID
    assert out.state == S.STANDBY and out.throttle == 0.0
    assert f.step().state == S.POWERED_DESCENT


IMU = int(SensorFlags.RADAR_VALID | SensorFlags.IMU_VALID)
HOVER_F = (0.0, 0.0, 3.711)


def test_radar_dropout_is_flown_through_on_the_imu(implementation):
    f = Frames(implementation)
    f.step(vz=-0.75, altitude=15.0, flags=IMU, imu=HOVER_F)
    for _ in range(25):  # half a second of dropouts: fresh samples flagged invalid
        out = f.step(vz=+9.0, altitude=15.0, flags=int(SensorFlags.IMU_VALID), imu=HOVER_F)
        assert out.faults & Faults.RADAR_INVALID and not out.faults & Faults.NO_NAVIGATION
    assert f.inner["nav_velocity"][2] == pytest.approx(-0.75)


def test_a_radar_velocity_glitch_is_rejected_but_a_persistent_change_is_accepted(implementation):
    f = Frames(implementation, nav_gate_mps=0.5, nav_max_rejects=3)
    f.step(vz=-0.75, altitude=15.0, flags=IMU, imu=HOVER_F)
    glitch = f.step(vz=+0.5, altitude=15.0, flags=IMU, imu=HOVER_F)      # dust: 1.25 m/s jump
    assert glitch.faults & Faults.RADAR_REJECTED and f.inner["nav_velocity"][2] == pytest.approx(-0.75)
    f.step(vz=-0.75, altitude=15.0, flags=IMU, imu=HOVER_F)
    outs = [f.step(vz=+0.5, altitude=15.0, flags=IMU, imu=HOVER_F) for _ in range(4)]
    assert [bool(o.faults & Faults.RADAR_REJECTED) for o in outs] == [True, True, True, False]


def test_velocity_is_propagated_with_the_imu_between_radar_samples(implementation):
    f = Frames(implementation)
    f.step(vz=-10.0, flags=IMU, imu=HOVER_F)
    for _ in range(10):  # the same radar sample held; the IMU says 1 m/s^2 up
        f.step(vz=-10.0, flags=IMU, imu=(0.0, 0.0, 3.711 + 1.0), seq=1)
    assert f.inner["nav_velocity"][2] == pytest.approx(-10.0 + 1.0 * 0.2)


def test_frame_skip_and_clock_backwards_are_flagged(implementation):
    f = Frames(implementation)
    f.step()
    f.frame += 1
    assert f.step().faults & Faults.FRAME_SKIP
    out = f.send(SensorInput(f.frame + 1, 0, f.frame + 1, 1000.0, 0.0, 0.0, -50.0, 0.0, 0.0, 0.0, 0.0, VALID))
    assert out.faults & Faults.CLOCK_BACKWARDS


@pytest.mark.parametrize("vz", [-200.0, -50.0, 0.0, 40.0])
def test_throttle_stays_within_limits(implementation, vz):
    f = Frames(implementation)
    for _ in range(50):
        out = f.step(vz=vz)
        assert f32(icd.CONFIG.field_named("throttle_min").default) <= out.throttle <= 1.0


def test_tilt_opposes_horizontal_velocity_on_each_axis_and_is_limited(implementation):
    f = Frames(implementation)
    assert f.step(vx=0.5).tilt_x_rad < 0 < f.step(vx=-0.5).tilt_x_rad
    assert f.step(vy=0.5).tilt_y_rad < 0 < f.step(vy=-0.5).tilt_y_rad
    assert abs(f.step(vx=100.0).tilt_x_rad) == pytest.approx(icd.CONFIG.field_named("tilt_max_rad").default)


def test_altitude_filter_smooths_noise_without_lagging_a_steady_descent(implementation):
    import numpy as np
    rng = np.random.default_rng(3)
    f = Frames(implementation, alt_filter_tau_s=1.0)
    errors_raw, errors_filtered = [], []
    for i in range(500):
        truth = 1500.0 - 50.0 * 0.02 * i
        measured = truth + rng.normal(0.0, 3.0)
        f.step(altitude=measured, vz=-50.0, flags=IMU, imu=HOVER_F)
        if i > 100:
            errors_raw.append(measured - truth)
            errors_filtered.append(f.inner["nav_altitude"] - truth)
    assert abs(np.mean(errors_filtered)) < 0.3                    # no lag bias at 50 m/s
    assert np.std(errors_filtered) < 0.25 * np.std(errors_raw)    # noise cut by > 4x


def test_throttle_init_written_after_construction_takes_effect(implementation):
    f = Frames(implementation)
    f.configure(throttle_init=0.6)  # written after power-up: the new run takes it
    f.step(altitude=1000.0, vz=-50.0)
    assert f.inner["hover_est"] == pytest.approx(0.6, abs=0.02)


def test_durations_are_whole_microseconds_of_the_float32_value():
    """The reference's duration_us does the firmware's float32 arithmetic (Python only: a helper)."""
    from hil.reference.controller import duration_us
    assert duration_us(1.5) == 1_500_000            # exact in float32
    assert duration_us(0.2) == 200_001              # float32(0.2) = 0.2000000030 s
    assert duration_us(0.2, 1.5, 3.0) == 4_700_001
    assert duration_us(0.0) == 0 and duration_us(-1.0) == 0


def test_link_lost_while_burning_holds_the_hover_estimate_with_zero_tilt(implementation):
    f = Frames(implementation)
    f.step(altitude=19.0, vz=-0.75, vx=0.5)           # separated: SEPARATE latched, tilted
    before = f.step(altitude=18.0, vz=-0.75, vx=0.5)
    assert before.tilt_x_rad != 0.0 and before.discretes == Discretes.SEPARATE
    out = f.link_lost()
    assert out.state == S.LINK_LOST and out.faults == Faults.WATCHDOG
    assert out.throttle == f.inner["hover_est"] and out.throttle != before.throttle
    assert out.tilt_x_rad == 0.0 and out.tilt_y_rad == 0.0
    assert out.discretes == before.discretes and out.frame == before.frame
    assert out.td_time_us == before.td_time_us == icd.TD_NOT_DECLARED


@pytest.mark.parametrize("burning", [False, True])
def test_link_lost_throttle_is_zero_unless_the_engines_were_burning(implementation, burning):
    f = Frames(implementation)
    if burning:
        f.step(altitude=1000.0)
    else:
        f.step(flags=0)                                  # STANDBY: no navigation yet
        assert f.inner["state"] == S.STANDBY
    assert (f.link_lost().throttle > 0.0) is burning


def test_link_lost_after_engines_off_keeps_the_engines_off_and_td_time(implementation):
    f = _armed(implementation, td_persist_s=0.1, cut_delay_s=0.0, flyaway_hover_s=0.0, flyaway_climb_s=0.0,
               flyaway_burn_s=0.0)
    for _ in range(60):
        last = f.step(altitude=16.0, vz=+0.5, bridle=7.5)
    assert last.state == S.ENGINES_OFF and last.td_time_us != icd.TD_NOT_DECLARED
    out = f.link_lost()
    assert out.state == S.LINK_LOST and out.throttle == 0.0
    assert out.td_time_us == last.td_time_us and out.discretes == Discretes.SEPARATE | Discretes.CUT


def test_link_lost_is_latched_until_reset(implementation):
    f = Frames(implementation)
    f.step(altitude=1000.0)
    lost = f.link_lost()
    later = f.step(altitude=10.0, vz=-0.75)            # a frame after the watchdog: no step
    assert later == as_sent(lost) and f.link_lost() == lost
    f.configure()                                     # a config write: a new run
    assert f.inner["state"] == S.STANDBY and f.step(altitude=1000.0).state == S.POWERED_DESCENT


# -- where the two differ on purpose (tests/contract.py: KNOWN_DIFFERENCES) ------------------------

def test_inner_state_agrees_to_float32_rounding():
    """"float32 arithmetic": the same noisy descent through both gives the same state and
    discretes every cycle and commands within float32 rounding, but not bit for bit."""
    import numpy as np
    assert "float32 arithmetic" in contract.KNOWN_DIFFERENCES
    py, c = Frames("python"), Frames("c")
    rng = np.random.default_rng(7)
    throttle_diff = []
    for i in range(1500):
        altitude = max(0.0, 30.0 - 0.75 * 0.02 * i) + rng.normal(0.0, 0.3)
        kw = dict(altitude=altitude, vz=-0.75 + rng.normal(0.0, 0.05), vx=rng.normal(0.0, 0.1),
                  bridle=min(7.5, 0.0123 * i), flags=IMU, imu=(0.0, 0.0, 3.711 + rng.normal(0.0, 0.05)))
        a, b = py.step(**kw), c.step(**kw)
        assert (a.state, a.discretes, a.faults, a.td_time_us) == (b.state, b.discretes, b.faults, b.td_time_us), i
        throttle_diff.append(abs(a.throttle - b.throttle))
    assert a.state == S.TOUCHDOWN_ARMED                           # the run reached the detector
    assert 0.0 < max(throttle_diff) < 1e-4                        # rounding, not a porting error


def test_a_threshold_met_exactly_may_be_taken_a_cycle_apart():
    """"exact ties": bridles paying out 1 cm per frame reach 7.49 m, exactly the "fully out" line
    (bridle_full_m 7.5 less the 1 cm tolerance). The C's float32 7.5f - 0.01f equals float32(7.49),
    so it takes the bridles as full on that frame; the reference's float64 7.49 lies above the
    frame's float32 7.49 and takes them one frame later. Touchdown arming follows a cycle apart."""
    assert "exact ties" in contract.KNOWN_DIFFERENCES
    armed_at = {}
    for implementation in contract.IMPLEMENTATIONS:
        f = Frames(implementation)
        f.step(altitude=19.0, vz=-0.75)                                    # separated
        for i in range(1, 900):
            if f.step(altitude=17.0, vz=-0.75, bridle=min(7.5, 0.01 * i)).state == S.TOUCHDOWN_ARMED:
                armed_at[implementation] = i
                break
    assert armed_at["python"] == armed_at["c"] + 1


# -- told faults (the sensor block's health flags, docs/controller.md "Told faults") ---------------

RADAR_FAILED, IMU_FAILED, ENGINES_DEGRADED = (int(HealthFlags.RADAR_FAILED), int(HealthFlags.IMU_FAILED),
                                              int(HealthFlags.ENGINES_DEGRADED))


@pytest.mark.parametrize("told", [True, False])
def test_a_radar_told_failed_is_ignored_and_the_descent_coasts_on_the_imu(implementation, told):
    """A stuck radar still flagged valid: told, its samples are not used (each counts as a dropout)
    and the velocity is the IMU's; untold, the gate lets it in after nav_max_rejects samples."""
    f = Frames(implementation)
    f.step(vz=-0.75, altitude=15.0, flags=IMU, imu=HOVER_F)
    for _ in range(25):
        out = f.step(vz=+2.0, altitude=30.0, flags=IMU, imu=HOVER_F, health=RADAR_FAILED if told else 0)
    if told:
        assert out.faults & Faults.RADAR_INVALID and not out.faults & (Faults.RADAR_REJECTED | Faults.NO_NAVIGATION)
        assert f.inner["nav_velocity"][2] == pytest.approx(-0.75)
        assert f.inner["nav_altitude"] == pytest.approx(15.0 - 0.75 * 0.5)
    else:
        assert f.inner["nav_velocity"][2] > 1.0                  # the stuck radar took over


@pytest.mark.parametrize("told", [True, False])
def test_an_imu_told_failed_is_not_propagated_and_the_radar_alone_gives_the_velocity(implementation, told):
    """A biased accelerometer still flagged valid: told, the velocity holds the radar's between
    samples and takes each fresh sample as it is (no gate: nothing to compare it with)."""
    f = Frames(implementation)
    health = IMU_FAILED if told else 0
    f.step(vz=-10.0, flags=IMU, imu=HOVER_F, health=health)
    for _ in range(10):                                      # the same radar sample held, 2 m/s^2 of bias
        f.step(vz=-10.0, flags=IMU, imu=(0.0, 0.0, 3.711 + 2.0), seq=1, health=health)
    assert f.inner["nav_velocity"][2] == pytest.approx(-10.0 if told else -10.0 + 2.0 * 0.2)
    out = f.step(vz=-8.0, flags=IMU, imu=HOVER_F, seq=2, health=health)      # a fresh 2 m/s step
    assert bool(out.faults & Faults.RADAR_REJECTED) is not told
    if told:
        assert f.inner["nav_velocity"][2] == pytest.approx(-8.0)


def _steady(implementation, frames=150, **step):
    """Holding -v_cv at 15 m with the IMU reading hover: the velocity error is zero."""
    f = Frames(implementation)
    for _ in range(frames):
        out = f.step(altitude=15.0, vz=-0.75, flags=IMU, imu=HOVER_F, **step)
    return f, out


def test_a_told_engine_out_raises_the_throttle_at_once_by_the_lost_share(implementation):
    """One engine of eight out, told: the same thrust needs 8/7 of the throttle, commanded on the
    next step and learned into the hover estimate (the integrator need not wind up to it);
    healthy again, the throttle comes back down. Untold, nothing changes until the velocity sags."""
    f, before = _steady(implementation)
    hover = f.inner["hover_est"]
    out = f.step(altitude=15.0, vz=-0.75, flags=IMU, imu=HOVER_F, health=ENGINES_DEGRADED, thrust_avail=0.875)
    assert out.throttle == pytest.approx(before.throttle * 8 / 7, rel=1e-5)
    assert f.inner["hover_est"] == pytest.approx(hover * 8 / 7, rel=1e-5)
    back = f.step(altitude=15.0, vz=-0.75, flags=IMU, imu=HOVER_F)
    assert back.throttle == pytest.approx(before.throttle, rel=1e-5)
    untold = f.step(altitude=15.0, vz=-0.75, flags=IMU, imu=HOVER_F, thrust_avail=0.875)   # no flag: ignored
    assert untold.throttle == back.throttle


@pytest.mark.parametrize("thrust_avail, share", [(math.nan, 1.0), (1.5, 1.0), (0.0, 0.0625), (-1.0, 0.0625),
                                                  (0.01, 0.0625)])
def test_a_told_thrust_share_is_taken_within_its_range(implementation, thrust_avail, share):
    """ENGINES_DEGRADED with a share outside (0, 1]: not a number is not a report, above 1 is
    full thrust, and anything down to nothing is taken as 1/16 (the throttle then saturates)."""
    f, _ = _steady(implementation)
    hover = f.inner["hover_est"]
    f.step(altitude=15.0, vz=-0.75, flags=IMU, imu=HOVER_F, health=ENGINES_DEGRADED, thrust_avail=thrust_avail)
    assert f.inner["hover_est"] == pytest.approx(min(1.0, hover / share), rel=1e-5)


def test_a_told_change_of_thrust_is_not_taken_for_touchdown(implementation):
    """Engines degraded to 60 % all the way down, told, then restored while the detector is armed:
    the throttle falls by 40 %, more than td_drop_frac, for good. The baseline is rescaled with
    the hover estimate, so the detector does not take the step for the rover's weight."""
    degraded = dict(health=ENGINES_DEGRADED, thrust_avail=0.6)
    f = Frames(implementation, td_arm_delay_s=0.0)
    for _ in range(3):
        f.step(altitude=19.0, vz=-0.75, flags=IMU, imu=HOVER_F, **degraded)
    for _ in range(200):
        heavy = f.step(altitude=17.0, vz=-0.75, bridle=7.5, flags=IMU, imu=HOVER_F, **degraded)
    assert heavy.state == S.TOUCHDOWN_ARMED
    outs = [f.step(altitude=17.0, vz=-0.75, bridle=7.5, flags=IMU, imu=HOVER_F) for _ in range(150)]
    assert outs[0].throttle == pytest.approx(heavy.throttle * 0.6, rel=1e-5)
    assert all(o.state == S.TOUCHDOWN_ARMED for o in outs)


def test_the_flyaway_burn_asks_degraded_engines_for_the_same_thrust(implementation):
    degraded = dict(health=ENGINES_DEGRADED, thrust_avail=0.625)
    f = Frames(implementation, td_arm_delay_s=0.0, td_persist_s=0.1, cut_delay_s=0.0, flyaway_hover_s=0.0,
               flyaway_climb_s=0.0, flyaway_throttle=0.5)
    f.step(altitude=19.0, vz=-0.75, **degraded)
    for _ in range(200):
        f.step(altitude=17.0, vz=-0.75, bridle=7.5, **degraded)
    outs = [f.step(altitude=16.0, vz=+0.5, bridle=7.5, **degraded) for _ in range(30)]
    burn = [o for o in outs if o.state == S.FLYAWAY]
    assert burn and burn[-1].throttle == pytest.approx(0.5 / 0.625)


# -- state entry time and a cold start mid-descent (docs/controller.md "After a reset") ------------

def test_state_since_us_is_the_frame_time_each_state_was_entered(implementation):
    f = Frames(implementation)
    assert f.step(flags=0).state_since_us == 0                       # STANDBY, no navigation yet
    pd = f.step(altitude=1000.0)
    assert (pd.state, pd.state_since_us) == (S.POWERED_DESCENT, 40_000)
    assert f.step(altitude=900.0).state_since_us == 40_000            # no transition: unchanged
    sc = f.step(altitude=19.0, vz=-0.75)                              # two transitions in one step
    assert (sc.state, sc.state_since_us) == (S.SKY_CRANE, 80_000)
    lost = f.link_lost(t_us=250_000)
    assert (lost.state, lost.state_since_us) == (S.LINK_LOST, 250_000)
    assert f.link_lost(t_us=300_000).state_since_us == 250_000        # latched: entered once


def test_a_cold_start_mid_descent_resumes_from_the_sensors_without_a_false_touchdown(implementation):
    """A board reset at 10 m: separated, bridles out. The first frame goes STANDBY -> SKY_CRANE
    (SEPARATE again: the pyro has fired, a repeat does nothing), the detector arms after the arm
    delay, and the baseline, which starts from the throttle before the first step (0), cannot
    put the drop line above the throttle: no touchdown while the load stays on."""
    f = Frames(implementation)
    sep = int(SensorFlags.SEPARATED)
    first = f.step(altitude=10.0, vz=-0.75, bridle=7.5, flags=IMU | sep, imu=HOVER_F)
    assert (first.state, first.discretes, first.state_since_us) == (S.SKY_CRANE, Discretes.SEPARATE, 20_000)
    assert f.inner["baseline"] < first.throttle and f.inner["hover_est"] == pytest.approx(0.35, abs=0.01)
    outs = [f.step(altitude=10.0 - 0.015 * i, vz=-0.75 + 0.3 * math.sin(i / 10.0), bridle=7.5,
                   flags=IMU | sep, imu=HOVER_F) for i in range(500)]
    assert outs[-1].state == S.TOUCHDOWN_ARMED and all(o.td_time_us == icd.TD_NOT_DECLARED for o in outs)


def test_a_cold_start_after_the_cut_flies_away(implementation):
    """A board reset after the bridle cut: the rover is down, so the stage must not descend by
    altitude (SKY_CRANE at 12 m would put it on the rover): FLYAWAY from the first frame."""
    f = Frames(implementation, flyaway_hover_s=0.2, flyaway_climb_s=1.5)
    flags = IMU | int(SensorFlags.SEPARATED | SensorFlags.CUT)
    first = f.step(altitude=12.0, vz=+1.0, bridle=7.5, flags=flags, imu=HOVER_F)
    assert first.state == S.FLYAWAY and first.discretes == Discretes.SEPARATE | Discretes.CUT
    assert first.state_since_us == 20_000 and first.td_time_us == icd.TD_NOT_DECLARED
    outs = [f.step(altitude=12.0 + 0.05 * i, vz=+2.0, bridle=7.5, flags=flags, imu=HOVER_F) for i in range(100)]
    assert all(o.state == S.FLYAWAY for o in outs) and outs[-1].tilt_x_rad > 0.0      # climbed, then the burn
