"""Fly one landing: start the device, handshake, run the executive, judge, write the run folder."""

from __future__ import annotations

import platform
import time
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from hil import __version__, icd
from hil.devices import device_for
from hil.errors import ConfigError, HilError, LinkLost
from hil.executive import LockstepExecutive, RealtimeExecutive
from hil.handshake import configure, identify, wait_for_boot
from hil.link.rtu_client import RtuClient
from hil.pacing import OverrunPolicy, Pacer, Scheduling
from hil.plots import plot_landing, plot_timing
from hil.rig import Rig, check_controller_table
from hil.telemetry import TelemetryWriter, read_telemetry, write_summary
from hil.timing import TimingRecorder, attribution, clock_fit, stats
from hil.verdict import LandingJudge, judge, load_criteria
from plant.model import Plant
from plant.params import ParamError
from plant.scenario import Scenario
from plant.sensors import SensorFrame
from plant.truth import Truth


@dataclass
class RunResult:
    """What a run produced; `error` is set when it stopped before the landing was complete."""

    out_dir: Path
    passed: bool = False
    metrics: dict = field(default_factory=dict)
    checks: list = field(default_factory=list)
    summary: dict = field(default_factory=dict)
    error: str | None = None
    interrupted: bool = False
    link_lost: dict | None = None   # plant time, flight phase and frame when the controller was lost


def default_out_dir(scenario: Scenario, seed: int) -> Path:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{stamp}-{scenario.name}-seed{seed}"


def controller_config(rig: Rig, scenario: Scenario) -> dict:
    """ICD defaults, then the scenario's [controller] table, then the rig's, then rig timing."""
    values = icd.config_defaults()
    values.update(check_controller_table(scenario.controller, f"scenario {scenario.name}: controller"))
    values.update(rig.controller)
    values["timing_mode"] = int(icd.TimingMode.REALTIME if rig.timing == "realtime" else icd.TimingMode.LOCKSTEP)
    values["control_rate_hz"] = rig.control_rate_hz
    return values


class Progress:
    """Receives one call per cycle; the CLI's live line implements it."""

    def cycle(self, truth, command: tuple, overruns: int | None = None) -> None: ...
    def warn(self, message: str) -> None: ...
    def done(self) -> None: ...


def plant_params(rig: Rig, scenario: Scenario):
    """The scenario's plant parameters, at the rig's physics rate if it sets one."""
    if not rig.physics_rate_hz:
        return scenario.params
    try:
        return replace(scenario.params, substep_hz=rig.physics_rate_hz)
    except ParamError as exc:
        raise ConfigError(f"rig {rig.name}: physics_rate_hz {rig.physics_rate_hz:g} does not suit scenario "
                          f"{scenario.name}: {exc}") from None


