"""hil/batch/controller.py's BatchController against the scalar ReferenceController, case by case.

The batch controller must compute the scalar's numbers: every step of every case is compared,
states, discretes and times exactly, throttle and tilts within FLOAT_REL (numpy's tan differs from
math.tan in the last bit on a few inputs; TALLY counts how often a float was not bit-equal).
Inputs are the sensor frames real closed-loop landings gave the device (recorded once per module),
replayed open loop into one scalar controller per case and one batch controller, with a different
config per case; and synthetic frames for what the landings do not reach.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, replace

import numpy as np
import pytest

from hil import icd
from hil.batch.controller import BatchController
from hil.executive import sensor_block
from hil.flight import plant_params
from hil.icd import ControllerState as S
from hil.icd import Discretes, SensorFlags
from hil.reference import ReferenceController, SensorInput
from hil.rig import resolve_rig
from hil.run import Run
from plant.model import Plant
from plant.scenario import load_scenario

pytestmark = pytest.mark.timeout(120)

FLOAT_REL, FLOAT_ABS = 1e-12, 1e-15
SCENARIOS = ("nominal", "radar-dust", "gusty", "slope-15", "terminal-descent")
INPUTS = ("radar_seq", "altitude_m", "vx_mps", "vy_mps", "vz_mps", "imu_fx", "imu_fy", "imu_fz",
          "bridle_length_m", "flags")
INTS = ("state", "discretes", "td_time_us", "state_since_us")
FLOATS = ("throttle", "tilt_x", "tilt_y")
_RADAR_VALID, _SEPARATED, _CUT, _IMU_VALID = (int(SensorFlags.RADAR_VALID), int(SensorFlags.SEPARATED),
                                              int(SensorFlags.CUT), int(SensorFlags.IMU_VALID))

# Config changes, one case each (on top of the scenario's config); all within the ICD limits.
VARIANTS = (
    {},
    {"kp_vz": 5.5},
    {"td_drop_frac": 0.2},
    {"h_sep_m": 25.0},                       # above h_cv: PD -> CV -> SKY_CRANE in one step
    {"h_sep_m": 18.3},
    {"nav_gate_mps": 0.2},
    {"nav_max_rejects": 0},
    {"nav_max_rejects": 7, "nav_gate_mps": 0.15},
    {"alt_filter_tau_s": 0.0},
    {"td_enable": 0},
    {"flyaway_hover_s": 0.13, "flyaway_climb_s": 0.71, "flyaway_burn_s": 1.37},
    {"flyaway_hover_s": 0.0, "flyaway_climb_s": 0.0, "flyaway_burn_s": 0.5},
    {"td_persist_s": 0.7, "td_arm_delay_s": 0.9, "cut_delay_s": 0.33, "td_baseline_tau_s": 0.9},
    {"throttle_init": 0.4, "ki_vz": 1.1, "kp_vh": 0.2, "tilt_max_rad": 0.3, "throttle_min": 0.2},
    {"nav_radar_gain": 0.6, "alt_filter_tau_s": 0.35, "brake_decel_mps2": 2.2, "v_cv_mps": 0.6, "h_cv_m": 30.0},
)


def device_config(base: dict, changes: dict | None = None) -> dict:
    """A config block as the device holds it: every register, float32 values."""
    values = dict(base)
    values.update(changes or {})
    return icd.CONFIG.decode_map(icd.encode_config(values))


def _f32(x: float) -> float:
    return struct.unpack("<f", struct.pack("<f", x))[0]


@dataclass
class Tally:
    """Floats compared that were not bit-equal (NaN equals NaN), and the largest relative difference."""

    compared: int = 0
    inexact: int = 0
    largest_rel: float = 0.0


TALLY = Tally()            # outputs
INTERNAL_TALLY = Tally()   # the integrator, baseline and navigation state

# The scalar's internal state, as (batch attribute, scalar attribute path, is float).
INTERNALS = (("hover_est", "hover_est", True), ("baseline", "baseline", True),
             ("drop_time_us", "drop_time_us", False), ("t_bridles_full_us", "t_bridles_full_us", False),
             ("t_event_us", "t_event_us", False), ("nav_altitude", "nav.altitude", True),
             ("nav_since_radar", "nav.since_radar", True), ("nav_valid", "nav.valid", False),
             ("nav_last_seq", "nav.last_seq", False), ("nav_rejects", "nav.rejects", False))


def outputs_of(commands) -> dict[str, np.ndarray]:
    """Scalar CommandOutputs as arrays named as the batch controller's."""
    return {"state": np.array([c.state for c in commands], dtype=np.int64),
            "throttle": np.array([c.throttle for c in commands]),
            "tilt_x": np.array([c.tilt_x_rad for c in commands]),
            "tilt_y": np.array([c.tilt_y_rad for c in commands]),
            "discretes": np.array([c.discretes for c in commands], dtype=np.int64),
            "td_time_us": np.array([c.td_time_us for c in commands], dtype=np.int64),
            "state_since_us": np.array([c.state_since_us for c in commands], dtype=np.int64)}


