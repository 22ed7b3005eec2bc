"""One landing on a started device: configure it, fly the plant against it, judge, write outputs.

The session (hil/session.py) owns the device and the link; this module owns everything that
belongs to one run: the plant, the executive, the observers the output policy asks for
(in-memory record, telemetry.csv, live view), the judge, and the run folder's files.
"""

from __future__ import annotations

import platform
import time
from dataclasses import asdict, replace

import numpy as np

from hil import __version__, icd, run_folder, signals
from hil.errors import ConfigError, HilError, LinkLost
from hil.executive import LockstepExecutive, RealtimeExecutive
from hil.fault_injection import FaultyPlant, RigFaults, rig_fault_kinds
from hil.handshake import configure
from hil.link_policy import DeviceWatchdog, LinkGaveUp, LinkPolicy
from hil.pacing import OverrunAbort, OverrunPolicy, Pacer, Scheduling
from hil.record import CycleRecorder
from hil.rig import Rig
from hil.run import ERROR, FAIL, INCONCLUSIVE, PASS, Run, RunResult
from hil.telemetry import TelemetryWriter, write_summary
from hil.timing import TimingRecorder, attribution, clock_fit, stats
from hil.verdict import LandingJudge, invalid_reason, judge
from plant.model import Plant
from plant.params import ParamError

DEATH_SETTLE_S = 0.5   # after a lost link: how long a device that died may take to be reported dead
FAULT_STREAM = 0xFA17  # the fault schedule's generator: seeded by (run seed, this)


class Progress:
    """Receives one call per cycle; the CLI's live line implements it."""

    def cycle(self, truth, command: tuple, overruns: int | None = None) -> None: ...
    def warn(self, message: str) -> None: ...
    def done(self) -> None: ...


def plant_params(rig: Rig, scenario):
    """The scenario's plant parameters, at the rig's physics rate if it sets one."""
    if not rig.physics_rate_hz:
        return scenario.params
    try:
        return replace(scenario.params, substep_hz=rig.physics_rate_hz)
    except ParamError as exc:
        raise ConfigError(f"rig {rig.name}: physics_rate_hz {rig.physics_rate_hz:g} does not suit scenario "
                          f"{scenario.name}: {exc}") from None


