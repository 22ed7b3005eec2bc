"""Back to back at scale: the Python reference against the C firmware core (SIL, lockstep), landing
by landing, every shipped scenario and random valid controller configurations on dispersed landings.

    .venv/bin/python benchmarks/back_to_back.py                                  # every scenario, seed 1
    .venv/bin/python benchmarks/back_to_back.py --scenarios all --seeds 3 --configs 200 --out b2b.json
    .venv/bin/python benchmarks/back_to_back.py --scenarios none --configs 20 --seed 7 --band full

Each landing is flown twice with the same scenario, plant seed, controller configuration and
control rate: on the reference (`--reference mil`, the in-process rig, default: the same telemetry
as the pty loopback, tests/test_inprocess.py, and faster; or `loopback`, over a pty) and on the SIL
(`rigs/sil.toml`, lockstep). Then the reference flight's own sensor frames are replayed into the
SIL, open loop (`replay`; `--no-replay` skips it). One session per side flies every landing, so
the SIL process starts once; a config write starts each run on it. Records are compared with
hil.compare's compare_runs. Per landing the table shows, for the two flights: cycles where the
controller states differ, the largest state-transition offset (cycles), the largest |throttle|
and |tilt| difference where the states agree, the first clamp tie (below), the difference of the
frame on which touchdown was declared, and the |difference| of the rover's vertical and
horizontal touchdown velocities; for the replay (the same inputs on both sides) the state and
command differences and the first clamp tie.

What is judged, against hil.compare.Tolerances (the defaults of tests/test_sil.py: commands 0.01,
transitions 1 cycle, rover touchdown velocity 0.02 m/s):
- the replay, always, up to its first clamp tie (below): every state transition within `cycles`
  (none on one side only), and the commands within `command` where the states agree;
- the flights of the shipped scenarios (default configuration): as `hil compare` judges them
  (compare_runs: every transition within `cycles`, the commands within `command` wherever the
  states agree, rover touchdown velocities within `velocity_mps`; no contact on both sides
  counts as the same), plus touchdown declared within `cycles` frames;
- the flights of random configurations: reported, not judged (`--judge-random-flights` judges
  them; without a replay they are judged);
- every flight and replay must complete (no ERROR).
Exit status 1 if any landing is beyond tolerance.

Why. In closed loop each side's plant answers its own commands, so the float32 core's rounding
difference is fed back; with the default configuration it stays near 1e-5, but some random
configurations amplify it smoothly (a 1e-6 throttle difference growing past 1e-2 in a few hundred
cycles, before any branch differs), and an altitude threshold then falls a cycle apart and the
flights part ways (separation 14 cycles apart, rover touchdown 0.3 m/s apart, seen). That is the
closed loop's sensitivity, not the port: on identical inputs (the replay) the same landings keep
the same state at every cycle. A clamp tie: a cycle, states the same, where one side's command
sits on a clamp limit (throttle_min, 1.0, +-tilt_max_rad, as the float32 the device holds) and the
other's is off it but within TIE (1e-3) of it: the two took the clamp's two branches on values
that agreed to rounding (the anti-windup then integrates on one side only). In closed loop the
flight pulls the two back together; open loop nothing does, so after a tie the replay's commands,
and the touchdown detector that watches the throttle, measure the tie, not the port (seen: the
SIL declaring a touchdown in a replay that the reference never declared, 80 cycles after a tie).
A wrong clamp value is not a tie (the other side is further than TIE from the limit) and fails.

Random configurations (`--configs N`, generator `--seed`): every controller config register of
the ICD (hil/icd.py CONFIG, except the rig-owned timing_mode and control_rate_hz) is drawn
uniformly within a band around its default, default x (1 -+ band), clipped to its ICD limits
(`--band 0.5` by default; `--band full` draws across the whole ICD range). Across the whole range
almost no draw reaches touchdown (gains near zero or near their maximum, a 5 s touchdown
persistence, a 0.9 drop fraction: none of 12 full-range draws on terminal-descent declared one),
so the later states, where the implementations can part ways, would go untested; within the
+-50 % band the reference declared touchdown in 77 of 200 random landings. u16 fields
are drawn as whole numbers in the same band (so td_enable stays 1 unless `--band full`). f32
values are rounded to 3 significant digits, as an engineer writes them: round durations are
where the float32 core and the float64 reference can disagree by a cycle at an exact tie
(docs/firmware.md, "Exact ties"). The control rate is drawn from `--rates` (Hz) and the
scenario from `--config-scenarios`, dispersed with its own [dispersions] table (plant.scenario.
disperse), with a random plant seed. Many random configurations do not land within the
criteria: that is not the point; both sides must fly them the same.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hil import icd  # noqa: E402
from hil.api import NO_FILES, Run, Session  # noqa: E402
from hil.compare import Tolerances, compare_runs  # noqa: E402
from hil.errors import HilError  # noqa: E402
from hil.executive import sensor_block  # noqa: E402
from hil.fault_injection import needs_a_wire  # noqa: E402
from hil.handshake import configure  # noqa: E402
from hil.record import COLUMNS, Record  # noqa: E402
from hil.rig import load_rig, resolve_rig  # noqa: E402
from hil.run import RunResult  # noqa: E402
from plant.scenario import (  # noqa: E402
    Scenario,
    ScenarioError,
    disperse,
    list_scenarios,
    load_scenario,
)
from plant.sensors import SensorFrame  # noqa: E402

SIL_RIG = ROOT / "rigs/sil.toml"
RIG_OWNED = ("timing_mode", "control_rate_hz")
RATES_HZ = (10.0, 20.0, 25.0, 50.0, 100.0)
TOLERANCES = Tolerances()   # tests/test_sil.py's: command 0.01, 1 cycle, 0.02 m/s
TIE = 1e-3                  # a clamp tie: the unclamped side within this of the limit (docstring)
DIVERGED = 1e-3             # a throttle difference counted as the flights (or replay) parting ways
COMMAND_COLUMNS = ("cmd_throttle", "cmd_tilt_x_rad", "cmd_tilt_y_rad")
VELOCITIES = ("rover_vz_at_contact_mps", "rover_vh_at_contact_mps")


@dataclass(frozen=True)
class Landing:
    """One landing to fly on both sides."""

    label: str
    scenario: Scenario
    seed: int
    controller: dict = field(default_factory=dict)
    control_rate_hz: float | None = None      # None: the rig's (50 Hz)
    kind: str = "scenario"                    # scenario (default config) | random (random config, dispersed)


def shipped_scenarios() -> list[str]:
    """The shipped scenarios a lockstep in-process reference can fly: not those with link or
    device faults (they need a wire) or that need real time (tests/test_back_to_back.py flies those)."""
    return [name for name, _ in list_scenarios() if flyable_in_process(load_scenario(name))]


def flyable_in_process(scenario) -> bool:
    return scenario.timing != "realtime" and not needs_a_wire(scenario)


def scenario_landings(names: list[str], seeds: int) -> list[Landing]:
    """Each named scenario at plant seeds 1..seeds, the default configuration."""
    return [Landing(f"{name} s{seed}", load_scenario(name), seed) for name in names for seed in range(1, seeds + 1)]


def _f32(value: float) -> float:
    return float(np.float32(value))


def _round_sig(value: float, digits: int = 3) -> float:
    return 0.0 if value == 0 else float(f"{value:.{digits}g}")


def random_config(rng: np.random.Generator, band: float = 0.5) -> dict:
    """A valid controller configuration: every config field (not the rig-owned ones) drawn
    uniformly in default x (1 -+ band) clipped to the ICD limits (band inf: the whole range)."""
    config = {}
    for f in icd.CONFIG.fields:
        if f.name in RIG_OWNED:
            continue
        lo, hi = f.minimum, f.maximum
        if math.isfinite(band):
            lo, hi = max(lo, f.default * (1 - band)), min(hi, f.default * (1 + band))
        if f.type == "u16":
            config[f.name] = int(rng.integers(math.ceil(lo), math.floor(hi) + 1))
            continue
        value = _round_sig(float(rng.uniform(lo, hi)))
        # Rounding must not step outside the limits as the devices compare them: the Python
        # device checks the float32 value against the float64 limit (docs/firmware.md).
        if not f.minimum <= _f32(value) <= f.maximum:
            value = float(np.clip(value, f.minimum, f.maximum))
            while _f32(value) > f.maximum:
                value = float(np.nextafter(value, -math.inf))
            while _f32(value) < f.minimum:
                value = float(np.nextafter(value, math.inf))
        config[f.name] = icd.check_config_value(f.name, value)
    return config


def random_landings(rng: np.random.Generator, count: int, band: float = 0.5, scenarios: list[str] | None = None,
                    rates: tuple[float, ...] = RATES_HZ) -> list[Landing]:
    """`count` landings, each a random configuration and control rate on a dispersed scenario."""
    names = scenarios or shipped_scenarios()
    out = []
    for k in range(count):
        config = random_config(rng, band)
        rate = float(rates[int(rng.integers(len(rates)))])
        name = names[int(rng.integers(len(names)))]
        base = load_scenario(name)
        for _ in range(100):
            try:
                scenario = disperse(base, rng)
                break
            except ScenarioError:     # a wide normal drew an invalid value: draw again
                continue
        else:
            raise ScenarioError(f"{name}: no valid dispersed draw in 100 tries")
        seed = int(rng.integers(0, 1_000_000))
        out.append(Landing(f"cfg{k + 1} {name} s{seed} {rate:g}Hz", scenario, seed, config, rate, "random"))
    return out


def _rig(session: Session, landing: Landing):
    rig = session.rig
    return rig if landing.control_rate_hz is None else replace(rig, control_rate_hz=landing.control_rate_hz)


def _run(landing: Landing, rig, controller: dict | None = None) -> Run:
    return Run.create(landing.scenario, rig=rig, seed=landing.seed,
                      controller=landing.controller if controller is None else controller, outputs=NO_FILES)


def fly(session: Session, landing: Landing, controller: dict | None = None):
    """One landing on a session's device (no files, the record kept). `controller`: other config
    overrides than the landing's."""
    return session.fly(_run(landing, _rig(session, landing), controller))


