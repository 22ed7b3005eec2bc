"""The reference controller on hand-made frames: state machine, faults, limits."""

import pytest

from hil import icd
from hil.icd import ControllerState as S
from hil.icd import Discretes, Faults, SensorFlags
from hil.reference import ReferenceController, SensorInput

pytestmark = pytest.mark.timeout(30)
VALID = int(SensorFlags.RADAR_VALID)


class Frames:
    """Feeds 50 Hz frames to a controller: a fresh radar sample every frame, no IMU unless given.

    Without an IMU the navigation takes each radar sample as it is, so these tests script the
    controller's view of altitude and velocity directly.
    """

    def __init__(self, **config):
        self.ctl = ReferenceController(config)
        self.frame = 0

    def step(self, altitude=1000.0, vz=-50.0, vx=0.0, vy=0.0, bridle=0.0, flags=VALID, dt=0.02,
             imu=(0.0, 0.0, 0.0), seq=None):
        self.frame += 1
        seq = self.frame if seq is None else seq
        return self.ctl.step(SensorInput(self.frame, round(self.frame * dt * 1e6), seq, altitude, vx, vy, vz,
                                         *imu, bridle, flags))


def test_states_follow_the_descent_and_separation_fires_once():
    f = Frames()
    assert f.step(altitude=2000).state == S.POWERED_DESCENT
    assert f.step(altitude=21.9, vz=-0.75).state == S.CONSTANT_VELOCITY
    out = f.step(altitude=19.9, vz=-0.75)
    assert out.state == S.SKY_CRANE and out.discretes == Discretes.SEPARATE


def test_detector_arms_only_after_bridles_out_and_the_arm_delay():
    f = Frames(td_arm_delay_s=1.0)
    f.step(altitude=19.0, vz=-0.75)
    f.step(altitude=19.0, vz=-0.75)
    for _ in range(20):
        assert f.step(altitude=18.0, vz=-0.75, bridle=7.0).state == S.SKY_CRANE
    states = [f.step(altitude=17.0, vz=-0.75, bridle=7.5).state for _ in range(60)]
    assert states[45] == S.SKY_CRANE and states[-1] == S.TOUCHDOWN_ARMED


def _armed(**config):
    f = Frames(td_arm_delay_s=0.0, **config)
    for _ in range(3):
        f.step(altitude=19.0, vz=-0.75)
    for _ in range(200):
        f.step(altitude=17.0, vz=-0.75, bridle=7.5)  # steady: baseline settles
    return f


def test_sustained_throttle_drop_declares_touchdown_then_cuts_after_the_delay():
    f = _armed(td_persist_s=0.5, cut_delay_s=0.4)
    assert f.ctl.state == S.TOUCHDOWN_ARMED
    outs = [f.step(altitude=16.0, vz=+0.5, bridle=7.5) for _ in range(120)]  # offload: stage pushed up
    declared = next(i for i, o in enumerate(outs) if o.state == S.TOUCHDOWN)
    cut = next(i for i, o in enumerate(outs) if o.discretes & Discretes.CUT)
    assert outs[declared].td_time_us != icd.TD_NOT_DECLARED
    assert 0.4 <= (cut - declared) * 0.02 <= 0.44


def test_a_short_dip_does_not_declare_touchdown():
    f = _armed(td_persist_s=1.0)
    for _ in range(10):
        f.step(altitude=16.0, vz=+0.5, bridle=7.5)  # 0.2 s transient
    for _ in range(200):
        assert f.step(altitude=16.0, vz=-0.75, bridle=7.5).state == S.TOUCHDOWN_ARMED


def test_detection_disabled_never_arms():
    f = Frames(td_enable=0, td_arm_delay_s=0.0)
    f.step(altitude=19.0, vz=-0.75)
    assert all(f.step(altitude=17, vz=+0.5, bridle=7.5).state == S.SKY_CRANE for _ in range(300))


def test_no_command_change_before_the_first_valid_radar_sample():
    f = Frames()
    out = f.step(flags=0)
    assert out.faults & Faults.NO_NAVIGATION and out.faults & Faults.RADAR_INVALID
    assert out.state == S.STANDBY and out.throttle == 0.0
    assert f.step().state == S.POWERED_DESCENT


IMU = int(SensorFlags.RADAR_VALID | SensorFlags.IMU_VALID)
HOVER_F = (0.0, 0.0, 3.711)


def test_radar_dropout_is_flown_through_on_the_imu():
    f = Frames()
    f.step(vz=-0.75, altitude=15.0, flags=IMU, imu=HOVER_F)
    for _ in range(25):  # half a second of dropouts: fresh samples flagged invalid
        out = f.step(vz=+9.0, altitude=15.0, flags=int(SensorFlags.IMU_VALID), imu=HOVER_F)
        assert out.faults & Faults.RADAR_INVALID and not out.faults & Faults.NO_NAVIGATION
    assert f.ctl.nav.velocity[2] == pytest.approx(-0.75)


def test_a_radar_velocity_glitch_is_rejected_but_a_persistent_change_is_accepted():
    f = Frames(nav_gate_mps=0.5, nav_max_rejects=3)
    f.step(vz=-0.75, altitude=15.0, flags=IMU, imu=HOVER_F)
    glitch = f.step(vz=+0.5, altitude=15.0, flags=IMU, imu=HOVER_F)      # dust: 1.25 m/s jump
    assert glitch.faults & Faults.RADAR_REJECTED and f.ctl.nav.velocity[2] == pytest.approx(-0.75)
    f.step(vz=-0.75, altitude=15.0, flags=IMU, imu=HOVER_F)
    outs = [f.step(vz=+0.5, altitude=15.0, flags=IMU, imu=HOVER_F) for _ in range(4)]
    assert [bool(o.faults & Faults.RADAR_REJECTED) for o in outs] == [True, True, True, False]


