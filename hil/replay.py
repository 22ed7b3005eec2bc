"""Replay: a recorded run's sensor frames fed in order, open loop, to a controller, and its
command stream compared with the recorded one, cycle by cycle (docs/replay.md).

One frame per control step the recorded device ran, rebuilt from telemetry.csv's `sensor_*`
columns (every field the device got) at the controller's clock, is sent by the lockstep executive
itself with the recorded frames in the plant's place: the same encode, FC23 exchange, frame-echo
check and link policy as a landing. The config block is the one the run wrote (summary.json), in
lockstep, with optional overrides. Nothing is fed back: the recorded frames go out whatever the
controller answers, so a difference shows at the cycle the controller first decides differently.
"""

from __future__ import annotations

import csv
import json
import math
import time
from dataclasses import dataclass, replace
from pathlib import Path

from hil import icd
from hil.compare import Tolerances, transition_offsets, transitions
from hil.errors import ConfigError, HilError
from hil.executive import LockstepExecutive
from hil.handshake import configure
from hil.link_policy import LinkPolicy
from hil.record import SENSOR_NAMES
from hil.telemetry import SUMMARY_FILE, TELEMETRY_FILE, json_safe, read_telemetry
from plant.sensors import SensorFrame

REPLAY_FILE = "replay.json"
FIELDS = ("state", "throttle", "tilt_x_rad", "tilt_y_rad", "discretes", "td_time_us")
FLOATS = ("throttle", "tilt_x_rad", "tilt_y_rad")   # compared within the command tolerance where states agree
EVENTS = ("state", "discretes")                     # exact, but a change may move by the cycle tolerance
SENSOR_COLUMNS = tuple(f"sensor_{name}" for name in SENSOR_NAMES)
NEEDED_COLUMNS = ("cycle", *SENSOR_COLUMNS, *(f"cmd_{name}" for name in FIELDS),
                  "cmd_frame", "cmd_step_count", "cmd_frame_rx_tick_us", "cmd_step_tick_us")
# What counts as the same controller, open loop (docs/replay.md): the C core's float32 against the
# float64 reference moved throttle by at most 2.1e-4 over the eight shipped scenarios (tilts by
# 1e-9), so 1e-3; a state change may fall one cycle later when a float32 value crosses its
# threshold a rounding error away (seen in closed loop, not yet in a replay), as in hil compare.
TOLERANCES = Tolerances(command=1e-3, cycles=1)
_BOOLS = frozenset({"radar_valid", "imu_valid", "separated", "cut"})
_INTS = frozenset({"radar_seq", "health"})
_NOT_DECLARED = icd.TD_NOT_DECLARED
_STATE_NAMES = {s.value: s.name for s in icd.ControllerState}
_LINK_LOST = int(icd.ControllerState.LINK_LOST)


@dataclass(frozen=True)
class Recording:
    """A run folder read for replay: each control step the device ran, the frame it used and its answer."""

    folder: Path
    summary: dict
    timing: str                        # the recorded run's: lockstep or realtime
    config: dict                       # the config block the run wrote
    cycles: tuple[int, ...]            # each step's telemetry cycle: the row its answer first came back in
    sensors: tuple[SensorFrame, ...]   # the frame it used, at the controller's clock (t)
    commands: tuple[dict, ...]         # its answer as recorded (FIELDS)
    rows: int                          # telemetry rows read
    same_clock: bool                   # the replay's controller clock is the recorded one (td_time_us comparable)
    notes: tuple[str, ...]             # why this replay may not be the recorded run's exact twin