def assert_same(batch: BatchController, commands, where: str, cases=None, tally: Tally | None = None) -> None:
    """Every output of the batch equals the scalar's: integers exactly, floats within FLOAT_REL."""
    expected = outputs_of(commands)
    compare({name: getattr(batch, name) for name in INTS + FLOATS}, expected, FLOATS, where,
            np.arange(len(commands)) if cases is None else np.asarray(cases), TALLY if tally is None else tally)


def assert_same_internals(batch: BatchController, scalars, where: str, cases) -> None:
    """The state the outputs are made from, too: a difference shows on the step it is made."""
    got, want, floats = {}, {}, []
    for name, path, is_float in INTERNALS:
        got[name] = getattr(batch, name)
        want[name] = np.array([_attr(c, path) for c in scalars], dtype=np.float64 if is_float else got[name].dtype)
        if is_float:
            floats.append(name)
    for axis, name in enumerate(("nav_vx", "nav_vy", "nav_vz")):
        got[name] = getattr(batch, name)
        want[name] = np.array([c.nav.velocity[axis] for c in scalars])
        floats.append(name)
    compare(got, want, tuple(floats), where, cases, INTERNAL_TALLY)


def _attr(obj, path: str):
    for part in path.split("."):
        obj = getattr(obj, part)
    return obj


def compare(got: dict, want: dict, floats: tuple, where: str, cases: np.ndarray, tally: Tally) -> None:
    """Raise AssertionError naming the first case that differs: exactly, or beyond FLOAT_REL for floats."""
    for name, w in want.items():
        g = got[name]
        assert g.shape == w.shape, f"{where}: {name} has shape {g.shape}, not {w.shape}"
        if name not in floats:
            bad = np.flatnonzero(g != w)
            if bad.size:
                i = bad[0]
                raise AssertionError(f"{where}: case {cases[i]}: {name} batch {g[i]} != scalar {w[i]} "
                                     f"({bad.size} cases differ)")
            continue
        exact = (g == w) | (np.isnan(g) & np.isnan(w))
        tally.compared += g.size
        if exact.all():
            continue
        tally.inexact += int((~exact).sum())
        with np.errstate(all="ignore"):
            rel = np.abs(g - w) / np.maximum(np.abs(g), np.abs(w))
        rel = np.where(exact, 0.0, np.where(np.isnan(rel), np.inf, rel))
        tally.largest_rel = max(tally.largest_rel, float(rel.max()))
        close = exact | (np.abs(g - w) <= np.maximum(FLOAT_ABS, FLOAT_REL * np.abs(w)))
        bad = np.flatnonzero(~close)
        if bad.size:
            i = bad[0]
            raise AssertionError(f"{where}: case {cases[i]}: {name} batch {g[i]!r} != scalar {w[i]!r} "
                                 f"({bad.size} cases differ)")