def fly(rig: Rig, scenario: Scenario, *, seed: int | None = None, out_dir: Path | None = None,
        criteria_path: str | None = None, progress: Progress | None = None) -> RunResult:
    """Fly one landing and write telemetry.csv, summary.json and landing.png to out_dir.

    Configuration errors raise before anything starts. Once flying, a link error or Ctrl-C
    ends the run but everything recorded so far is still written; the error is in the result.
    """
    criteria = load_criteria(criteria_path)
    config = controller_config(rig, scenario)
    seed = scenario.seed if seed is None else seed
    out_dir = out_dir or default_out_dir(scenario, seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    params = plant_params(rig, scenario)
    result = RunResult(out_dir)
    plant = Plant(params, scenario.initial, np.random.default_rng(seed))
    landing = LandingJudge(params.rover.deck_height_m, params.bridle.length_m)
    telemetry = TelemetryWriter(out_dir, Truth, SensorFrame)
    progress = progress or Progress()
    realtime = rig.timing == "realtime"
    timing = TimingRecorder(out_dir) if realtime else None
    pacer = Pacer(OverrunPolicy(rig.overrun_ms, rig.on_overrun, rig.abort_after_overruns, rig.abort_lateness_ms,
                                rig.grace_s), warn=progress.warn) if realtime else None

    def observe(frame, truth, sensors, command):
        telemetry.record(frame, truth, sensors, command)
        landing.observe(truth, command.throttle, command.td_time_us != icd.TD_NOT_DECLARED)
        progress.cycle(truth, command, pacer.overruns if pacer else None)

    device = device_for(rig)
    crash: Exception | None = None
    executive = None
    identity: dict = {}
    stop_reason = "not started"
    scheduling = "not real-time"
    wall_start = time.perf_counter()
    try:
        url = device.start()
        with RtuClient(url, baudrate=rig.baudrate, timeout_s=rig.timeout_s, unit=rig.unit) as link:
            wait_for_boot(rig.boot_wait_s)
            identity = identify(link)
            configure(link, config)
            if realtime:
                executive = RealtimeExecutive(plant, link, rig.control_rate_hz, [observe], pacer, timing)
                with Scheduling(rig.rt_priority, rig.pin_cpu, warn=progress.warn) as sched:
                    scheduling = sched.description
                    stop_reason = executive.run(scenario.max_time_s)
            else:
                executive = LockstepExecutive(plant, link, rig.control_rate_hz, [observe])
                stop_reason = executive.run(scenario.max_time_s)
    except KeyboardInterrupt:
        result.interrupted = True
        result.error = stop_reason = "interrupted (Ctrl-C)"
    except Exception as exc:  # noqa: BLE001 - recorded; a bug is re-raised once outputs are written
        result.error = stop_reason = str(exc) or type(exc).__name__
        crash = None if isinstance(exc, HilError) else exc
        if isinstance(exc, LinkLost):
            result.link_lost = {"t": exc.t, "phase": exc.phase, "frame": exc.frame}
    finally:
        device.stop()
        telemetry.close()
        if timing:
            timing.close()
        progress.done()
    died = device.failure()
    if died and crash is None:
        # The controller's own death explains a lost link better than the link error does.
        result.error = stop_reason = died if result.error is None else f"{died} ({result.error})"
    wall_s = time.perf_counter() - wall_start

    result.metrics = landing.metrics(plant)
    timing_summary = _timing(rig, plant, executive, pacer, timing, scheduling) if realtime else None
    if timing_summary:
        result.metrics.update(timing_metrics(timing_summary))
    passed, checks = judge(result.metrics, criteria)
    result.passed = passed and result.error is None
    result.checks = checks
    result.summary = _summary(rig, scenario, seed, config, identity, plant, executive, stop_reason,
                              wall_s, result, timing_summary)
    write_summary(out_dir, result.summary)
    if telemetry.rows:
        plot_landing(read_telemetry(telemetry.path), result.metrics, out_dir,
                     f"{scenario.name} (seed {seed}) on {rig.name}: {result.summary['verdict']}")
    if timing and timing.rows:
        plot_timing(timing.rows, pacer.lateness_us, out_dir,
                    f"timing: {scenario.name} on {rig.name}, {rig.control_rate_hz:g} Hz control, "
                    f"{plant.params.substep_hz:g} Hz physics")
    if crash is not None:
        raise crash
    return result


def _timing(rig, plant, executive, pacer, timing, scheduling) -> dict:
    """The real-time figures of a run (docs/realtime.md lists each)."""
    rows = timing.rows
    ages = [r.age_ms for r in rows if r.frame_used]
    return {
        "mode": "realtime",
        "control_rate_hz": rig.control_rate_hz,
        "physics_rate_hz": plant.params.substep_hz,
        "scheduling": scheduling,
        "overrun_ms": rig.overrun_ms,
        "grace_s": rig.grace_s,
        "physics_steps_judged": len(pacer.lateness_us),
        "lateness_us": stats(pacer.lateness_us),
        "overruns": pacer.overruns,
        "largest_overrun_us": pacer.largest_overrun_us,
        "first_overrun_t": pacer.first_overrun_t,
        "overrun_events": pacer.overrun_events,
        "frames_sent": executive.frames_sent if executive else 0,
        "commands_applied": len(rows),
        "repeated_commands": sum(1 for r in rows if not r.fresh),
        "late_replies": timing.late_replies,
        "command_age_ms": stats(ages),
        "link_round_trip_us": stats(r.round_trip_us for r in rows),
        "device_step_time_us": stats(r.step_time_us for r in rows if r.fresh),
        "device_timer_wait_us": stats(r.device_wait_us for r in rows if r.fresh and r.frame_used),
        "device_hold_us": stats(r.device_hold_us for r in rows if r.fresh and r.frame_used),
        "device_clock": clock_fit(rows),
        "age_attribution": attribution(rows, timing.t0_ns),
    }


def timing_metrics(t: dict) -> dict:
    """The timing figures the criteria can judge (real-time runs only)."""
    def p99(key, scale=1.0):
        return t[key]["p99"] * scale if t[key] else float("nan")
    return {"overruns": t["overruns"], "lateness_p99_ms": p99("lateness_us", 1e-3),
            "command_age_p99_ms": p99("command_age_ms"), "device_step_p99_ms": p99("device_step_time_us", 1e-3),
            "link_round_trip_p99_ms": p99("link_round_trip_us", 1e-3)}


def _summary(rig, scenario, seed, config, identity, plant, executive, stop_reason, wall_s, result,
             timing=None) -> dict:
    import pymodbus
    round_trips = executive.round_trips_us if executive else []
    verdict = "ERROR" if result.error else ("PASS" if result.passed else "FAIL")
    return {
        "verdict": verdict,
        "error": result.error,
        "stop_reason": stop_reason,
        "scenario": scenario.name,
        "seed": seed,
        "rig": asdict(rig),
        "device": identity,
        "icd": {"version": icd.ICD_VERSION, "layout_hash": f"0x{icd.LAYOUT_HASH:08X}"},
        "versions": {"skycrane_hil": __version__, "python": platform.python_version(),
                     "pymodbus": pymodbus.__version__, "numpy": np.__version__},
        "controller_config": config,
        "metrics": result.metrics,
        "criteria": result.checks,
        "events": _events(plant, result.metrics),
        "sim_time_s": plant.t,
        "wall_time_s": wall_s,
        "cycles": executive.cycles if executive else 0,
        "link_round_trip_us": _stats(round_trips),
        "device_step_time_us": _stats(executive.device_step_us if executive else []),
        "link_lost": result.link_lost,
        "timing": timing or {"mode": rig.timing},
    }


def _events(plant, metrics: dict) -> list[dict]:
    """The plant's events plus the one only the host sees: the controller declaring touchdown."""
    events = [{"name": e.name, "t": e.t, **e.data} for e in plant.events]
    declared = metrics.get("td_declared_time_s")
    if declared is not None and declared == declared:  # not NaN
        events.append({"name": "touchdown_declared", "t": declared})
    return sorted(events, key=lambda e: e["t"])


def _stats(samples: list[float]) -> dict:
    """timing.stats without the count (the lockstep summary's established keys)."""
    figures = stats(samples)
    figures.pop("n", None)
    return figures