_SENSORS = slice(COLUMNS.index("sensor_t"), COLUMNS.index("sensor_t") + len(fields(SensorFrame)))
_COMMANDS = slice(COLUMNS.index("cmd_frame"), COLUMNS.index("cmd_frame") + len(icd.COMMANDS.names))
_STATE_NAMES = {s.value: s.name for s in icd.ControllerState}


def replay(session: Session, landing: Landing, flown, controller: dict | None = None):
    """The device's answers to another landing's own sensor frames, open loop: the run is
    configured as `landing` and every sensor frame of `flown`'s record is sent in turn. Returns a
    RunResult whose record is `flown`'s with the command columns replaced by this device's, so
    hil.compare can compare the two controllers on identical inputs. `error` set if it failed."""
    rig = _rig(session, landing)
    run = _run(landing, rig, controller)
    result = RunResult(run, rig, None, verdict=flown.verdict, metrics=flown.metrics,
                       summary={"rig": {"name": f"{rig.name} (replay)"}, "verdict": flown.verdict,
                                "timing": {"mode": "lockstep"}})
    session.start()
    link = session.link
    rows = []
    try:
        configure(link, run.config(rig))
        for row in flown.record.rows():
            frame = row[0]
            registers = icd.SENSORS.encode(sensor_block(frame, SensorFrame(*row[_SENSORS])))
            command = icd.COMMANDS.decode_record(link.read_write(icd.SENSORS.base, registers, icd.COMMANDS.base,
                                                                 icd.COMMANDS.length, frame=frame))
            rows.append((frame, _STATE_NAMES.get(command.state, "?"), *row[2:_COMMANDS.start], *command,
                         *row[_COMMANDS.stop:]))
    except HilError as exc:
        result.error = str(exc) or type(exc).__name__
        session.reset()            # a device that failed a replay starts afresh for the next landing
    result.record = Record(rows)
    return result