# -- closed-loop landings, recorded ---------------------------------------------------------------

@dataclass
class Landing:
    frames: list[SensorInput]    # what the device decoded, one per cycle
    config: dict                 # the config block the device held
    columns: dict[str, np.ndarray]


def fly_and_record(name: str) -> Landing:
    """A scalar lockstep MIL landing as hil/executive.py's LockstepExecutive flies it on the in-process
    device: sense, the sensor block through the ICD registers, the reference controller's step, the
    command's floats rounded to float32 as the command block does, apply, fly to the cycle's end."""
    rig = resolve_rig("mil")
    run = Run(load_scenario(name))
    config = device_config(run.config(rig))
    plant = Plant(plant_params(rig, run.scenario), run.scenario.initial, np.random.default_rng(run.flown_seed))
    controller = ReferenceController(config)
    dt = 1.0 / rig.control_rate_hz
    frames: list[SensorInput] = []
    frame = 0
    while not plant.ended and plant.t < run.scenario.max_time_s - 1e-9:
        frame += 1
        s = SensorInput(*icd.SENSORS.decode(icd.SENSORS.encode(sensor_block(frame, plant.sense()))))
        frames.append(s)
        c = controller.step(s)
        plant.apply(_f32(c.throttle), _f32(c.tilt_x_rad), _f32(c.tilt_y_rad),
                    bool(c.discretes & int(Discretes.SEPARATE)), bool(c.discretes & int(Discretes.CUT)))
        plant.advance(max(0.0, frame * dt - plant.t))
    return Landing(frames, config, columns_of(frames))


def columns_of(frames: list[SensorInput]) -> dict[str, np.ndarray]:
    columns = {name: np.array([getattr(f, name) for f in frames], dtype=np.float64) for name in INPUTS}
    for name in ("radar_seq", "flags"):
        columns[name] = columns[name].astype(np.int64)
    columns["t_us"] = np.array([f.t_us for f in frames], dtype=np.int64)
    return columns


@pytest.fixture(scope="module")
def landings() -> dict[str, Landing]:
    return {name: fly_and_record(name) for name in SCENARIOS}


class Replay:
    """Cases (a stream of frames and a config each) stepped by scalars and one batch controller,
    compared every step. A case whose stream has ended is dropped with keep()."""

    def __init__(self, streams: list[list[SensorInput]], configs: list[dict], batch_configs=None) -> None:
        self.streams = streams
        self.scalars = [ReferenceController(c) for c in configs]
        self.batch = BatchController(batch_configs or configs)
        self.alive = np.arange(len(streams))        # original case numbers, in batch order
        longest = max(len(s) for s in streams)
        self.columns = {}
        for name in INPUTS:
            column = np.full((longest, len(streams)), np.nan)
            for i, stream in enumerate(streams):
                column[:len(stream), i] = [getattr(f, name) for f in stream]
            self.columns[name] = column
        self.lengths = np.array([len(s) for s in streams])
        self.k = 0
        self.states_seen: set[int] = set()
        self.max_rejects = 0

    def keep(self, positions: np.ndarray) -> None:
        self.alive = self.alive[positions]
        self.batch.keep(positions)

    def step(self) -> None:
        k = self.k
        ended = self.lengths[self.alive] <= k
        if ended.any():
            self.keep(np.flatnonzero(~ended))
        cases = self.alive
        frames = [self.streams[i][k] for i in cases]
        t_us = {f.t_us for f in frames}
        assert len(t_us) <= 1, f"frame {k}: the cases' clocks differ"
        commands = [self.scalars[i].step(f) for i, f in zip(cases, frames)]
        if cases.size:
            col = {name: self.columns[name][k, cases] for name in INPUTS}
            self.batch.step(t_us.pop(), col["radar_seq"].astype(np.int64), col["altitude_m"], col["vx_mps"],
                            col["vy_mps"], col["vz_mps"], col["imu_fx"], col["imu_fy"], col["imu_fz"],
                            col["bridle_length_m"], col["flags"].astype(np.int64))
            self.states_seen.update(np.unique(self.batch.state).tolist())
            self.max_rejects = max(self.max_rejects, int(self.batch.nav_rejects.max()))
        assert_same(self.batch, commands, f"step {k}", cases)
        assert_same_internals(self.batch, [self.scalars[i] for i in cases], f"step {k}", cases)
        self.k += 1

    def run(self, steps: int | None = None) -> None:
        end = int(self.lengths.max()) if steps is None else self.k + steps
        while self.k < end:
            self.step()