def fly_landing(link, rig: Rig, identity: dict, run: Run, *, progress: Progress | None = None,
                device=None) -> tuple[RunResult, BaseException | None]:
    """Fly `run` over an open, identified link. Returns the result and, separately, a programming
    error to re-raise once the outputs are written (a link error or Ctrl-C is in the result)."""
    scenario, outputs, seed = run.scenario, run.outputs, run.flown_seed
    config = run.config(rig)
    params = plant_params(rig, scenario)
    out_dir = run.folder()
    if out_dir is not None:
        run_folder.prepare(out_dir, replace=outputs.replace)
    result = RunResult(run, rig, out_dir, identity=identity)
    plant = Plant(params, scenario.initial, np.random.default_rng(seed))
    landing = LandingJudge(params.rover.deck_height_m, params.bridle.length_m)
    progress = progress or Progress()
    realtime = rig.timing == "realtime"
    recorder = CycleRecorder() if (outputs.record or outputs.plots or outputs.report) else None
    telemetry = TelemetryWriter(out_dir) if outputs.telemetry else None
    timing = TimingRecorder(out_dir if outputs.telemetry else None) if realtime else None
    pacer = Pacer(OverrunPolicy(rig.overrun_ms, rig.on_overrun, rig.abort_after_overruns, rig.abort_lateness_ms,
                                rig.grace_s), warn=progress.warn) if realtime else None

    def judge_and_show(frame, truth, sensors, command, retries, misses):
        landing.observe(truth, command.throttle, command.td_time_us != icd.TD_NOT_DECLARED)
        progress.cycle(truth, command, pacer.overruns if pacer else None)

    observers = [judge_and_show] + [o.observe for o in (recorder, telemetry) if o is not None]
    faults = scenario.faults + run.faults
    flown = plant
    if faults:
        # Its own generator, so a schedule's random draws leave the plant's noise as it was.
        on_rig = rig_fault_kinds(faults)
        rig_faults = RigFaults(device, on_rig, rig.boot_wait_s, seed) if on_rig else None
        flown = FaultyPlant(plant, faults, np.random.default_rng([seed, FAULT_STREAM]), rig_faults)
        observers.append(flown.observe)
    crash: BaseException | None = None
    executive = None
    stop_reason = "not started"
    scheduling = "not real-time"
    wall_start = time.perf_counter()
    try:
        configure(link, config)
        policy = LinkPolicy(rig.link_retries, rig.link_max_misses)
        if realtime:
            executive = RealtimeExecutive(flown, link, rig.control_rate_hz, observers, pacer, timing, policy,
                                          rig.phase_margin_ms if rig.phase_align else None,
                                          reply_timeout(rig, config))
            with Scheduling(rig.rt_priority, rig.pin_cpu, warn=progress.warn) as sched:
                scheduling = sched.description
                stop_reason = executive.run(scenario.max_time_s)
        else:
            executive = LockstepExecutive(flown, link, rig.control_rate_hz, observers, policy)
            stop_reason = executive.run(scenario.max_time_s)
    except KeyboardInterrupt as exc:
        result.interrupted = signals.signal_number(exc)
        result.error = stop_reason = f"interrupted ({signals.describe(exc)})"
    except Exception as exc:  # noqa: BLE001 - recorded; a bug is re-raised once outputs are written
        result.error = stop_reason = str(exc) or type(exc).__name__
        crash = None if isinstance(exc, HilError) else exc
        if isinstance(exc, LinkLost):
            result.link_lost = {"t": exc.t, "phase": exc.phase, "frame": exc.frame}
        if isinstance(exc, (LinkGaveUp, DeviceWatchdog, OverrunAbort)):
            result.invalid = result.error      # the wire or the machine, not the controller
    finally:
        if flown is not plant:
            flown.finish()
        for writer in (telemetry, timing):
            if writer is not None:
                writer.close()
        progress.done()
    died = _device_death(device, lost_link=result.link_lost is not None)
    if died and crash is None:
        # The controller's own death explains a lost link better than the link error does.
        result.error = stop_reason = died if result.error is None else f"{died} ({result.error})"
        result.invalid = None
    wall_s = time.perf_counter() - wall_start

    result.metrics = landing.metrics(plant)
    result.plant_params, result.plant_initial = plant.params, plant.initial
    if flown is not plant and flown.rig_faults is not None and executive is not None:
        result.metrics["fault_lost_cycles"] = executive.outage_cycles
        if realtime and flown.link_faults_started:
            result.metrics.update(safe_state_metrics(flown, executive))
    link_summary = executive.link_tally.summary() if executive else {}
    result.metrics["link_misses" if realtime else "link_retries"] = link_summary.get("failures", 0)
    timing_summary = _timing(rig, plant, executive, pacer, timing, scheduling) if realtime else None
    if timing_summary:
        result.metrics.update(timing_metrics(timing_summary))
    passed, result.checks = judge(result.metrics, list(run.criteria))
    if result.error is None:
        result.invalid = invalid_reason(result.checks, result.metrics)
    result.verdict = _verdict(result, passed)
    record = recorder.record() if recorder else None
    result.record = record if outputs.record else None
    proxy = device.counters() if hasattr(device, "counters") else None   # what a link proxy did (session total)
    result.faults = flown.summary() if flown is not plant else []
    result.summary = _summary(run, rig, config, identity, plant, executive, stop_reason, wall_s, result,
                              timing_summary, link_summary, proxy)
    if out_dir is not None:
        _write_files(result, record, timing, pacer, plant, outputs)
    return result, crash


def safe_state_metrics(flown, executive) -> dict:
    """How long after the first link fault's onset the device entered LINK_LOST, and whether
    it left it again (NaN / False when it never entered it)."""
    onset = min(fs.started_t for fs in flown.schedule.states if fs.fault.channel == "link" and fs.started_t is not None)
    entered = executive.link_lost_t
    return {"link_lost_after_s": float("nan") if entered is None else max(0.0, entered - onset),
            "link_lost_left": executive.left_link_lost}


def _device_death(device, *, lost_link: bool) -> str | None:
    """Why the device ended on its own, if it did. A killed process closes its line a moment
    before the kernel reports its exit, so after a lost link its death is waited for briefly."""
    if device is None:
        return None
    died = device.failure()
    deadline = time.monotonic() + DEATH_SETTLE_S
    while died is None and lost_link and time.monotonic() < deadline:
        time.sleep(0.02)
        died = device.failure()
    return died


def reply_timeout(rig: Rig, config: dict) -> float:
    """Real time: how long a reply may take before it counts as a miss. Half the device's
    watchdog (so one lost reply cannot starve it of frames), at least two control periods, at
    most the rig's timeout_s. A slow device's late reply is waited for, not abandoned."""
    watchdog = config.get("watchdog_s", 0.0)
    wait = max(watchdog / 2.0, 2.0 / rig.control_rate_hz) if watchdog > 0 else rig.timeout_s
    return min(rig.timeout_s, wait)


def _verdict(result: RunResult, controller_passed: bool) -> str:
    if result.invalid:
        return INCONCLUSIVE
    if result.error:
        return ERROR
    return PASS if controller_passed else FAIL