def load_recording(folder: str | Path) -> Recording:
    """Read a run folder; a ConfigError (one line) when it cannot be replayed into this host's ICD.

    A step is a row whose command is fresh (its step_count differs from the row before; a lockstep
    retry or a fault's lost cycle repeats the last command, a real-time reply may repeat one). The
    frame it used is the row of its `cmd_frame`. In lockstep the controller's clock is that frame's
    time; in real time it is the device's (step_tick_us since the first frame arrived, both in the
    command block), so the replayed frame carries that instead.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ConfigError(f"replay: {folder} is not a run folder")
    telemetry, summary_path = folder / TELEMETRY_FILE, folder / SUMMARY_FILE
    if not telemetry.is_file():
        raise ConfigError(f"replay: {folder} has no {TELEMETRY_FILE} (no frames to replay)")
    if not summary_path.is_file():
        raise ConfigError(f"replay: {folder} has no {SUMMARY_FILE} (the run's ICD version and config block)")
    try:
        summary = json.loads(summary_path.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"replay: {summary_path} is not readable JSON ({exc})") from None
    _check_icd(summary, summary_path)
    config = _recorded_config(summary, summary_path)
    timing = (summary.get("timing") or {}).get("mode", "lockstep")
    columns = _read_columns(telemetry)
    rows = len(columns["cycle"])
    if rows == 0:
        raise ConfigError(f"replay: {telemetry} holds no cycles")
    row_of: dict[int, int] = {}        # cycle -> its row
    last = -math.inf
    for i, cycle in enumerate(columns["cycle"]):
        if cycle <= last:
            raise ConfigError(f"replay: {telemetry} row {i + 2}: cycle {cycle:g} does not follow {last:g}")
        row_of[int(cycle)] = i
        last = cycle
    epoch = _device_epoch(columns) if timing == "realtime" else None
    notes = _fault_notes(summary)
    if timing == "realtime" and epoch is None:
        notes.append("the device's first step is not recorded, so its clock cannot be rebuilt: frames carry "
                     "their plant time instead")
    cycles, sensors, commands, previous, unknown, lost = [], [], [], None, 0, 0
    for i in range(rows):
        step = columns["cmd_step_count"][i]
        fresh, previous = step != previous, step
        if not fresh or step == 0:
            continue                   # a repeated answer, or none yet
        used = row_of.get(int(columns["cmd_frame"][i]))
        if columns["cmd_state"][i] == _LINK_LOST:
            lost += 1                  # the watchdog's step: nothing a lockstep device can be sent
            continue
        if used is None:
            unknown += 1               # its frame's reply was lost, and the frame with it
            continue
        frame = _sensor_frame(columns, used)
        if epoch is not None:
            t_us = (int(columns["cmd_step_tick_us"][i]) - epoch) & 0xFFFFFFFF
            frame = replace(frame, t=t_us / 1e6)
        cycles.append(int(columns["cycle"][i]))
        sensors.append(frame)
        commands.append({name: columns[f"cmd_{name}"][i] for name in FIELDS})
    if unknown:
        notes.append(f"{unknown} recorded steps used a frame the record does not hold (its reply was lost): "
                     "not replayed")
    if lost:
        notes.append(f"{lost} recorded steps were the watchdog's (LINK_LOST): not replayed")
    if not cycles:
        raise ConfigError(f"replay: {telemetry}: no control step of the device is recorded")
    return Recording(folder, summary, timing, config, tuple(cycles), tuple(sensors), tuple(commands), rows,
                     timing != "realtime" or epoch is not None, tuple(notes))


def _device_epoch(columns: dict) -> int | None:
    """Real time: the device clock when the first frame arrived, the controller's zero (the
    frame_rx_tick_us of the first step's answer)."""
    for i, step in enumerate(columns["cmd_step_count"]):
        if step == 1:
            return int(columns["cmd_frame_rx_tick_us"][i])
    return None


def _fault_notes(summary: dict) -> list[str]:
    """Faults the replay cannot repeat: a reset device, a line that lost frames."""
    kinds = sorted({f.get("kind", f.get("name", "?")) for f in summary.get("faults") or []
                    if f.get("applied") and str(f.get("kind", f.get("name", ""))).startswith(("link.", "device."))})
    if (summary.get("rig") or {}).get("link_faults"):
        kinds.append("rig link_faults")
    if not kinds:
        return []
    return [(f"the recorded run had link or device faults ({', '.join(kinds)}): the replay sends only the frames "
             "the device stepped on, and resets nothing")]