def test_replayed_landings_give_the_scalar_outputs_case_by_case(landings):
    """Every scenario's frames with every config variant, all in one batch: same outputs every step."""
    streams, configs = [], []
    for name in SCENARIOS:
        landing = landings[name]
        for changes in VARIANTS:
            streams.append(landing.frames)
            configs.append(device_config(landing.config, changes))
    replay = Replay(streams, configs)
    replay.run()
    assert (replay.lengths[replay.alive] == replay.k).all()   # the longest landings, to their last frame
    assert replay.states_seen >= set(range(int(S.STANDBY), int(S.ENGINES_OFF) + 1))
    assert replay.max_rejects > 0, "no radar sample was gated"
    # The scalars themselves went everywhere the batch did, each on its own.
    reached = {int(c.state) for c in replay.scalars}
    assert int(S.ENGINES_OFF) in reached and int(S.SKY_CRANE) in reached   # td_enable = 0 stays in SKY_CRANE


def test_landings_start_without_navigation_and_without_imu(landings):
    """The recorded frames themselves hold the no-navigation start and an IMU-invalid frame."""
    frames = landings["nominal"].frames
    assert not frames[0].flags & _RADAR_VALID and not frames[0].flags & _IMU_VALID
    assert any(not f.flags & _RADAR_VALID for f in landings["radar-dust"].frames[500:])


# -- synthetic frames -----------------------------------------------------------------------------

def synthetic_streams(rng: np.random.Generator, n: int, steps: int, t0_us: int = 1_234_567) -> list[list[SensorInput]]:
    """Per-case frames that are not a landing: no radar for a while (NaN), dropouts, glitches,
    IMU-invalid frames, a rise of the stage that drops the throttle (touchdown), a CUT flag from
    the first frame on some cases (a cold start after the cut), radar_seq changing on its own per case."""
    streams = []
    for _ in range(n):
        h0, rate = rng.uniform(12.0, 40.0), rng.uniform(0.3, 4.0)
        no_radar = int(rng.integers(0, 40))
        rise_at = rng.uniform(2.0, 8.0) if rng.random() < 0.7 else math.inf
        sep_at = rng.uniform(0.0, 4.0)
        cut = rng.random() < 0.15
        seq = int(rng.integers(0, 0x10000))
        frames, held = [], (math.nan,) * 4
        for k in range(steps):
            t = k * 0.02
            if rng.random() < 0.45:
                seq = (seq + 1) & 0xFFFF
                valid = k >= no_radar and rng.random() > 0.1
                if valid:
                    vz = -rate if t < rise_at else 0.4
                    vx, vy = rng.normal(0.0, 1.0), rng.normal(0.0, 1.0)
                    if rng.random() < 0.12:
                        vx, vz = vx + rng.normal(0.0, 3.0), vz + rng.normal(0.0, 3.0)   # a glitch
                    held = (max(0.5, h0 - rate * t), vx, vy, vz)
                elif k >= no_radar:
                    held = tuple(rng.normal(0.0, 50.0, 4))      # a dropout's values: not to be used
                radar_valid = valid
            else:
                radar_valid = bool(frames[-1].flags & _RADAR_VALID) if frames else False
            imu_valid = k > 0 and rng.random() > 0.15
            imu = tuple(rng.normal((0.0, 0.0, 3.711), 0.3)) if imu_valid else (math.nan,) * 3
            flags = ((_RADAR_VALID if radar_valid else 0) | (_IMU_VALID if imu_valid else 0)
                     | ((_SEPARATED | _CUT) if cut else 0))
            bridle = min(7.6, max(0.0, (t - sep_at) * 3.0))
            values = tuple(_f32(v) for v in (*held, *imu, bridle))
            frames.append(SensorInput(k + 1, t0_us + 20_000 * k, seq, *values, flags))
        streams.append(frames)
    return streams