def _td_frame(result) -> int | None:
    """The frame on which touchdown was declared (td_time_us first set), or None."""
    declared = np.flatnonzero(result.record["cmd_td_time_us"] != icd.TD_NOT_DECLARED)
    return None if declared.size == 0 else int(result.record["cycle"][declared[0]])


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _first_tie(a, b, n: int, same_state: np.ndarray) -> int | None:
    """Index of the first cycle (states the same) where one side's command sits on a clamp limit
    (throttle_min, 1.0, +-tilt_max_rad, as the float32 the device holds) and the other's is off it
    but within TIE of it: the two sides took the clamp's two branches on values that agreed to
    rounding. None if there is no such cycle."""
    config = a.run.config(a.rig)
    throttle_min, tilt_max = _f32(config["throttle_min"]), _f32(config["tilt_max_rad"])
    first = n
    for column, limits in (("cmd_throttle", (throttle_min, 1.0)), ("cmd_tilt_x_rad", (tilt_max, -tilt_max)),
                           ("cmd_tilt_y_rad", (tilt_max, -tilt_max))):
        va, vb = a.record[column][:n], b.record[column][:n]
        for limit in limits:
            tie = same_state & ((va == limit) != (vb == limit)) & (np.abs(va - vb) <= TIE)
            if tie.any():
                first = min(first, int(np.argmax(tie)))
    return None if first == n else first