def _check_icd(summary: dict, path: Path) -> None:
    recorded = summary.get("icd") or {}
    version, layout = recorded.get("version"), recorded.get("layout_hash")
    if version != icd.ICD_VERSION or layout != f"0x{icd.LAYOUT_HASH:08X}":
        raise ConfigError(f"replay: {path} was recorded with ICD v{version} layout {layout}; this host speaks "
                          f"ICD v{icd.ICD_VERSION} layout 0x{icd.LAYOUT_HASH:08X}: its frames mean something else")


def _recorded_config(summary: dict, path: Path) -> dict:
    """The config block the run wrote, every register present and within the ICD limits."""
    config = summary.get("controller_config")
    if not isinstance(config, dict):
        raise ConfigError(f"replay: {path} has no controller_config (the config block the run wrote)")
    missing = [name for name in icd.CONFIG.names if name not in config]
    if missing:
        raise ConfigError(f"replay: {path}: controller_config lacks {', '.join(missing)}")
    try:
        return {name: icd.check_config_value(name, config[name]) for name in icd.CONFIG.names}
    except ValueError as exc:
        raise ConfigError(f"replay: {path}: controller_config.{exc}") from None


def _read_columns(path: Path) -> dict[str, list]:
    with path.open(newline="") as f:
        header = next(csv.reader(f), [])
    missing = [name for name in NEEDED_COLUMNS if name not in header]
    if missing:
        raise ConfigError(f"replay: {path} lacks the columns {', '.join(missing)} (needed to rebuild the frames "
                          "and compare the answers)")
    columns = read_telemetry(path)
    for name in NEEDED_COLUMNS:
        for i, value in enumerate(columns[name]):
            if not isinstance(value, float) or (name.startswith("cmd_") and math.isnan(value)):
                raise ConfigError(f"replay: {path} row {i + 2}: {name} is {value!r}, not a number")
    return columns


def _sensor_frame(columns: dict, i: int) -> SensorFrame:
    """The plant's SensorFrame as recorded: executive.sensor_block() encodes it exactly as it did
    (floats are written with repr, so they read back to the same double)."""
    values = {}
    for name in SENSOR_NAMES:
        value = columns[f"sensor_{name}"][i]
        values[name] = bool(value) if name in _BOOLS else int(value) if name in _INTS else value
    return SensorFrame(**values)


class RecordedFrames:
    """The recorded frames in the plant's place, for the lockstep executive: `sense()` gives the
    next recorded frame, commands are not applied (open loop), `advance()` moves to the next."""

    def __init__(self, sensors: tuple[SensorFrame, ...]) -> None:
        self._sensors = sensors
        self._next = 0
        self.t = sensors[0].t

    @property
    def ended(self) -> bool:
        return self._next >= len(self._sensors)

    def sense(self) -> SensorFrame:
        return self._sensors[self._next]

    def truth(self) -> None:
        return None

    def apply(self, *command) -> None:
        pass

    def advance(self, _dt: float) -> None:
        self._next += 1
        if not self.ended:
            self.t = self._sensors[self._next].t


def replay_config(recording: Recording, overrides: dict | None = None) -> dict:
    """The run's config block, in lockstep, with the overrides (already checked) on top."""
    config = dict(recording.config)
    config.update(overrides or {})
    config["timing_mode"] = int(icd.TimingMode.LOCKSTEP)
    return config


def check_rig(rig) -> None:
    """A replay steps the controller once per frame: a rig that runs real time cannot do that."""
    if rig.timing != "lockstep":
        raise ConfigError(f"replay: rig {rig.name} runs {rig.timing} (its device steps on its own timer); a "
                          "replay steps the controller once per frame: use a lockstep rig (timing = \"lockstep\")")


