"""The `hil` command: land, compare, replay, test, coverage, scenarios, ports, icd, bench. Exit 0 pass, 1 landing failed,
2 usage/config/link (`hil test`: pytest's exit codes)."""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import replace
from pathlib import Path

from hil import __version__, coverage, icd, metrics, run_folder, signals
from hil.errors import ConfigError, HilError
from hil.replay import TOLERANCES
from hil.rig import check_link_faults
from hil.run import ERROR, INCONCLUSIVE, PASS, load_faults_file
from plant.faults import FaultError, parse_faults
from plant.scenario import ScenarioError

EXIT_PASS, EXIT_FAIL, EXIT_ERROR, EXIT_INCONCLUSIVE = 0, 1, 2, 3   # a signal: 128 + its number

class LiveLine:
    """One status line redrawn a few times a second on a terminal (altitude, vertical velocity,
    throttle, controller state and, in real time, overruns); state changes as log lines."""

    def __init__(self, stream=sys.stderr, interval_s: float = 0.2) -> None:
        self.stream = stream
        self.live = stream.isatty()
        self.interval = interval_s
        self.next_draw = 0.0
        self.state = None

    def cycle(self, truth, command: tuple, overruns: int | None = None) -> None:
        state = command.state
        name = icd.ControllerState(state).name if state in icd.ControllerState._value2member_map_ else str(state)
        if state != self.state:
            self.state = state
            self._clear()
            print(f"  t={truth.t:7.2f} s  {name:<18} altitude {truth.ds_z:8.1f} m  "
                  f"vz {truth.ds_vz:7.2f} m/s", flush=True)
        now = time.monotonic()
        if self.live and now >= self.next_draw:
            self.next_draw = now + self.interval
            late = "" if overruns is None else f"  overruns {overruns}"
            self.stream.write(f"\r  t={truth.t:7.2f} s  {name:<17} alt {truth.ds_z:8.1f} m  vz {truth.ds_vz:7.2f} m/s  "
                              f"throttle {command.throttle:4.2f}{late} ")
            self.stream.flush()

    def warn(self, message: str) -> None:
        self._clear()
        print(f"  warning: {message}", file=self.stream, flush=True)

    def _clear(self) -> None:
        if self.live:
            self.stream.write("\r" + " " * 100 + "\r")

    def done(self) -> None:
        self._clear()


def fault_spec(text: str) -> dict:
    """`kind key=value ...` as a [[faults]] table; values read as TOML (a bare word is a string)."""
    import tomllib
    words = text.split()
    if not words:
        raise ConfigError("--fault: empty; give a kind and key=value fields, e.g. 'radar.invalid at_s=10'")
    table = {"kind": words[0]}
    for word in words[1:]:
        key, sep, value = word.partition("=")
        if not sep or not key:
            raise ConfigError(f"--fault {text!r}: {word!r} is not key=value")
        try:
            table[key] = tomllib.loads(f"v = {value}")["v"]
        except tomllib.TOMLDecodeError:
            table[key] = value
    return table


def cmd_land(args) -> int:
    from hil.devices import device_for
    from hil.fault_injection import check_rig_can_apply
    from hil.run import Run
    from hil.session import Session

    if args.campaign is not None or args.case is not None:
        run = campaign_case_run(args)
    else:
        run = Run.create(args.scenario, rig=args.rig or "loopback", seed=args.seed, criteria=args.criteria,
                         timing=args.timing, out=args.out, replace_folder=args.replace)
    faults = load_faults_file(args.faults, run.scenario.max_time_s) if args.faults else ()
    try:
        faults += parse_faults([fault_spec(text) for text in args.fault], "--fault", max_time_s=run.scenario.max_time_s)
    except FaultError as exc:
        raise ConfigError(str(exc)) from None
    run = replace(run, faults=faults)
    if args.link_fault:
        faulty = replace(run.rig, link_faults=run.rig.link_faults + tuple(args.link_fault),
                         link_fault_seed=args.link_fault_seed)
        check_link_faults(faulty, "--link-fault")
        run = replace(run, rig=faulty)
    rig = run.rig_for(run.rig)
    check_rig_can_apply(run.scenario.faults + run.faults, rig, device_for(rig))   # before anything is made
    # The folder is checked (and made) before the device starts: a bad --out costs nothing.
    folder = run_folder.prepare(run.folder(), replace=args.replace, what="--out")
    run = replace(run, outputs=replace(run.outputs, folder=folder))
    print(f"skycrane-hil {__version__}: scenario {run.scenario.name}, seed {run.flown_seed}, rig {rig.name} "
          f"({rig.kind}), {rig.timing}")
    recorder = coverage.recorder_for(rig, folder)
    if recorder is not None:
        recorder.begin()                 # from zero: this landing's counts only
    try:
        with Session(run.rig, coverage=recorder) as session:
            result = session.fly(run, progress=None if args.quiet else LiveLine())
    except BaseException:
        if recorder is not None:
            recorder.cancel()
        raise
    summary = result.summary
    print()
    print_criteria_table(result)
    sim, wall = summary["sim_time_s"], summary["wall_time_s"]
    print(f"\n  {sim:.1f} s flown in {wall:.2f} s wall ({sim / wall:.1f}x real time), "
          f"{summary['cycles']} cycles; run folder {result.out_dir}")
    if summary["timing"]["mode"] == "realtime":
        _print_timing(summary["timing"])
    print_faults(result.faults)
    if recorder is not None:
        print_coverage(coverage.write(recorder, folder), folder)
    return report_verdict(result)


