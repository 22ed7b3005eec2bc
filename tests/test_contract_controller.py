"""The controller contract on hand-made frames, over the Python reference and the C core: state
machine, touchdown detection, cut and flyaway, navigation, faults, limits, link lost.

Each test runs once per implementation (tests/contract.py). Frames go in as a host sends them in
lockstep (a write of the whole sensor block steps the controller once) and answers come back from
the command block, so both implementations are held to the same register-level behaviour; the
controller's inner state is read through probe().
"""

import struct
from dataclasses import astuple

import pytest

from hil import icd
from hil.icd import ControllerState as S
from hil.icd import Discretes, Faults, SensorFlags
from hil.reference import CommandOutput, SensorInput
from tests import contract

pytestmark = pytest.mark.timeout(30)
VALID = int(SensorFlags.RADAR_VALID)


def f32(x: float) -> float:
    return struct.unpack("<f", struct.pack("<f", x))[0]


def as_sent(out: CommandOutput) -> CommandOutput:
    """The answer as the command block carries it (float32 values)."""
    return CommandOutput(out.frame, out.state, f32(out.throttle), f32(out.tilt_x_rad), f32(out.tilt_y_rad),
                         out.discretes, out.td_time_us, out.faults)


class Frames:
    """Feeds 50 Hz frames to one implementation: a fresh radar sample every frame, no IMU unless given.

    Without an IMU the navigation takes each radar sample as it is, so these tests script the
    controller's view of altitude and velocity directly.
    """

    def __init__(self, implementation: str, **config):
        self.dev = contract.device(implementation, lambda: 0)
        self.configure(**config)
        self.frame = 0

    def configure(self, **values) -> None:
        """A config write: the values over the ICD defaults; starts a new run (the reset)."""
        self.dev.write(icd.CONFIG.base, icd.encode_config({**icd.config_defaults(), **values}))

    def step(self, altitude=1000.0, vz=-50.0, vx=0.0, vy=0.0, bridle=0.0, flags=VALID, dt=0.02,
             imu=(0.0, 0.0, 0.0), seq=None) -> CommandOutput:
        self.frame += 1
        seq = self.frame if seq is None else seq
        return self.send(SensorInput(self.frame, round(self.frame * dt * 1e6), seq, altitude, vx, vy, vz,
                                     *imu, bridle, flags))

    def send(self, frame: SensorInput) -> CommandOutput:
        """One frame as the host writes it (lockstep: one step); the command block it leaves."""
        self.dev.write(icd.SENSORS.base, icd.SENSORS.encode(list(astuple(frame))))
        c = icd.COMMANDS.decode_map(self.dev.read(icd.COMMANDS.base, icd.COMMANDS.length))
        return CommandOutput(*(c[name] for name in CommandOutput.__dataclass_fields__))

    def link_lost(self) -> CommandOutput:
        return self.dev.controller_link_lost()

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