def replay(recording: Recording, session, *, overrides: dict | None = None,
           tolerances: Tolerances = TOLERANCES) -> dict:
    """Send every replayed frame to the session's controller and compare its answers; the report."""
    rig = session.rig
    check_rig(rig)
    config = replay_config(recording, overrides)
    answers: list = []

    def keep(frame, truth, sensors, command, retries, misses) -> None:
        answers.append(command)

    executive = LockstepExecutive(RecordedFrames(recording.sensors), session.link, config["control_rate_hz"], [keep],
                                  LinkPolicy(rig.link_retries, rig.link_max_misses))
    started = time.perf_counter()
    try:
        configure(session.link, config)
        executive.run(math.inf)
    except HilError as exc:
        died = session.device.failure() if session.device is not None else None
        if died:
            raise HilError(f"rig {rig.name}: {died} ({exc})") from None
        raise
    wall_s = time.perf_counter() - started
    replayed = [{name: float(getattr(c, name)) for name in FIELDS} for c in answers]
    report = compare_commands(recording, replayed, tolerances, config["control_rate_hz"])
    summary = recording.summary
    return {
        "run": str(recording.folder),
        "recorded": {"scenario": summary.get("scenario"), "seed": summary.get("seed"),
                     "rig": (summary.get("rig") or {}).get("name"), "timing": recording.timing,
                     "verdict": summary.get("verdict")},
        "rig": rig.name,
        "device": {k: session.identity.get(k) for k in ("device_kind_name", "build_id", "port")},
        "config_overrides": dict(overrides or {}),
        "steps_replayed": len(answers),
        "telemetry_rows": recording.rows,
        "notes": list(recording.notes),
        "link_retries": executive.link_tally.summary().get("failures", 0),
        "wall_s": wall_s,
        "cycles_per_s": len(answers) / wall_s if wall_s > 0 else None,
        **report,
    }


def compare_commands(recording: Recording, replayed: list[dict], tolerances: Tolerances,
                     control_rate_hz: float) -> dict:
    """Recorded against replayed answers, frame by frame.

    state and discretes must be equal, except between a change and the same change in the other
    stream when the two are at most `tolerances.cycles` frames apart; throttle and tilts are
    compared where the states agree, within `tolerances.command`; td_time_us within
    `tolerances.cycles` control periods once both are declared, and declared at cycles where the
    declarations pair up within the same tolerance (only whether it was declared, when the
    recorded device's clock could not be rebuilt).
    """
    frames, recorded = recording.cycles, recording.commands
    n = min(len(frames), len(replayed))
    period_us = 1e6 / control_rate_hz
    td_tol_us = tolerances.cycles * period_us
    declared = {"recorded": [c["td_time_us"] != _NOT_DECLARED for c in recorded[:n]],
                "replayed": [c["td_time_us"] != _NOT_DECLARED for c in replayed[:n]]}
    series = {name: ([c[name] for c in recorded[:n]], [c[name] for c in replayed[:n]]) for name in EVENTS}
    series["td_declared"] = (declared["recorded"], declared["replayed"])
    offsets, excused = {}, {}
    for name, (a, b) in series.items():
        offsets[name] = transition_offsets(transitions(frames[:n], a), transitions(frames[:n], b))
        excused[name] = _excused(offsets[name], tolerances.cycles)
    fields = {name: {"max_abs_diff": 0.0, "cycle": None, "cycles_differing": 0} for name in FIELDS}
    first, agreeing = None, 0
    for i in range(n):
        frame, rec, rep = frames[i], recorded[i], replayed[i]
        differing = []
        for name in EVENTS:
            if rec[name] != rep[name]:
                fields[name]["cycles_differing"] += 1
                if frame not in excused[name]:
                    differing.append(name)
        if rec["state"] == rep["state"]:
            agreeing += 1
            for name in FLOATS:
                diff = abs(rec[name] - rep[name])
                if diff > fields[name]["max_abs_diff"] or math.isnan(diff):
                    fields[name].update(max_abs_diff=diff, cycle=frame)
                if not diff <= tolerances.command:
                    fields[name]["cycles_differing"] += 1
                    differing.append(name)
        if _td_differs(rec["td_time_us"], rep["td_time_us"], fields["td_time_us"], frame,
                       recording.same_clock, td_tol_us, frame in excused["td_declared"]):
            differing.append("td_time_us")
        if differing and first is None:
            first = {"cycle": frame, "fields": {name: {"recorded": rec[name], "replayed": rep[name]}
                                                for name in dict.fromkeys(differing)}}
    if not agreeing:
        for name in FLOATS:
            fields[name]["max_abs_diff"] = None      # the states never agreed: nothing compared
    return {
        "cycles_compared": n,
        "tolerances": {"command": tolerances.command, "cycles": tolerances.cycles, "td_time_us": td_tol_us},
        "first_difference": first,
        "fields": fields,
        "transitions": offsets,
        "agree": first is None and n == len(frames),
    }