def _compared(a, b, tolerances: Tolerances) -> dict:
    """States and commands of two records (hil.compare), with the commands also up to the first tie."""
    report = compare_runs(a, b, tolerances)
    n = report["cycles_compared"]
    same_state = a.record["cmd_state"][:n] == b.record["cmd_state"][:n]
    tie = _first_tie(a, b, n, same_state)
    upto = same_state.copy()
    if tie is not None:
        upto[tie:] = False
    diff = {k: np.abs(a.record[k][:n] - b.record[k][:n]) for k in COMMAND_COLUMNS}
    throttle = np.where(same_state, diff["cmd_throttle"], 0.0)
    over = np.flatnonzero(throttle > DIVERGED)
    cmds = report["commands"]
    return {"report": report,
            "state_cycles": report["cycles_with_different_state"],
            "max_offset": max((abs(t["offset"]) for t in report["transitions"] if t["offset"] is not None), default=0),
            "one_sided_states": [icd.ControllerState(t["state"]).name for t in report["transitions"]
                                 if t["offset"] is None],
            "moved": [t for t in report["transitions"] if t["offset"] != 0],
            "throttle": cmds["throttle"]["max_abs_diff"],
            "tilt": max(cmds["tilt_x_rad"]["max_abs_diff"], cmds["tilt_y_rad"]["max_abs_diff"]),
            "tie": None if tie is None else int(a.record["cycle"][tie]),
            "tie_gap": None if tie is None else float(diff["cmd_throttle"][tie] + diff["cmd_tilt_x_rad"][tie]
                                                       + diff["cmd_tilt_y_rad"][tie]),
            "state_cycles_to_tie": int(np.count_nonzero(~same_state[:n if tie is None else tie])),
            "throttle_to_tie": float(np.max(diff["cmd_throttle"][upto], initial=0.0)),
            "tilt_to_tie": float(max(np.max(diff[k][upto], initial=0.0) for k in COMMAND_COLUMNS[1:])),
            "diverged": None if over.size == 0 else int(a.record["cycle"][over[0]])}


def _transitions_to(report: dict, tie: int | None, tolerances: Tolerances) -> bool:
    """Every state transition before frame `tie` (all, if None) within `cycles`, on both sides."""
    for t in report["transitions"]:
        first = min(c for c in (t["cycle_a"], t["cycle_b"]) if c is not None)
        if tie is not None and first >= tie:
            continue
        if t["offset"] is None or abs(t["offset"]) > tolerances.cycles:
            return False
    return True


