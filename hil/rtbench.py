"""`hil bench --realtime`: a real-time landing's timing figures, and the highest control rate that
still holds zero overruns (docs/realtime.md). Needs an idle machine to mean anything."""

from __future__ import annotations

import json
import tempfile
from dataclasses import replace
from pathlib import Path

from hil.pacing import MAX_EVENTS, OverrunPolicy, Pacer, Scheduling
from hil.rig import load_rig
from hil.run import Outputs, Run
from hil.session import Session
from hil.timing import stats
from plant.scenario import Scenario, load_scenario

LATENESS_P99_TARGET_MS = 0.5


def _figures(summary: dict) -> dict:
    t = summary["timing"]
    return {"verdict": summary["verdict"], "sim_s": summary["sim_time_s"], "wall_s": summary["wall_time_s"],
            "scheduling": t["scheduling"], "lateness_us": t["lateness_us"], "overruns": t["overruns"],
            "largest_overrun_us": t["largest_overrun_us"], "command_age_ms": t["command_age_ms"],
            "link_round_trip_us": t["link_round_trip_us"], "device_step_time_us": t["device_step_time_us"],
            "late_replies": t["late_replies"], "device_clock": t["device_clock"],
            "age_attribution": t["age_attribution"]}


def _causes(summary: dict) -> dict:
    events = summary["timing"]["overrun_events"]
    loop = sum(1 for e in events if e["cause"].startswith("the loop"))
    return {"loop": loop, "wake-up": len(events) - loop}


def pacing_baseline(seconds: float, rate_hz: float, rig) -> dict:
    """The bare pacing loop (no plant, no device, no I/O) under the rig's scheduling: what this
    machine itself does to a real-time thread. Overruns here are the platform's, not the loop's."""
    pacer = Pacer(OverrunPolicy(rig.overrun_ms, grace_s=rig.grace_s))
    with Scheduling(rig.rt_priority, rig.pin_cpu) as sched:
        pacer.start()
        for i in range(1, round(seconds * rate_hz) + 1):
            pacer.wait(i / rate_hz)
    return {"seconds": seconds, "rate_hz": rate_hz, "scheduling": sched.description,
            "lateness_us": stats(pacer.lateness_us), "overruns": pacer.overruns,
            "largest_overrun_us": pacer.largest_overrun_us}


def run_realtime_bench(rig_path: str, scenario_name: str = "terminal-descent", rates=(50, 100, 200, 300, 500),
                       sweep_s: float = 20.0, json_path: str | None = None, baseline_s: float = 30.0) -> dict:
    rig = load_rig(rig_path)
    scenario = load_scenario(scenario_name)
    physics_hz = rig.physics_rate_hz or scenario.params.substep_hz
    out: dict = {"rig": rig.name, "physics_rate_hz": physics_hz}
    base = out["baseline"] = pacing_baseline(baseline_s, physics_hz, rig)
    print(f"bare pacing loop, {baseline_s:g} s at {physics_hz:g} Hz ({base['scheduling']}): lateness p50 "
          f"{base['lateness_us']['p50']:.1f} us, p99 {base['lateness_us']['p99']:.1f} us, max "
          f"{base['lateness_us']['max']:.0f} us; overruns {base['overruns']} (this machine's own, no plant or device)")
    with tempfile.TemporaryDirectory() as tmp, Session(rig) as session:
        def fly(rate_hz: float, flown: Scenario, folder: str):
            return session.fly(Run(flown, rig=replace(rig, timing="realtime", control_rate_hz=rate_hz),
                                   outputs=Outputs(Path(tmp) / folder, report=False)))
        landing = fly(50.0, scenario, "landing")
        f = out["landing"] = _figures(landing.summary)
        lat, age = f["lateness_us"], f["command_age_ms"]
        print(f"{scenario.name} against {rig.name}, 50 Hz control, {out['physics_rate_hz']:g} Hz physics, "
              f"{f['scheduling']}: {f['verdict']}, {f['sim_s']:.1f} s flown in {f['wall_s']:.1f} s")
        print(f"  lateness p50 {lat['p50']:.1f} us, p99 {lat['p99']:.1f} us, max {lat['max']:.1f} us; "
              f"overruns {f['overruns']} (target: p99 <= {LATENESS_P99_TARGET_MS} ms, zero: "
              f"{'met' if lat['p99'] <= LATENESS_P99_TARGET_MS * 1e3 and f['overruns'] == 0 else 'MISSED'})")
        print(f"  command age p50 {age['p50']:.2f} ms, p99 {age['p99']:.2f} ms; link round trip p50 "
              f"{f['link_round_trip_us']['p50']:.0f} us, p99 {f['link_round_trip_us']['p99']:.0f} us; device step "
              f"p50 {f['device_step_time_us']['p50']:.0f} us; clock drift "
              f"{f['device_clock'].get('drift_ppm', float('nan')):+.2f} ppm")
        causes = f["overrun_causes"] = _causes(landing.summary)
        if landing.summary["timing"]["overruns"]:
            print(f"  overrun causes (first {MAX_EVENTS}): the loop's own work {causes['loop']}, "
                  f"late wake-up {causes['wake-up']}")
        print("  age attribution (median ms): "
              + ", ".join(f"{k} {v:.2f}" for k, v in f["age_attribution"].get("median_ms", {}).items()))
        sweep = out["rate_sweep"] = []
        short = replace(scenario, max_time_s=sweep_s)
        for rate in rates:
            result = fly(float(rate), short, f"rate{rate}")
            t = result.summary["timing"]
            row = {"control_rate_hz": rate, "overruns": t["overruns"], "causes": _causes(result.summary),
                   "lateness_p99_us": t["lateness_us"]["p99"],
                   "lateness_max_us": t["lateness_us"]["max"], "late_replies": t["late_replies"],
                   "command_age_p99_ms": t["command_age_ms"]["p99"], "error": result.error}
            sweep.append(row)
            print(f"  {rate:4d} Hz control, {sweep_s:g} s: overruns {row['overruns']} (loop's own work "
                  f"{row['causes']['loop']}), lateness p99 "
                  f"{row['lateness_p99_us']:.1f} us max {row['lateness_max_us']:.0f} us, late replies "
                  f"{row['late_replies']}, command age p99 {row['command_age_p99_ms']:.2f} ms"
                  + (f", stopped: {result.error}" if result.error else ""))
        holding = [r["control_rate_hz"] for r in sweep if r["overruns"] == 0 and not r["error"]]
        own = [r["control_rate_hz"] for r in sweep if r["causes"]["loop"] == 0 and r["late_replies"] == 0
               and r["overruns"] <= MAX_EVENTS and not r["error"]]
        out["highest_rate_zero_overruns_hz"] = max(holding) if holding else None
        out["highest_rate_no_loop_overruns_hz"] = max(own) if own else None
        print(f"  highest control rate with zero overruns: {out['highest_rate_zero_overruns_hz']} Hz; with none "
              f"caused by the loop's own work and no late reply: {out['highest_rate_no_loop_overruns_hz']} Hz "
              f"(of {', '.join(map(str, rates))}; the ICD allows up to 500 Hz)")
    if json_path:
        Path(json_path).write_text(json.dumps(out, indent=2) + "\n")
    return out