def _excused(rows: list[dict], cycles: int) -> set[int]:
    """Frames between a change and the same change in the other stream, when it is close enough."""
    out = set()
    for row in rows:
        if row["offset"] is not None and abs(row["offset"]) <= cycles:
            low, high = sorted((row["cycle_a"], row["cycle_b"]))
            out.update(range(low, high))
    return out


def _td_differs(rec: float, rep: float, row: dict, frame: int, same_clock: bool, tol_us: float,
                excused: bool) -> bool:
    if (rec == _NOT_DECLARED) != (rep == _NOT_DECLARED):
        row["cycles_differing"] += 1
        return not excused
    if rec == _NOT_DECLARED or not same_clock:
        return False
    diff = abs(rec - rep)
    if diff > row["max_abs_diff"]:
        row.update(max_abs_diff=diff, cycle=frame)
    if diff > tol_us:
        row["cycles_differing"] += 1
        return True
    return False


def write_report(report: dict, out_dir: Path) -> Path:
    path = Path(out_dir) / REPLAY_FILE
    path.write_text(json.dumps(json_safe(report), indent=2) + "\n")
    return path


def describe(report: dict) -> list[str]:
    """The short human report: first differing cycle, largest differences, transition offsets."""
    rec = report["recorded"]
    rate = report["cycles_per_s"]
    lines = [f"replayed {report['steps_replayed']} steps of {report['run']} ({rec['scenario']} seed {rec['seed']}, "
             f"recorded on {rec['rig']}, {rec['timing']}) into {report['rig']} in {report['wall_s']:.2f} s"
             + (f" ({rate:.0f} cycles/s)" if rate else "")]
    lines += [f"note: {note}" for note in report["notes"]]
    first = report["first_difference"]
    if first is None:
        lines.append("no differing cycle")
    else:
        parts = [f"{name} {_show(name, v['recorded'])} recorded, {_show(name, v['replayed'])} replayed"
                 for name, v in first["fields"].items()]
        lines.append(f"first differing cycle {first['cycle']}: " + "; ".join(parts))
    tol = report["tolerances"]
    for name, row in report["fields"].items():
        if name in FLOATS or name == "td_time_us":
            limit = tol["command"] if name in FLOATS else f"{tol['td_time_us']:g} us"
            value = "n/a" if row["max_abs_diff"] is None else f"{row['max_abs_diff']:.3g}"
            at = "" if row["cycle"] is None else f" (cycle {row['cycle']})"
            lines.append(f"largest {name:<12} difference {value:>9}{at}, tolerance {limit}")
        else:
            lines.append(f"{name:<12} differs in {row['cycles_differing']} cycles")
    for name, rows in report["transitions"].items():
        moved = [r for r in rows if r["offset"] != 0]
        if not moved:
            lines.append(f"{name}: {len(rows)} values entered (the first included), each at the same cycle")
        for r in moved:
            offset = "missing" if r["offset"] is None else f"{r['offset']:+d} cycles"
            lines.append(f"{name} -> {_show(name, r['state'])}: cycle {r['cycle_a']} recorded, {r['cycle_b']} "
                         f"replayed ({offset})")
    return lines


def _show(name: str, value) -> str:
    if name == "state":
        return _STATE_NAMES.get(int(value), str(int(value)))
    if name in ("discretes", "td_declared"):
        return str(int(value))
    if name == "td_time_us":
        return "not declared" if value == _NOT_DECLARED else f"{int(value)}"
    return f"{value:.6g}"