def judge(a, b, replayed=None, tolerances: Tolerances = TOLERANCES, judge_flight: bool = True) -> dict:
    """One landing's row: reference flight `a` against firmware flight `b` and, given, `replayed`
    (the firmware's answers to `a`'s own sensor frames); whether they are within `tolerances`.

    The replay (identical inputs) is judged up to its first clamp tie (`_first_tie`): every state
    transition within `cycles` (none on one side only), the commands within `command` where the
    states agree. The flights are judged when `judge_flight` (or without a replay) as `hil
    compare` judges them (compare_runs: transitions, commands where the states agree, rover
    touchdown velocities), plus touchdown declared within `cycles` frames; no contact on both
    sides counts as the same velocity. Both flights (and the replay) must complete."""
    row = {"verdict_a": a.verdict, "verdict_b": b.verdict,
           "error": a.error or b.error or (replayed.error if replayed is not None else None)}
    if any(r is None or r.record is None or not len(r.record) for r in (a, b)):
        row.update(within=False, cycles=0, checks={"completed": False})
        return row
    flight = _compared(a, b, tolerances)
    td_a, td_b = _td_frame(a), _td_frame(b)
    td_diff = 0 if td_a is None and td_b is None else (None if td_a is None or td_b is None else td_b - td_a)
    velocity = {}
    for name in VELOCITIES:
        va, vb = a.metrics.get(name), b.metrics.get(name)
        velocity[name] = 0.0 if _missing(va) and _missing(vb) else (
            math.inf if _missing(va) or _missing(vb) else abs(vb - va))
    report = flight.pop("report")
    row.update(cycles=report["cycles_compared"], length_diff=len(b.record) - len(a.record),
               flight={**flight, "td_frame_a": td_a, "td_frame_b": td_b, "td_frame_diff": td_diff,
                       "vz": velocity["rover_vz_at_contact_mps"], "vh": velocity["rover_vh_at_contact_mps"]})
    checks = {"completed": row["error"] is None}
    has_replay = replayed is not None and replayed.record is not None and len(replayed.record) > 0
    if has_replay:
        same_inputs = _compared(a, replayed, tolerances)
        replay_report = same_inputs.pop("report")
        row["replay"] = same_inputs
        checks["replay_transitions"] = _transitions_to(replay_report, same_inputs["tie"], tolerances)
        checks["replay_commands"] = (same_inputs["throttle_to_tie"] <= tolerances.command
                                     and same_inputs["tilt_to_tie"] <= tolerances.command)
    row["flight_judged"] = judge_flight or not has_replay
    if row["flight_judged"]:
        checks["transitions"] = report["checks"]["transitions"]
        checks["commands"] = report["checks"]["commands"]
        checks["touchdown_frame"] = td_diff is not None and abs(td_diff) <= tolerances.cycles
        checks["touchdown_velocity"] = all(v <= tolerances.velocity_mps for v in velocity.values())
    row["checks"] = checks
    row["within"] = all(checks.values())
    return row


def compare_landings(landings: list[Landing], reference: str = "mil", tolerances: Tolerances = TOLERANCES,
                     replay_too: bool = True, judge_random_flights: bool = False, sil_rig=SIL_RIG,
                     on_row=None) -> list[dict]:
    """Fly every landing on the reference and on the SIL (one session each; the SIL starts once),
    replay the reference's sensor frames into the SIL too (`replay_too`), and judge each."""
    rows = []
    with Session(resolve_rig(reference)) as ref, Session(load_rig(sil_rig)) as sil:
        for landing in landings:
            started = time.perf_counter()
            a, b = fly(ref, landing), fly(sil, landing)
            replayed = replay(sil, landing, a) if replay_too and a.record is not None and len(a.record) else None
            row = {"landing": landing.label, "kind": landing.kind, "scenario": landing.scenario.name,
                   "seed": landing.seed, "control_rate_hz": landing.control_rate_hz or sil.rig.control_rate_hz,
                   "controller": landing.controller,
                   **judge(a, b, replayed, tolerances, landing.kind == "scenario" or judge_random_flights),
                   "wall_s": round(time.perf_counter() - started, 2), "sil_starts": sil.starts}
            rows.append(row)
            if on_row:
                on_row(row)
    return rows