def test_velocity_is_propagated_with_the_imu_between_radar_samples():
    f = Frames()
    f.step(vz=-10.0, flags=IMU, imu=HOVER_F)
    for _ in range(10):  # the same radar sample held; the IMU says 1 m/s^2 up
        f.step(vz=-10.0, flags=IMU, imu=(0.0, 0.0, 3.711 + 1.0), seq=1)
    assert f.ctl.nav.velocity[2] == pytest.approx(-10.0 + 1.0 * 0.2)


def test_frame_skip_and_clock_backwards_are_flagged():
    f = Frames()
    f.step()
    f.frame += 1
    assert f.step().faults & Faults.FRAME_SKIP
    out = f.ctl.step(SensorInput(f.frame + 1, 0, f.frame + 1, 1000.0, 0.0, 0.0, -50.0, 0.0, 0.0, 0.0, 0.0, VALID))
    assert out.faults & Faults.CLOCK_BACKWARDS


@pytest.mark.parametrize("vz", [-200.0, -50.0, 0.0, 40.0])
def test_throttle_stays_within_limits(vz):
    f = Frames()
    for _ in range(50):
        out = f.step(vz=vz)
        assert f.ctl.config["throttle_min"] <= out.throttle <= 1.0


def test_tilt_opposes_horizontal_velocity_on_each_axis_and_is_limited():
    f = Frames()
    assert f.step(vx=0.5).tilt_x_rad < 0 < f.step(vx=-0.5).tilt_x_rad
    assert f.step(vy=0.5).tilt_y_rad < 0 < f.step(vy=-0.5).tilt_y_rad
    assert abs(f.step(vx=100.0).tilt_x_rad) == pytest.approx(f.ctl.config["tilt_max_rad"])


def test_altitude_filter_smooths_noise_without_lagging_a_steady_descent():
    import numpy as np
    rng = np.random.default_rng(3)
    f = Frames(alt_filter_tau_s=1.0)
    errors_raw, errors_filtered = [], []
    for i in range(500):
        truth = 1500.0 - 50.0 * 0.02 * i
        measured = truth + rng.normal(0.0, 3.0)
        f.step(altitude=measured, vz=-50.0, flags=IMU, imu=HOVER_F)
        if i > 100:
            errors_raw.append(measured - truth)
            errors_filtered.append(f.ctl.nav.altitude - truth)
    assert abs(np.mean(errors_filtered)) < 0.3                    # no lag bias at 50 m/s
    assert np.std(errors_filtered) < 0.25 * np.std(errors_raw)    # noise cut by > 4x


def test_throttle_init_written_after_construction_takes_effect():
    f = Frames()
    f.ctl.config["throttle_init"] = 0.6  # as the device's config write does, after reset
    f.step(altitude=1000.0, vz=-50.0)
    assert f.ctl.hover_est == pytest.approx(0.6, abs=0.02)


def test_durations_are_whole_microseconds_of_the_float32_value():
    from hil.reference.controller import duration_us
    assert duration_us(1.5) == 1_500_000            # exact in float32
    assert duration_us(0.2) == 200_001              # float32(0.2) = 0.2000000030 s
    assert duration_us(0.2, 1.5, 3.0) == 4_700_001
    assert duration_us(0.0) == 0 and duration_us(-1.0) == 0


def test_link_lost_while_burning_holds_the_hover_estimate_with_zero_tilt():
    f = Frames()
    f.step(altitude=19.0, vz=-0.75, vx=0.5)           # separated: SEPARATE latched, tilted
    before = f.step(altitude=18.0, vz=-0.75, vx=0.5)
    assert before.tilt_x_rad != 0.0 and before.discretes == Discretes.SEPARATE
    out = f.ctl.link_lost()
    assert out.state == S.LINK_LOST and out.faults == Faults.WATCHDOG
    assert out.throttle == f.ctl.hover_est and out.throttle != before.throttle
    assert out.tilt_x_rad == 0.0 and out.tilt_y_rad == 0.0
    assert out.discretes == before.discretes and out.frame == before.frame
    assert out.td_time_us == before.td_time_us == icd.TD_NOT_DECLARED


@pytest.mark.parametrize("burning", [False, True])
def test_link_lost_throttle_is_zero_unless_the_engines_were_burning(burning):
    f = Frames()
    if burning:
        f.step(altitude=1000.0)
    else:
        f.step(flags=0)                                  # STANDBY: no navigation yet
        assert f.ctl.state == S.STANDBY
    assert (f.ctl.link_lost().throttle > 0.0) is burning


def test_link_lost_after_engines_off_keeps_the_engines_off_and_td_time():
    f = _armed(td_persist_s=0.1, cut_delay_s=0.0, flyaway_hover_s=0.0, flyaway_climb_s=0.0,
               flyaway_burn_s=0.0)
    for _ in range(60):
        last = f.step(altitude=16.0, vz=+0.5, bridle=7.5)
    assert last.state == S.ENGINES_OFF and last.td_time_us != icd.TD_NOT_DECLARED
    out = f.ctl.link_lost()
    assert out.state == S.LINK_LOST and out.throttle == 0.0
    assert out.td_time_us == last.td_time_us and out.discretes == Discretes.SEPARATE | Discretes.CUT


def test_link_lost_is_latched_until_reset():
    f = Frames()
    f.step(altitude=1000.0)
    lost = f.ctl.link_lost()
    later = f.step(altitude=10.0, vz=-0.75)            # a frame after the watchdog: no step
    assert later == lost and f.ctl.link_lost() == lost
    f.ctl.reset()
    assert f.ctl.state == S.STANDBY and f.step(altitude=1000.0).state == S.POWERED_DESCENT