def random_config(rng: np.random.Generator) -> dict:
    """Defaults with short durations, or every register drawn within its ICD limits."""
    if rng.random() < 0.5:
        changes = {"td_arm_delay_s": rng.uniform(0.0, 1.0), "td_persist_s": rng.uniform(0.0, 0.6),
                   "cut_delay_s": rng.uniform(0.0, 0.5), "flyaway_hover_s": rng.uniform(0.0, 0.4),
                   "flyaway_climb_s": rng.uniform(0.0, 1.0), "flyaway_burn_s": rng.uniform(0.0, 1.0),
                   "td_drop_frac": rng.uniform(0.05, 0.4), "alt_filter_tau_s": rng.choice([0.0, 0.5, 1.0])}
    else:
        changes = {}
        for f in icd.CONFIG.fields:
            if f.name in ("timing_mode", "control_rate_hz", "watchdog_s"):
                continue
            if f.type == "u16":
                changes[f.name] = int(rng.integers(int(f.minimum), int(f.maximum) + 1))
            else:
                changes[f.name] = rng.uniform(f.minimum, f.maximum) if rng.random() < 0.9 else f.minimum
    return device_config(icd.config_defaults(), changes)


def test_no_navigation_imu_dropouts_and_a_cold_start_after_the_cut():
    rng = np.random.default_rng(20240611)
    n, steps = 150, 500
    streams = synthetic_streams(rng, n, steps)
    configs = [random_config(rng) for _ in range(n)]
    replay = Replay(streams, configs)
    replay.run(20)               # the first frames: some cases with navigation, some still without
    held = [i for i in range(n) if not replay.scalars[i].nav.valid]
    assert held and len(held) < n
    assert (replay.batch.state[held] == int(S.STANDBY)).all() and (replay.batch.throttle[held] == 0.0).all()
    replay.run()
    cold = [i for i in range(n) if streams[i][0].flags & _CUT]
    assert cold and all(replay.scalars[i].state in (S.FLYAWAY, S.ENGINES_OFF) for i in cold)
    assert all(replay.scalars[i].discretes == int(Discretes.SEPARATE | Discretes.CUT) for i in cold)
    assert replay.states_seen >= set(range(int(S.STANDBY), int(S.ENGINES_OFF) + 1))
    assert replay.max_rejects > 0


def test_a_first_frame_with_the_cut_flag_goes_straight_to_flyaway():
    config = device_config(icd.config_defaults())
    flags = _RADAR_VALID | _IMU_VALID | _SEPARATED | _CUT
    frame = SensorInput(1, 0, 3, 8.0, 0.1, -0.2, -0.7, 0.0, 0.0, 3.711, 7.5, flags)
    commands = [ReferenceController(config).step(frame),
                ReferenceController(config).step(replace(frame, flags=_RADAR_VALID | _IMU_VALID))]
    batch = BatchController([config, config])
    floats = (8.0, 0.1, -0.2, -0.7, 0.0, 0.0, 3.711, 7.5)
    batch.step(0, np.array([3, 3]), *(np.full(2, v) for v in floats), np.array([flags, _RADAR_VALID | _IMU_VALID]))
    assert_same(batch, commands, "cold start after the cut")
    # Without the flag, 8 m is below h_cv and h_sep: STANDBY to SKY_CRANE in one step.
    assert batch.state.tolist() == [int(S.FLYAWAY), int(S.SKY_CRANE)]
    assert batch.discretes.tolist() == [int(Discretes.SEPARATE | Discretes.CUT), int(Discretes.SEPARATE)]
    assert batch.state_since_us.tolist() == [0, 0]