def _figures(rows: list[dict], part: str) -> dict:
    done = [r[part] for r in rows if part in r]

    def largest(key):
        return max((r[key] for r in done if r[key] is not None), default=0.0)
    out = {"landings": len(done),
           "with_state_differences": sum(r["state_cycles"] > 0 for r in done),
           "cycles_with_different_state": sum(r["state_cycles"] for r in done),
           "transitions_moved": sum(len(r["moved"]) for r in done),
           "max_transition_offset": largest("max_offset"),
           "states_on_one_side_only": sum(len(r["one_sided_states"]) for r in done),
           "max_throttle_diff": largest("throttle"), "max_tilt_diff": largest("tilt"),
           "with_clamp_tie": sum(r["tie"] is not None for r in done),
           "max_tie_gap": largest("tie_gap"),
           "cycles_with_different_state_to_tie": sum(r["state_cycles_to_tie"] for r in done),
           "max_throttle_diff_to_tie": largest("throttle_to_tie"), "max_tilt_diff_to_tie": largest("tilt_to_tie"),
           f"with_throttle_diff_over_{DIVERGED:g}": sum(r["diverged"] is not None for r in done)}
    if part == "flight":
        out.update(max_td_frame_diff=max((abs(r["td_frame_diff"]) for r in done if r["td_frame_diff"] is not None),
                                         default=0),
                   td_declared_on_one_side_only=sum(r["td_frame_diff"] is None for r in done),
                   max_vz_diff_mps=largest("vz"), max_vh_diff_mps=largest("vh"))
    return out


def summarise(rows: list[dict]) -> dict:
    """The figures over all landings, for the shipped scenarios and the random configurations apart."""
    out = {"landings": len(rows), "beyond_tolerance": sum(not r["within"] for r in rows),
           "errors": sum(r["error"] is not None for r in rows),
           "cycles_compared": sum(r["cycles"] for r in rows)}
    for kind in ("scenario", "random"):
        mine = [r for r in rows if r.get("kind", "scenario") == kind]
        if not mine:
            continue
        out[kind] = {"landings": len(mine), "beyond_tolerance": sum(not r["within"] for r in mine),
                     "flights_judged": sum(r.get("flight_judged", True) for r in mine),
                     "verdicts_differ": sum(r["verdict_a"] != r["verdict_b"] for r in mine),
                     "reference_passed": sum(r["verdict_a"] == "PASS" for r in mine),
                     "reference_declared_touchdown": sum(r.get("flight", {}).get("td_frame_a") is not None
                                                         for r in mine),
                     "flight": _figures(mine, "flight"), "replay": _figures(mine, "replay")}
    return out


HEADER = (f"{'':<38} {'':<9} {'':<6} {'flight (same scenario, seed, config)':-^76}  "
          f"{'replay (same inputs)':-^40}\n"
          f"{'landing':<38} {'ref/sil':<9} {'cycles':>6} {'≠state':>6} {'offs':>4} {'|Δthrottle|':>11} "
          f"{'|Δtilt|':>9} {'tie':>5} {'Δtd':>4} {'|Δvz| m/s':>9} {'|Δvh| m/s':>9}  {'≠state':>6} {'offs':>4} "
          f"{'|Δthr|':>9} {'|Δtilt|':>9} {'tie':>5}  ok")


def _moved(part: dict) -> list[str]:
    return [f"{icd.ControllerState(t['state']).name} {t['cycle_a']}->{t['cycle_b']}" for t in part["moved"]]