def _write_files(result: RunResult, record, timing, pacer, plant, outputs) -> None:
    from hil.plots import plot_landing, plot_timing
    rig, scenario, out_dir = result.rig, result.run.scenario, result.out_dir
    if outputs.summary:
        write_summary(out_dir, result.summary)
    if outputs.plots and record is not None and len(record):
        plot_landing(record.columns(), result.metrics, out_dir,
                     f"{scenario.name} (seed {result.seed}) on {rig.name}: {result.verdict}", result.faults)
    if outputs.plots and timing and timing.rows:
        plot_timing(timing.rows, pacer.lateness_us, out_dir,
                    f"timing: {scenario.name} on {rig.name}, {rig.control_rate_hz:g} Hz control, "
                    f"{plant.params.substep_hz:g} Hz physics")
    if outputs.report:
        from hil.report import write_run_report
        write_run_report(result, record, out_dir)


def _timing(rig, plant, executive, pacer, timing, scheduling) -> dict:
    """The real-time figures of a run (docs/realtime.md lists each)."""
    rows = timing.rows
    ages = [r.age_ms for r in rows if r.frame_used]
    return {
        "mode": "realtime",
        "control_rate_hz": rig.control_rate_hz,
        "physics_rate_hz": plant.params.substep_hz,
        "phase_alignment": (f"frames sent {executive.aligner.margin_us / 1e3:.2f} ms before the device's step"
                            if executive and executive.aligner and executive.aligner.active else "off"),
        "scheduling": scheduling,
        "overrun_ms": rig.overrun_ms,
        "grace_s": rig.grace_s,
        "physics_steps_judged": len(pacer.lateness_us),
        "lateness_us": stats(pacer.lateness_us),
        "overruns": pacer.overruns,
        "overruns_machine": pacer.overruns_wakeup,
        "overruns_testbed": pacer.overruns_own,
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
        # the device's own share of a command's age: its timer's wait for the step (at most a period:
        # a longer wait means no newer frame came, the host's or the link's doing), and the step
        "device_part_ms": stats((min(r.device_wait_us, 1e6 / rig.control_rate_hz) + r.step_time_us) * 1e-3
                                for r in rows if r.fresh and r.frame_used),
        "device_clock": clock_fit(rows),
        "age_attribution": attribution(rows, timing.t0_ns),
    }


def timing_metrics(t: dict) -> dict:
    """The timing figures the criteria can judge (real-time runs only)."""
    def p99(key, scale=1.0):
        return t[key]["p99"] * scale if t[key] else float("nan")
    return {"overruns": t["overruns"], "overruns_machine": t["overruns_machine"],
            "overruns_testbed": t["overruns_testbed"], "lateness_p99_ms": p99("lateness_us", 1e-3),
            "command_age_p99_ms": p99("command_age_ms"),
            "command_age_p99_periods": p99("command_age_ms") * t["control_rate_hz"] * 1e-3,
            "device_step_p99_ms": p99("device_step_time_us", 1e-3),
            "command_age_device_p99_ms": p99("device_part_ms"),
            "link_round_trip_p99_ms": p99("link_round_trip_us", 1e-3)}


def _summary(run, rig, config, identity, plant, executive, stop_reason, wall_s, result, timing=None,
             link=None, proxy=None) -> dict:
    import pymodbus
    round_trips = executive.round_trips_us if executive else []
    return {
        "verdict": result.verdict,
        "error": result.error,
        "invalid": result.invalid,
        "stop_reason": stop_reason,
        "scenario": run.scenario.name,
        "seed": run.flown_seed,
        "rig": asdict(rig),
        "device": identity,
        "icd": {"version": icd.ICD_VERSION, "layout_hash": f"0x{icd.LAYOUT_HASH:08X}"},
        "versions": {"skycrane_hil": __version__, "python": platform.python_version(),
                     "pymodbus": pymodbus.__version__, "numpy": np.__version__},
        "controller_config": config,
        "controller_overrides": dict(run.controller),
        "metrics": result.metrics,
        "criteria": result.checks,
        "events": _events(plant, result.metrics),
        "sim_time_s": plant.t,
        "wall_time_s": wall_s,
        "cycles": executive.cycles if executive else 0,
        "link_round_trip_us": _stats(round_trips),
        "device_step_time_us": _stats(executive.device_step_us if executive else []),
        "link_lost": result.link_lost,
        "link": {"policy": {"retries": rig.link_retries, "max_misses": rig.link_max_misses}, **(link or {}),
                 "faults": list(rig.link_faults), "proxy": proxy or None},
        "timing": timing or {"mode": rig.timing},
        "faults": result.faults,
        "run_folder": None if result.out_dir is None else str(result.out_dir),
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