def print_coverage(summary: dict, folder: Path) -> None:
    """The coverage summary of a `hil land` on a coverage rig: per file and function, per concept."""
    print()
    print(coverage.text_summary(summary))
    print()
    print(coverage.concept_table(summary))
    if summary.get("note"):
        print(f"  note: {summary['note']}")
    print(f"  coverage: {folder / coverage.JSON_FILE}, {folder / coverage.HTML_FILE}")


def campaign_case_run(args):
    """hil land --campaign DIR --case N: one case of a campaign, alone, with every output (its
    run folder DIR/cases/case-N unless --out), on the campaign's rig unless --rig."""
    from hil.campaign import replay_run
    from hil.rig import resolve_rig
    if args.campaign is None or args.case is None:
        raise ConfigError("--campaign DIR and --case N go together (they fly one case of a campaign)")
    if args.seed is not None or args.criteria or args.scenario != "nominal":
        raise ConfigError("--campaign --case flies the case as planned: no --scenario, --seed or --criteria")
    run, rig_ref = replay_run(args.campaign, args.case, args.out)
    run = replace(run, rig=resolve_rig(args.rig or rig_ref), timing=args.timing)
    if args.out is None:
        args.replace = True          # the case's own folder: flying it again replaces it
    return run


def cmd_campaign(args) -> int:
    from hil.campaign import fly_campaign, resume_campaign, stats
    from hil.campaign.plan import controller_overrides

    def announce(plan, engine, folder):
        if plan.sprt:
            print(f"  sequential test: {stats.Sprt(plan.target, plan.confidence).describe()}")
        print(f"campaign {plan.name}: {plan.size} cases ({plan.runs} draws x {plan.points} sweep point"
              f"{'s' if plan.points != 1 else ''}) on {args.rig if not args.resume else 'its rig'}, {engine.describe()}")
        print(f"  target P(pass) >= {plan.target:g} at {plan.confidence:.0%} confidence: "
              f"{stats.runs_needed(plan.target, plan.confidence)} runs with no failure are needed")
        print(f"  campaign folder {folder}", flush=True)

    if args.resume:
        result = resume_campaign(args.resume, workers=args.workers, scheduler=args.scheduler, engine=args.engine,
                                 chunk=args.chunk, quiet=args.quiet, on_plan=announce)
    else:
        result = fly_campaign(args.scenario, runs=args.runs, rig=args.rig, workers=args.workers,
                              scheduler=args.scheduler, resource=args.resource, seed=args.seed, out=args.out,
                              target=args.target, confidence=args.confidence, sweeps=args.sweep,
                              dispersions=args.dispersions, controller=controller_overrides(args.controller),
                              criteria=args.criteria, sprt=args.sprt, retries=args.retries,
                              keep_runs=args.keep_runs, dry_run=args.dry_run, quiet=args.quiet,
                              engine=args.engine or "case", chunk=args.chunk, on_plan=announce)
    if args.dry_run:
        print(f"dry run: {result.summary['cases']} cases planned in {result.folder}/campaign.db and cases.csv; "
              f"fly them with: hil campaign --resume {result.folder}")
        return EXIT_PASS
    s = result.summary
    print(f"\n  {s['flown']} of {s['cases']} cases flown: {s['passes']} passed, {s['failures']} failed, "
          f"{s['invalid']} not valid tests; {s['wall_s']:.1f} s wall")
    print(f"  P(pass) >= {s['lower_bound']:.4f} at {s['confidence']:.0%} confidence (target {s['target']:g})")
    for row in s["worst"][:3]:
        vz = row["metrics"].get("rover_vz_at_contact_mps")
        vz_text = f"rover vz at contact {vz:.3f} m/s" if isinstance(vz, float) else "no contact"
        print(f"  worst: case {row['case']} {row['verdict']} {vz_text}: {row['replay']}")
    print(f"  outputs: {result.folder}/campaign.json, cases.csv, report.html")
    code = {PASS: EXIT_PASS, "FAIL": EXIT_FAIL, INCONCLUSIVE: EXIT_INCONCLUSIVE}.get(s["verdict"], EXIT_ERROR)
    print(f"CAMPAIGN {s['verdict']}: {s['why']}")
    return code