def format_row(row: dict) -> str:
    verdicts = f"{row['verdict_a'][:4]}/{row['verdict_b'][:4]}"
    label = row.get("landing", "-")
    if "flight" not in row:
        return f"{label:<38} {verdicts:<9} {row['error'] or 'no record'}  NO"
    f, r = row["flight"], row.get("replay")
    td = "-" if f["td_frame_diff"] is None else f"{f['td_frame_diff']:+d}"
    tie = "-" if f["tie"] is None else f["tie"]
    line = (f"{label:<38} {verdicts:<9} {row['cycles']:>6} {f['state_cycles']:>6} {f['max_offset']:>4} "
            f"{f['throttle']:>11.2e} {f['tilt']:>9.2e} {tie:>5} {td:>4} {f['vz']:>9.2e} {f['vh']:>9.2e}"
            f"{' ' if row.get('flight_judged', True) else '*'} ")
    if r:
        tie = "-" if r["tie"] is None else r["tie"]
        line += f"{r['state_cycles']:>6} {r['max_offset']:>4} {r['throttle']:>9.2e} {r['tilt']:>9.2e} {tie:>5}  "
    else:
        line += f"{'-':>6} {'-':>4} {'-':>9} {'-':>9} {'-':>5}  "
    line += "ok" if row["within"] else "NO (" + ", ".join(k for k, v in row["checks"].items() if not v) + ")"
    indent = " " * 40
    if row["error"]:
        line += f"\n{indent}error: {row['error']}"
    for name, part in (("flight", f), ("replay", r)):
        if part and part["one_sided_states"]:
            line += f"\n{indent}{name}: entered on one side only: {', '.join(part['one_sided_states'])}"
        if part and part["moved"]:
            line += f"\n{indent}{name}: transitions moved: {'; '.join(_moved(part))}"
    if row.get("controller") and not row["within"]:
        line += f"\n{indent}config: {json.dumps(row['controller'])}"
    return line


def _part_line(name: str, p: dict, flight: bool) -> str:
    text = (f"  {name}: {p['with_state_differences']} of {p['landings']} with state differences "
            f"({p['cycles_with_different_state']} cycles; {p['transitions_moved']} transitions moved, largest "
            f"{p['max_transition_offset']} cycle(s); {p['states_on_one_side_only']} states on one side only); "
            f"where states agree |Δthrottle| <= {p['max_throttle_diff']:.2e}, |Δtilt| <= {p['max_tilt_diff']:.2e} "
            f"(over {DIVERGED:g} in {p[f'with_throttle_diff_over_{DIVERGED:g}']}); {p['with_clamp_tie']} with a "
            f"clamp tie, before it {p['cycles_with_different_state_to_tie']} cycles in another state, |Δthrottle| <= "
            f"{p['max_throttle_diff_to_tie']:.2e}, |Δtilt| <= {p['max_tilt_diff_to_tie']:.2e}")
    if flight:
        text += (f"; touchdown frame Δ <= {p['max_td_frame_diff']} ({p['td_declared_on_one_side_only']} declared "
                 f"on one side only); |Δ rover vz| <= {p['max_vz_diff_mps']:.2e} m/s, |Δ rover vh| <= "
                 f"{p['max_vh_diff_mps']:.2e} m/s")
    return text + "."


def summary_line(s: dict) -> str:
    lines = [f"{s['landings']} landings ({s['cycles_compared']} cycles), {s['beyond_tolerance']} beyond tolerance "
             f"({s['errors']} errors)."]
    for kind, title in (("scenario", "shipped scenarios, default configuration"),
                        ("random", "random configurations, dispersed")):
        if kind not in s:
            continue
        k = s[kind]
        lines.append(f"{title}: {k['landings']} landings, {k['beyond_tolerance']} beyond tolerance; flights judged "
                     f"{k['flights_judged']}; verdicts differ in {k['verdicts_differ']}; the reference declared "
                     f"touchdown in {k['reference_declared_touchdown']} and passed {k['reference_passed']}.")
        lines.append(_part_line("flights", k["flight"], True))
        if k["replay"]["landings"]:
            lines.append(_part_line("replay", k["replay"], False))
    return "\n".join(lines)


