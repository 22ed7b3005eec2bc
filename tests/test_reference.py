"""The reference controller on hand-made frames: state machine, faults, limits."""

import pytest

from hil import icd
from hil.icd import ControllerState as S
from hil.icd import Discretes, Faults, SensorFlags
from hil.reference import ReferenceController, SensorInput

pytestmark = pytest.mark.timeout(30)
VALID = int(SensorFlags.RADAR_VALID)


class Frames:
    """Feeds 50 Hz frames to a controller."""

    def __init__(self, **config):
        config.setdefault("alt_filter_tau_s", 0.0)  # raw altitude: these tests script it directly
        self.ctl = ReferenceController(config)
        self.frame = 0

    def step(self, altitude=1000.0, vz=-50.0, vx=0.0, bridle=0.0, flags=VALID, dt=0.02):
        self.frame += 1
        return self.ctl.step(SensorInput(self.frame, round(self.frame * dt * 1e6), altitude, vz, vx, bridle, flags))


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


def test_invalid_radar_holds_the_last_command_and_flags_it():
    f = Frames()
    good = f.step()
    held = f.step(vz=+30.0, flags=0)
    assert held.faults & Faults.SENSOR_INVALID and held.throttle == good.throttle


def test_frame_skip_and_clock_backwards_are_flagged():
    f = Frames()
    f.step()
    f.frame += 1
    assert f.step().faults & Faults.FRAME_SKIP
    out = f.ctl.step(SensorInput(f.frame + 1, 0, 1000.0, -50.0, 0.0, 0.0, VALID))
    assert out.faults & Faults.CLOCK_BACKWARDS


@pytest.mark.parametrize("vz", [-200.0, -50.0, 0.0, 40.0])
def test_throttle_stays_within_limits(vz):
    f = Frames()
    for _ in range(50):
        out = f.step(vz=vz)
        assert f.ctl.config["throttle_min"] <= out.throttle <= 1.0


def test_tilt_opposes_horizontal_velocity_and_is_limited():
    f = Frames()
    assert f.step(vx=0.5).tilt_rad < 0 < f.step(vx=-0.5).tilt_rad
    assert abs(f.step(vx=100.0).tilt_rad) == pytest.approx(f.ctl.config["tilt_max_rad"])


def test_altitude_filter_smooths_noise_without_lagging_a_steady_descent():
    import numpy as np
    rng = np.random.default_rng(3)
    f = Frames(alt_filter_tau_s=1.0)
    errors_raw, errors_filtered = [], []
    for i in range(500):
        truth = 1500.0 - 50.0 * 0.02 * i
        measured = truth + rng.normal(0.0, 3.0)
        f.step(altitude=measured, vz=-50.0)
        if i > 100:
            errors_raw.append(measured - truth)
            errors_filtered.append(f.ctl.altitude - truth)
    assert abs(np.mean(errors_filtered)) < 0.3                    # no lag bias at 50 m/s
    assert np.std(errors_filtered) < 0.25 * np.std(errors_raw)    # noise cut by > 4x