def print_faults(faults: list[dict]) -> None:
    """One line per fault of the schedule: when it started and ended, in which phase, or never."""
    from hil.fault_injection import describe_rig_action
    for f in faults:
        if not f["applied"]:
            print(f"  fault {f['name']}: never applied ({f['what']})")
            continue
        ended = (f"ended t={f['ended_t']:.2f} s in {f['ended_phase']}" if f["ended_t"] is not None
                 else "until the end")
        print(f"  fault {f['name']}: started t={f['started_t']:.2f} s in {f['started_phase']}, {ended}"
              f"{describe_rig_action(f.get('rig'))}")


def report_verdict(result) -> int:
    """The verdict line, the reason on stderr when it is not a verdict on the controller, and the exit code."""
    verdict = result.verdict
    if result.interrupted:
        print(f"hil: {result.error}", file=sys.stderr)
        print(f"  {verdict}: the run stopped early; what it recorded is in {result.out_dir}")
        return 128 + result.interrupted
    if verdict == INCONCLUSIVE:
        print(f"hil: inconclusive: {result.invalid}", file=sys.stderr)
        print(f"  INCONCLUSIVE: not a valid test of the controller; what it recorded is in {result.out_dir}")
        return EXIT_INCONCLUSIVE
    if verdict == ERROR:
        print(f"hil: error: {result.error}", file=sys.stderr)
        print(f"  ERROR: the run stopped early; what it recorded is in {result.out_dir}")
        return EXIT_ERROR
    print(f"  {verdict}")
    return EXIT_PASS if verdict == PASS else EXIT_FAIL


def print_criteria_table(result) -> None:
    """The criteria that apply, then the metrics shown without a criterion."""
    print(f"  {'metric':<38} {'value':>14}   {'criterion':<12} result")
    for row in (r for r in result.checks if r["applies"]):
        label, unit = metrics.label(row["metric"])
        mark = "pass" if row["passed"] else "FAIL"
        print(f"  {label:<38} {metrics.format_value(row['value'], unit):>14}   {row['criterion']:<12} {mark}")
    judged = {row["metric"] for row in result.checks}
    for metric in (m for m in metrics.METRICS if m.shown and m.name not in judged and m.name in result.metrics):
        print(f"  {metric.label:<38} {metrics.format_value(result.metrics.get(metric.name), metric.unit):>14}")
    not_applied = sum(1 for r in result.checks if not r["applies"])
    if not_applied:
        print(f"  ({not_applied} timing criteria apply to real-time runs only: --timing realtime)")


def _print_timing(t: dict) -> None:
    def line(label, figures, unit, scale=1.0):
        if figures:
            print(f"  {label:<30} p50 {figures['p50'] * scale:9.3f}  p99 {figures['p99'] * scale:9.3f}  "
                  f"max {figures['max'] * scale:9.3f} {unit}")
    print(f"  real time: {t['physics_rate_hz']:g} Hz physics, {t['control_rate_hz']:g} Hz control; {t['scheduling']}")
    line("physics step lateness", t["lateness_us"], "us")
    line("command age", t["command_age_ms"], "ms")
    line("link round trip", t["link_round_trip_us"], "ms", 1e-3)
    line("device step", t["device_step_time_us"], "ms", 1e-3)
    line("frame wait for device timer", t["device_timer_wait_us"], "ms", 1e-3)
    clock = t["device_clock"]
    print(f"  overruns {t['overruns']} (largest {t['largest_overrun_us'] / 1e3:.2f} ms), late replies "
          f"{t['late_replies']}, repeated commands {t['repeated_commands']} of {t['commands_applied']}"
          + (f"; device clock drift {clock['drift_ppm']:+.1f} ppm" if clock else ""))