def _band(text: str) -> float:
    if text == "full":
        return math.inf
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError("band must be >= 0 or 'full'")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenarios", nargs="+", default=["all"],
                        help="shipped scenario names, 'all' (default) or 'none'")
    parser.add_argument("--seeds", type=int, default=1, help="plant seeds 1..N per scenario (default 1)")
    parser.add_argument("--configs", type=int, default=0, help="random valid configurations on dispersed landings")
    parser.add_argument("--seed", type=int, default=1, help="generator seed of the random landings (default 1)")
    parser.add_argument("--band", type=_band, default=0.5,
                        help="random config: default x (1 -+ BAND) within the ICD limits, or 'full' (default 0.5)")
    parser.add_argument("--rates", type=float, nargs="+", default=list(RATES_HZ),
                        help=f"control rates drawn for random configs (default {' '.join(f'{r:g}' for r in RATES_HZ)})")
    parser.add_argument("--config-scenarios", nargs="+", default=["all"],
                        help="scenarios the random configs fly, dispersed (default all)")
    parser.add_argument("--reference", choices=("mil", "loopback"), default="mil",
                        help="the reference side: in-process (mil, default) or over a pty (loopback)")
    parser.add_argument("--no-replay", action="store_true",
                        help="skip the replay of the reference's sensor frames into the SIL (judge the flights' commands)")
    parser.add_argument("--judge-random-flights", action="store_true",
                        help="judge the flights of random configurations too (default: reported, the replay judged)")
    parser.add_argument("--command-tol", type=float, default=Tolerances.command)
    parser.add_argument("--cycles-tol", type=int, default=Tolerances.cycles)
    parser.add_argument("--velocity-tol", type=float, default=Tolerances.velocity_mps)
    parser.add_argument("--out", type=Path, help="write every row and the summary as JSON")
    args = parser.parse_args(argv)

    known = shipped_scenarios()

    def names(given):
        if given == ["all"]:
            return known
        if given == ["none"]:
            return []
        unknown = [n for n in given if n not in known]
        if unknown:
            parser.error(f"unknown scenario(s) {', '.join(unknown)} (known: {', '.join(known)})")
        return given
    scenarios, config_scenarios = names(args.scenarios), names(args.config_scenarios) or known
    tolerances = Tolerances(args.command_tol, args.cycles_tol, args.velocity_tol)
    landings = scenario_landings(scenarios, args.seeds)
    landings += random_landings(np.random.default_rng(args.seed), args.configs, args.band, config_scenarios,
                                tuple(args.rates))
    print(f"{len(landings)} landings, {args.reference} against {SIL_RIG.relative_to(ROOT)} (lockstep); tolerances: "
          f"command {tolerances.command:g}, transitions and touchdown frame {tolerances.cycles} cycle(s), "
          f"touchdown velocity {tolerances.velocity_mps:g} m/s")
    print(HEADER)
    print("(* after the flight figures: a random configuration's flights, reported, not judged; tie: the cycle of "
          "the first clamp tie)")
    started = time.perf_counter()
    rows = compare_landings(landings, args.reference, tolerances, not args.no_replay, args.judge_random_flights,
                            on_row=lambda r: print(format_row(r), flush=True))
    wall = time.perf_counter() - started
    summary = summarise(rows)
    print(summary_line(summary))
    print(f"wall {wall:.0f} s, SIL started {rows[-1]['sil_starts'] if rows else 0} time(s)")
    if args.out:
        args.out.write_text(json.dumps({"arguments": sys.argv[1:] if argv is None else argv, "tolerances": asdict(tolerances),
                                        "band": None if math.isinf(args.band) else args.band,
                                        "replay": not args.no_replay, "summary": summary, "wall_s": round(wall, 1),
                                        "landings": rows},
                                       indent=1, default=str) + "\n")
    return 1 if summary["beyond_tolerance"] else 0


if __name__ == "__main__":
    sys.exit(main())
