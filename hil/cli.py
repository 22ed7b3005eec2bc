"""The `hil` command: land, compare, scenarios, ports, icd, bench. Exit 0 pass, 1 landing failed, 2 usage/config/link."""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import replace
from pathlib import Path

from hil import __version__, icd
from hil.errors import HilError
from plant.scenario import ScenarioError

EXIT_PASS, EXIT_FAIL, EXIT_ERROR, EXIT_INTERRUPTED = 0, 1, 2, 130

_LABELS = {
    "rover_vz_at_contact_mps": ("rover vertical speed at contact", "m/s"),
    "rover_vh_at_contact_mps": ("rover horizontal speed at contact", "m/s"),
    "td_latency_s": ("contact to touchdown declared", "s"),
    "cut_before_contact": ("bridle cut before contact", ""),
    "min_clearance_m": ("closest descent stage to rover deck", "m"),
    "flyaway_distance_m": ("descent stage impact distance", "m"),
    "propellant_left_kg": ("propellant left", "kg"),
    "contact_time_s": ("first rover contact", "s"),
    "throttle_drop_frac": ("throttle drop at touchdown", ""),
    "overruns": ("physics overruns", ""),
    "lateness_p99_ms": ("physics lateness p99", "ms"),
    "command_age_p99_ms": ("command age p99", "ms"),
    "device_step_p99_ms": ("device step time p99", "ms"),
    "link_round_trip_p99_ms": ("link round trip p99", "ms"),
}


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


def _format_value(value, unit: str) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "not measured"
    if isinstance(value, int):
        return f"{value} {unit}".strip()
    return f"{value:.3f} {unit}".strip()


def cmd_land(args) -> int:
    from hil.rig import Rig
    from hil.run import fly
    from plant.scenario import load_scenario

    rig = _rig(args.rig) if args.rig else Rig()
    if args.timing:
        rig = replace(rig, timing=args.timing)
    scenario = load_scenario(args.scenario)
    seed = scenario.seed if args.seed is None else args.seed
    print(f"skycrane-hil {__version__}: scenario {scenario.name}, seed {seed}, rig {rig.name} ({rig.kind}), "
          f"{rig.timing}")
    result = fly(rig, scenario, seed=seed, out_dir=Path(args.out) if args.out else None,
                 criteria_path=args.criteria, progress=None if args.quiet else LiveLine())
    summary = result.summary
    print()
    print(f"  {'metric':<38} {'value':>14}   {'criterion':<12} result")
    for row in (r for r in result.checks if r["applies"]):
        label, unit = _LABELS.get(row["metric"], (row["metric"], ""))
        mark = "pass" if row["passed"] else "FAIL"
        print(f"  {label:<38} {_format_value(row['value'], unit):>14}   {row['criterion']:<12} {mark}")
    judged = {row["metric"] for row in result.checks}
    for metric in ("throttle_drop_frac", "propellant_left_kg", "contact_time_s"):
        if metric not in judged:
            label, unit = _LABELS[metric]
            print(f"  {label:<38} {_format_value(result.metrics.get(metric), unit):>14}")
    not_applied = sum(1 for r in result.checks if not r["applies"])
    if not_applied:
        print(f"  ({not_applied} timing criteria apply to real-time runs only: --timing realtime)")
    sim, wall = summary["sim_time_s"], summary["wall_time_s"]
    print(f"\n  {sim:.1f} s flown in {wall:.2f} s wall ({sim / wall:.1f}x real time), "
          f"{summary['cycles']} cycles; run folder {result.out_dir}")
    if summary["timing"]["mode"] == "realtime":
        _print_timing(summary["timing"])
    if result.error:
        print(f"hil: error: {result.error}", file=sys.stderr)
        print(f"  {summary['verdict']}: the run stopped early; what it recorded is in {result.out_dir}")
        return EXIT_INTERRUPTED if result.interrupted else EXIT_ERROR
    print(f"  {summary['verdict']}")
    return EXIT_PASS if result.passed else EXIT_FAIL


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


def _rig(spec: str):
    from hil.rig import Rig, load_rig
    return Rig() if spec == "loopback" else load_rig(spec)


def cmd_compare(args) -> int:
    from datetime import datetime, timezone

    from hil.compare import Tolerances, compare_runs, write_comparison
    from hil.run import fly
    from plant.scenario import load_scenario

    if len(args.rig) != 2:
        print("hil: error: compare needs exactly two --rig options (a rig file, or 'loopback')", file=sys.stderr)
        return EXIT_ERROR
    rigs = [_rig(spec) for spec in args.rig]
    if args.timing:
        if len(args.timing) != 2:
            print("hil: error: give --timing twice (one per rig, in order) or not at all", file=sys.stderr)
            return EXIT_ERROR
        rigs = [replace(rig, timing=timing) for rig, timing in zip(rigs, args.timing)]
    scenario = load_scenario(args.scenario)
    seed = scenario.seed if args.seed is None else args.seed
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    out = Path(args.out) if args.out else Path("runs") / f"{stamp}-compare-{scenario.name}-seed{seed}"
    results = []
    for label, rig in zip("ab", rigs):
        print(f"flying {scenario.name} (seed {seed}) against {rig.name} ...", flush=True)
        result = fly(rig, scenario, seed=seed, out_dir=out / f"{label}-{rig.name}", criteria_path=args.criteria)
        if result.error:
            print(f"hil: error: {rig.name}: {result.error}", file=sys.stderr)
            return EXIT_INTERRUPTED if result.interrupted else EXIT_ERROR
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
        print(f"  {metric:<26} {_format_value(row['a'], ''):>12} {_format_value(row['b'], ''):>12}   {diff}")


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