def cmd_compare(args) -> int:
    from datetime import datetime, timezone

    from hil.compare import Tolerances, compare_runs, write_comparison
    from hil.rig import resolve_rig
    from hil.run import Run, safe_name
    from hil.session import Session

    if len(args.rig) != 2:
        print("hil: error: compare needs exactly two --rig options (a rig file, 'loopback' or 'mil')",
              file=sys.stderr)
        return EXIT_ERROR
    rigs = [resolve_rig(spec) for spec in args.rig]
    if args.timing:
        if len(args.timing) != 2:
            print("hil: error: give --timing twice (one per rig, in order) or not at all", file=sys.stderr)
            return EXIT_ERROR
        rigs = [replace(rig, timing=timing) for rig, timing in zip(rigs, args.timing)]
    run = Run.create(args.scenario, seed=args.seed, criteria=args.criteria)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    out = Path(args.out) if args.out else (Path("runs") / f"{stamp}-compare-{safe_name(run.scenario.name)}"
                                           f"-seed{run.flown_seed}")
    run_folder.prepare(out, replace=args.replace, what="--out")
    results = []
    for label, rig in zip("ab", rigs):
        print(f"flying {run.scenario.name} (seed {run.flown_seed}) against {rig.name} ...", flush=True)
        folder = out / f"{label}-{safe_name(rig.name)}"
        with Session(rig) as session:
            result = session.fly(replace(run, rig=rig, outputs=replace(run.outputs, folder=folder)))
        if result.verdict in (ERROR, INCONCLUSIVE):
            print(f"  {rig.name}: {result.verdict}")
            return report_verdict(result)
        results.append(result)
    tolerances = Tolerances(args.command_tol, args.cycle_tol, args.velocity_tol)
    report = compare_runs(results[0], results[1], tolerances)
    write_comparison(report, results[0], results[1], out)
    _print_comparison(report)
    judged = " (touchdown velocity)" if "realtime" in report["timing"].values() else ""
    print(f"  {'SAME' if report['same'] else 'DIFFERENT'} within tolerances{judged}; folder {out}")
    return EXIT_PASS if report["same"] else EXIT_FAIL


def _print_comparison(report: dict) -> None:
    a, b = report["a"]["rig"], report["b"]["rig"]
    tol = report["tolerances"]
    timing = report["timing"]
    print(f"\n  {a} {timing['a']} ({report['a']['verdict']}) vs {b} {timing['b']} ({report['b']['verdict']}), "
          f"{report['cycles_compared']} cycles")
    if "realtime" in timing.values():
        print("  a real-time command stream depends on arrival times: judged on touchdown velocity only")
    for name, row in report["commands"].items():
        print(f"  largest {name:<10} difference where states agree {row['max_abs_diff']:9.2e}"
              f"   (cycle {row['cycle']}, tolerance {tol['command']})")
    names = {s.value: s.name for s in icd.ControllerState}
    for row in report["transitions"]:
        offset = "missing" if row["offset"] is None else f"{row['offset']:+d} cycles"
        print(f"  enters {names.get(row['state'], row['state']):<18} cycle {row['cycle_a']} vs {row['cycle_b']}"
              f"   {offset}")
    for metric, row in report["touchdown"].items():
        diff = "n/a" if row["diff"] is None else f"{row['diff']:+.4f}"
        print(f"  {metric:<26} {metrics.format_value(row['a']):>12} {metrics.format_value(row['b']):>12}   {diff}")


def cmd_replay(args) -> int:
    from hil.campaign.plan import controller_overrides
    from hil.compare import Tolerances
    from hil.replay import check_rig, describe, load_recording, replay, write_report
    from hil.rig import resolve_rig
    from hil.run import safe_name
    from hil.session import Session

    recording = load_recording(args.run_dir)
    rig = resolve_rig(args.rig)
    check_rig(rig)
    overrides = controller_overrides(args.controller)
    out = Path(args.out) if args.out else recording.folder / f"replay-{safe_name(rig.name)}"
    if recording.folder.resolve().is_relative_to(out.resolve()):
        raise ConfigError(f"--out {out} holds the run being replayed; choose a folder of its own")
    run_folder.prepare(out, replace=args.replace, what="--out")
    print(f"replaying {len(recording.cycles)} steps of {recording.folder} into {rig.name} ({rig.kind}), lockstep"
          + (f", config overrides {overrides}" if overrides else ""), flush=True)
    with Session(rig) as session:
        report = replay(recording, session, overrides=overrides,
                        tolerances=Tolerances(command=args.command_tol, cycles=args.cycle_tol))
    path = write_report(report, out)
    print("\n".join(f"  {line}" for line in describe(report)))
    print(f"  {'AGREE' if report['agree'] else 'DIFFERENT'} within tolerances; {path}")
    return EXIT_PASS if report["agree"] else EXIT_FAIL