# -- keep() ----------------------------------------------------------------------------------------

def test_keep_compacts_every_per_case_array(landings):
    rng = np.random.default_rng(7)
    streams, configs = [], []
    for name in ("radar-dust", "terminal-descent"):
        for changes in VARIANTS:
            streams.append(landings[name].frames)
            configs.append(device_config(landings[name].config, changes))
    replay = Replay(streams, configs)
    replay.keep(np.flatnonzero(rng.random(replay.alive.size) < 0.9))   # before the first step
    for stop in (2, 300, 1200, 2100, 2600):
        replay.run(stop - replay.k)
        survivors = np.flatnonzero(rng.random(replay.alive.size) < 0.75)
        replay.keep(survivors)
        per_case = {name: value.shape for name, value in vars(replay.batch).items() if isinstance(value, np.ndarray)}
        assert len(per_case) > 40 and set(per_case.values()) == {(survivors.size,)}, per_case
    assert replay.alive.size
    replay.run()
    replay.keep(np.array([], dtype=np.intp))
    empty = np.array([], dtype=np.float64)
    replay.batch.step(10**8, empty.astype(np.int64), *([empty] * 8), empty.astype(np.int64))
    assert replay.batch.throttle.size == 0 and len(replay.batch) == 0


def test_keep_with_cases_still_without_navigation():
    rng = np.random.default_rng(3)
    streams = synthetic_streams(rng, 40, 200)
    replay = Replay(streams, [random_config(rng) for _ in range(40)])
    replay.run(10)
    replay.keep(np.arange(1, 40, 2))
    replay.run(20)
    replay.keep(np.array([0, 3, 4, 9, 12, 19]))
    replay.run()


# -- the comparison can fail ---------------------------------------------------------------------

def test_a_changed_config_value_on_one_case_is_caught(landings):
    landing = landings["terminal-descent"]
    configs = [device_config(landing.config, changes) for changes in VARIANTS[:4]]
    for name, value in (("kp_vz", 4.5), ("td_persist_s", 1.1), ("nav_gate_mps", 0.3)):
        changed = [dict(c) for c in configs]
        changed[2] = device_config(changed[2], {name: value})
        replay = Replay([landing.frames] * 4, configs, batch_configs=changed)
        with pytest.raises(AssertionError, match="case 2:"):
            replay.run()


def test_the_comparison_sees_a_last_bits_change_beyond_the_tolerance_and_any_integer_change():
    config = device_config(icd.config_defaults())
    scalar = ReferenceController(config)
    frame = SensorInput(1, 0, 3, 800.0, 0.3, -0.2, -60.0, 0.1, 0.0, 3.9, 0.0, _RADAR_VALID | _IMU_VALID)
    command = scalar.step(frame)
    batch = BatchController([config])
    batch.step(0, np.array([3]), *(np.array([v]) for v in (800.0, 0.3, -0.2, -60.0, 0.1, 0.0, 3.9, 0.0)),
               np.array([_RADAR_VALID | _IMU_VALID]))
    assert_same(batch, [command], "same", tally=Tally())
    assert_same(batch, [replace(command, throttle=command.throttle * (1 + 1e-13))], "within", tally=Tally())
    with pytest.raises(AssertionError, match="throttle"):
        assert_same(batch, [replace(command, throttle=command.throttle * (1 + 1e-10))], "beyond", tally=Tally())
    with pytest.raises(AssertionError, match="state_since_us"):
        assert_same(batch, [replace(command, state_since_us=1)], "int", tally=Tally())


def test_cases_must_share_the_control_rate():
    with pytest.raises(ValueError, match="control_rate_hz"):
        BatchController([device_config(icd.config_defaults()),
                         device_config(icd.config_defaults(), {"control_rate_hz": 100.0})])