def cmd_bench(args) -> int:
    if args.realtime:
        from hil.rtbench import run_realtime_bench
        rates = [int(r) for r in args.rates.split(",")]
        run_realtime_bench(args.rig, args.scenario, rates, args.sweep_s, json_path=args.json,
                           baseline_s=args.baseline_s)
        return EXIT_PASS
    from hil.bench import run_bench
    run_bench(runs=args.runs, json_path=args.json)
    return EXIT_PASS


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hil", description="Sky-crane landing hardware-in-the-loop testbed.")
    parser.add_argument("--version", action="version", version=f"skycrane-hil {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    land = sub.add_parser("land", help="fly one landing and judge it")
    land.add_argument("--rig", help="rig file or 'loopback' (default: the built-in loopback rig)")
    land.add_argument("--scenario", default="nominal", help="scenario name or .toml file (default: nominal)")
    land.add_argument("--seed", type=int, help="random seed (default: the scenario's)")
    land.add_argument("--out", help="run folder (default: runs/<time>-<scenario>-seed<N>)")
    land.add_argument("--criteria", help="criteria file overriding the default criteria")
    land.add_argument("--quiet", action="store_true", help="no progress output while flying")
    land.add_argument("--timing", choices=("lockstep", "realtime"), help="override the rig's timing mode")
    land.set_defaults(func=cmd_land)

    ports = sub.add_parser("ports", help="list serial ports with USB VID:PID and a guess at the board")
    ports.set_defaults(func=cmd_ports)

    scen = sub.add_parser("scenarios", help="list the scenarios shipped with the package")
    scen.set_defaults(func=cmd_scenarios)

    icd_p = sub.add_parser("icd", help="generate or check firmware/core/icd.h and docs/icd.md")
    icd_p.add_argument("action", choices=("generate", "check"))
    icd_p.add_argument("--root", default=".", help="project root (default: current folder)")
    icd_p.set_defaults(func=cmd_icd)

    compare = sub.add_parser("compare", help="fly one scenario against two controllers and compare them")
    compare.add_argument("--rig", action="append", default=[], help="rig file or 'loopback' (give two)")
    compare.add_argument("--scenario", default="nominal", help="scenario name or .toml file (default: nominal)")
    compare.add_argument("--seed", type=int, help="random seed (default: the scenario's)")
    compare.add_argument("--out", help="folder for both runs and the comparison")
    compare.add_argument("--criteria", help="criteria file overriding the default criteria (both runs)")
    compare.add_argument("--timing", action="append", choices=("lockstep", "realtime"),
                         help="timing of rig A, then of rig B (give twice), e.g. lockstep then realtime")
    compare.add_argument("--command-tol", type=float, default=0.01, help="throttle/tilt tolerance (0.01)")
    compare.add_argument("--cycle-tol", type=int, default=1, help="state transition tolerance, cycles (1)")
    compare.add_argument("--velocity-tol", type=float, default=0.02,
                         help="rover touchdown velocity tolerance, m/s (0.02)")
    compare.set_defaults(func=cmd_compare)

    bench = sub.add_parser("bench", help="measure landing wall time and link overhead")
    bench.add_argument("--runs", type=int, default=3, help="nominal landings to time (default 3)")
    bench.add_argument("--json", help="also write the figures to this JSON file")
    bench.add_argument("--realtime", action="store_true",
                       help="instead: a real-time landing's timing figures and a control-rate sweep")
    bench.add_argument("--rig", default="rigs/sil-realtime.toml",
                       help="real-time rig (default rigs/sil-realtime.toml)")
    bench.add_argument("--scenario", default="terminal-descent", help="real-time landing (default terminal-descent)")
    bench.add_argument("--rates", default="50,100,200,300,500", help="control rates to sweep, Hz")
    bench.add_argument("--sweep-s", type=float, default=20.0, help="seconds flown at each swept rate (20)")
    bench.add_argument("--baseline-s", type=float, default=30.0,
                       help="seconds of the bare pacing loop measured first, the machine's own noise (30)")
    bench.set_defaults(func=cmd_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (HilError, ScenarioError) as exc:
        print(f"hil: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("hil: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