def cmd_coverage(args) -> int:
    """Print a coverage.json, or two side by side per concept (the firmware core against the
    reference controller)."""
    if len(args.files) > 2:
        raise ConfigError(f"coverage takes one or two coverage.json files, got {len(args.files)}")
    summaries = [coverage.load(path) for path in args.files]
    if len(summaries) == 1:
        print(coverage.text_summary(summaries[0]))
        print()
    print(coverage.concept_table(*summaries))
    return EXIT_PASS


def cmd_ports(args) -> int:
    from hil.ports import print_ports
    return print_ports()


def cmd_scenarios(args) -> int:
    from plant.scenario import list_scenarios
    for name, description in list_scenarios():
        print(f"{name:<20} {description}")
    return EXIT_PASS


def cmd_icd(args) -> int:
    from hil import icd_codegen
    root = Path(args.root)
    if not root.is_dir():
        raise ConfigError(f"--root {root} is not a folder (the project root holding firmware/ and docs/)")
    if args.action == "generate":
        written = icd_codegen.write_all(root)
        print("\n".join(f"wrote {p}" for p in written) or "generated files are up to date")
        return EXIT_PASS
    stale = icd_codegen.stale_files(root)
    if stale:
        print(f"hil: error: stale generated files: {', '.join(map(str, stale))}; run `hil icd generate`",
              file=sys.stderr)
        return EXIT_ERROR
    print(f"ICD v{icd.ICD_VERSION} layout 0x{icd.LAYOUT_HASH:08X}: generated files are up to date")
    return EXIT_PASS


def cmd_proxy(args) -> int:
    from hil.link.proxy.standalone import run
    return run(args, prog="hil proxy")


def cmd_bench(args) -> int:
    if args.realtime:
        from hil.rtbench import run_realtime_bench
        run_realtime_bench(args.rig, args.scenario, args.rates, args.sweep_s, json_path=args.json,
                           baseline_s=args.baseline_s)
        return EXIT_PASS
    from hil.bench import run_bench
    run_bench(runs=args.runs, json_path=args.json)
    return EXIT_PASS


# The requirements the shipped suite verifies, in a checkout or an editable install.
REQUIREMENTS_FILE = Path(__file__).resolve().parents[1] / "docs" / "requirements.toml"


def cmd_test(args, pytest_args: list[str]) -> int:
    """The shipped acceptance suite under pytest; pytest's exit code (0 passed, 1 failed, 2
    interrupted, 4 usage error), except 2 with one line for a bad rig file, a malformed
    requirements file or a requirement marker naming an id the file does not hold."""
    from datetime import datetime, timezone

    import pytest

    from hil.pytest_plugin import requirements_problem, suite_dir
    from hil.requirements import load_requirements

    from hil.rig import resolve_rig

    requirements = args.requirements or (str(REQUIREMENTS_FILE) if REQUIREMENTS_FILE.is_file() else None)
    try:        # a bad rig file (a coverage option it cannot honour, ...) or requirements file: one line, exit 2
        resolve_rig(args.rig)
        if requirements:
            load_requirements(requirements)
    except HilError as exc:
        print(f"hil: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    suite = suite_dir()
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    out = Path(args.out) if args.out else Path("runs") / f"{stamp}-test"
    report = Path(args.report) if args.report else out / "report.html"
    argv = [str(suite), "-c", str(suite / "pytest.ini"), "--rootdir", str(suite), "--rig", args.rig,
            "--hil-out", str(out), "--hil-report", str(report), "--hil-seeds", str(args.seeds)]
    for scenario in args.scenario:
        argv += ["--hil-scenario", scenario]
    if requirements:
        argv += ["--hil-requirements", requirements]
    probe = _ConfigProbe()
    code = int(pytest.main(argv + pytest_args, plugins=[probe]))
    if code == pytest.ExitCode.USAGE_ERROR and probe.config is not None and requirements_problem(probe.config):
        return EXIT_ERROR   # pytest has printed the one line
    return code


class _ConfigProbe:
    """A pytest plugin that keeps the run's config, to ask the hil plugin afterwards why it stopped."""

    config = None

    def pytest_configure(self, config) -> None:
        self.config = config


def _number(kind, low: float, strict: bool, what: str):
    """An argparse type: a finite number of `kind` above (or at least) `low`."""
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if not math.isfinite(value) or value < low or (strict and value == low):
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}")
        return value
    return parse


_positive_int = _number(int, 0, True, "a whole number above 0")
_non_negative_int = _number(int, 0, False, "a whole number >= 0")
_positive_float = _number(float, 0.0, True, "a number above 0")
_non_negative_float = _number(float, 0.0, False, "a number >= 0")


def _rates(text: str) -> list[int]:
    """--rates: control rates in Hz, comma-separated, each within the ICD's 10..500."""
    try:
        rates = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of whole numbers (Hz)") from None
    if not rates or any(not 10 <= r <= 500 for r in rates):
        raise argparse.ArgumentTypeError(f"{text!r}: each rate must be 10..500 Hz (the ICD's range)")
    return rates


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hil", description="Sky-crane landing hardware-in-the-loop testbed.")
    parser.add_argument("--version", action="version", version=f"skycrane-hil {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    land = sub.add_parser("land", help="fly one landing and judge it")
    land.add_argument("--rig", help="rig file, 'loopback' (the default) or 'mil' (in-process, fastest)")
    land.add_argument("--scenario", default="nominal", help="scenario name or .toml file (default: nominal)")
    land.add_argument("--seed", type=_non_negative_int, help="random seed (default: the scenario's)")
    land.add_argument("--out", help="run folder (default: runs/<time>-<scenario>-seed<N>)")
    land.add_argument("--criteria", help="criteria file overriding the default criteria")
    land.add_argument("--quiet", action="store_true", help="no progress output while flying")
    land.add_argument("--timing", choices=("lockstep", "realtime"), help="override the rig's timing mode")
    land.add_argument("--link-fault", action="append", default=[], metavar="SPEC",
                      help="a link proxy rule between host and device, e.g. reply:corrupt:rate=0.01 "
                           "(repeatable; docs/link-proxy.md)")
    land.add_argument("--link-fault-seed", type=_non_negative_int, default=0, help="seed of the link faults (0)")
    land.add_argument("--faults", metavar="FILE", help="a fault schedule: TOML with [[faults]] tables, added to "
                                                     "the scenario's (docs/faults.md)")
    land.add_argument("--fault", action="append", default=[], metavar="SPEC",
                      help="one fault: its kind and key=value fields, e.g. 'radar.invalid height_below_m=20 "
                           "duration_s=2' (repeatable; docs/faults.md)")
    land.add_argument("--replace", action="store_true",
                      help="let --out be a folder holding an earlier run (its run files are removed first)")
    land.add_argument("--campaign", metavar="DIR", help="fly one case of this campaign alone (with --case)")
    land.add_argument("--case", type=_non_negative_int, metavar="N", help="the campaign case to fly (with --campaign)")
    land.set_defaults(func=cmd_land)

    camp = sub.add_parser("campaign", help="fly a scenario's dispersions as a Monte Carlo campaign and judge P(pass)",
                          description="Generate the case table (dispersion draws x sweep points), fly every case "
                                      "on a local pool or a Dask cluster, and judge the lower confidence bound on "
                                      "P(pass) against a target (docs/campaigns.md). Exit 0 PASS, 1 FAIL, "
                                      "3 INCONCLUSIVE, 2 error.")
    camp.add_argument("--scenario", default="nominal", help="scenario name or .toml file (default: nominal)")
    camp.add_argument("--runs", type=_positive_int,
                      help="dispersion draws (per sweep point); default: the number the target needs with no failure")
    camp.add_argument("--rig", default="mil", help="rig file, 'mil' (in-process, the default) or 'loopback'")
    camp.add_argument("--workers", type=_positive_int, help="local worker processes (default: one per CPU)")
    camp.add_argument("--scheduler", metavar="ADDRESS", help="fly on a Dask cluster, e.g. tcp://10.0.0.5:8786")
    camp.add_argument("--resource", help="Dask worker resource each case needs (default: the rig file's)")
    camp.add_argument("--engine", metavar="{case,batch}",   # checked against hil.campaign.ENGINES
                      help="case: one landing per task (the default); batch: chunks of cases at once on the "
                           "vectorised MIL plant, rig mil only, no faults (docs/batch.md); --resume keeps the "
                           "campaign's")
    camp.add_argument("--chunk", type=_positive_int, metavar="N",
                      help="cases per task with --engine batch (default: the cases over the workers, at most 1000)")
    camp.add_argument("--seed", type=_non_negative_int, default=0, help="campaign seed (default 0)")
    camp.add_argument("--out", help="campaign folder (default: runs/<time>-campaign-<scenario>)")
    camp.add_argument("--target", type=float, default=0.99, help="P(pass) the controller must reach (0.99)")
    camp.add_argument("--confidence", type=float, default=0.95, help="confidence of the bound (0.95)")
    camp.add_argument("--sweep", action="append", default=[], metavar="NAME=START:STOP:COUNT",
                      help="grid axis over a config register or plant path, e.g. kp_vz=2:6:5 (repeatable)")
    camp.add_argument("--dispersions", metavar="FILE", help="TOML [dispersions] table added over the scenario's")
    camp.add_argument("--controller", action="append", default=[], metavar="NAME=VALUE",
                      help="config register override for every case (repeatable)")
    camp.add_argument("--criteria", help="criteria file overriding the scenario's criteria")
    camp.add_argument("--sprt", action="store_true", help="stop early by Wald's sequential test (docs/campaigns.md)")
    camp.add_argument("--retries", type=_non_negative_int, default=2, help="rig errors retried per case (2)")
    camp.add_argument("--keep-runs", action="store_true", help="a run folder for every case, not only failed ones")
    camp.add_argument("--dry-run", action="store_true", help="write the case table only")
    camp.add_argument("--resume", metavar="DIR", help="finish an interrupted campaign (its cases without a result)")
    camp.add_argument("--quiet", action="store_true", help="no progress line")
    camp.set_defaults(func=cmd_campaign)

    ports = sub.add_parser("ports", help="list serial ports with USB VID:PID and a guess at the board")
    ports.set_defaults(func=cmd_ports)

    scen = sub.add_parser("scenarios", help="list the scenarios shipped with the package")
    scen.set_defaults(func=cmd_scenarios)

    icd_p = sub.add_parser("icd", help="generate or check firmware/core/icd.h and docs/icd.md")
    icd_p.add_argument("action", choices=("generate", "check"))
    icd_p.add_argument("--root", default=".", help="project root (default: current folder)")
    icd_p.set_defaults(func=cmd_icd)

    compare = sub.add_parser("compare", help="fly one scenario against two controllers and compare them")
    compare.add_argument("--rig", action="append", default=[], help="rig file, 'loopback' or 'mil' (give two)")
    compare.add_argument("--scenario", default="nominal", help="scenario name or .toml file (default: nominal)")
    compare.add_argument("--seed", type=_non_negative_int, help="random seed (default: the scenario's)")
    compare.add_argument("--out", help="folder for both runs and the comparison")
    compare.add_argument("--criteria", help="criteria file overriding the default criteria (both runs)")
    compare.add_argument("--replace", action="store_true", help="let --out be a folder holding an earlier compare")
    compare.add_argument("--timing", action="append", choices=("lockstep", "realtime"),
                         help="timing of rig A, then of rig B (give twice), e.g. lockstep then realtime")
    compare.add_argument("--command-tol", type=_non_negative_float, default=0.01,
                         help="throttle/tilt tolerance (0.01)")
    compare.add_argument("--cycle-tol", type=_non_negative_int, default=1, help="state transition tolerance, cycles (1)")
    compare.add_argument("--velocity-tol", type=_non_negative_float, default=0.02,
                         help="rover touchdown velocity tolerance, m/s (0.02)")
    compare.set_defaults(func=cmd_compare)

    rep = sub.add_parser("replay", help="feed a recorded run's sensor frames to a controller and compare its commands",
                         description="Send a run folder's recorded sensor frames, in order and open loop, to a "
                                     "controller in lockstep, with the config block the run wrote, and compare its "
                                     "commands with the recorded ones cycle by cycle (docs/replay.md). Exit 0 when "
                                     "they agree within the tolerances, 1 when they do not, 2 on an error.")
    rep.add_argument("run_dir", metavar="RUN_DIR", help="a run folder (telemetry.csv and summary.json)")
    rep.add_argument("--rig", required=True, help="rig file, 'loopback' or 'mil' (a lockstep rig)")
    rep.add_argument("--controller", action="append", default=[], metavar="NAME=VALUE",
                     help="config register value instead of the recorded one (repeatable)")
    rep.add_argument("--out", help="folder for replay.json (default: RUN_DIR/replay-<rig>)")
    rep.add_argument("--replace", action="store_true", help="let --out be a folder holding an earlier replay")
    rep.add_argument("--command-tol", type=_non_negative_float, default=TOLERANCES.command,
                     help=f"throttle/tilt tolerance where states agree ({TOLERANCES.command:g})")
    rep.add_argument("--cycle-tol", type=_non_negative_int, default=TOLERANCES.cycles,
                     help=f"how far a state or discretes change may move, cycles ({TOLERANCES.cycles})")
    rep.set_defaults(func=cmd_replay)

    test = sub.add_parser("test", help="run the shipped acceptance suite under pytest (other options go to pytest)",
                          description="Fly every shipped scenario over a few seeds and the must-fail checks "
                                      "against a rig; options hil does not know are passed to pytest "
                                      "(e.g. --junitxml FILE, -k EXPR, -x). Exit code: pytest's.")
    test.add_argument("--rig", default="loopback", help="rig file, 'loopback' (the default) or 'mil'")
    test.add_argument("--seeds", type=_positive_int, default=3, help="seeds per scenario (default 3)")
    test.add_argument("--scenario", action="append", default=[],
                      help="fly only this scenario (name or file; repeatable)")
    test.add_argument("--out", help="folder for the run folders (default: runs/<time>-test)")
    test.add_argument("--report", help="HTML report of the suite (default: report.html in the --out folder)")
    test.add_argument("--requirements",
                      help="requirements file the suite's markers name (default: docs/requirements.toml); the "
                           "matrix goes into the report and requirements.csv beside it (docs/requirements.md)")
    test.set_defaults(func=cmd_test)

    cov = sub.add_parser("coverage", help="print a coverage.json, or two side by side per concept",
                         description="Line and branch coverage written by `hil land` or `hil test` on a rig with "
                                     "coverage = true (docs/coverage.md): one file per file and function, two "
                                     "files (e.g. firmware core and reference controller) side by side per concept.")
    cov.add_argument("files", nargs="+", metavar="COVERAGE_JSON", help="coverage.json, or the folder holding it")
    cov.set_defaults(func=cmd_coverage)

    proxy = sub.add_parser("proxy", help="a misbehaving wire: relay a device's port through a pty with faults",
                           description="Relay --device through a new pty (printed as 'PTY /dev/pts/N'), applying "
                                       "link fault rules (docs/link-proxy.md) until SIGTERM or Ctrl-C.")
    from hil.link.proxy.standalone import add_arguments as proxy_arguments
    proxy_arguments(proxy)
    proxy.set_defaults(func=cmd_proxy)

    bench = sub.add_parser("bench", help="measure landing wall time and link overhead")
    bench.add_argument("--runs", type=_positive_int, default=3, help="nominal landings to time (default 3)")
    bench.add_argument("--json", help="also write the figures to this JSON file")
    bench.add_argument("--realtime", action="store_true",
                       help="instead: a real-time landing's timing figures and a control-rate sweep")
    bench.add_argument("--rig", default="rigs/sil-realtime.toml",
                       help="real-time rig (default rigs/sil-realtime.toml)")
    bench.add_argument("--scenario", default="terminal-descent", help="real-time landing (default terminal-descent)")
    bench.add_argument("--rates", type=_rates, default="50,100,200,300,500", help="control rates to sweep, Hz")
    bench.add_argument("--sweep-s", type=_positive_float, default=20.0, help="seconds flown at each swept rate (20)")
    bench.add_argument("--baseline-s", type=_positive_float, default=30.0,
                       help="seconds of the bare pacing loop measured first, the machine's own noise (30)")
    bench.set_defaults(func=cmd_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if args.command == "test":
        return cmd_test(args, rest)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    with signals.StopOnSignals():
        try:
            return args.func(args)
        except (HilError, ScenarioError) as exc:
            print(f"hil: error: {exc}", file=sys.stderr)
            return EXIT_ERROR
        except KeyboardInterrupt as exc:
            print(f"hil: interrupted ({signals.describe(exc)})", file=sys.stderr)
            return signals.exit_code(exc)


if __name__ == "__main__":
    sys.exit(main())
