"""The reliability issue's figures: SIL landings through the link proxy, and the real-time SIL
landing with and without phase alignment.

    .venv/bin/python benchmarks/reliability.py                  # all (~20 min: real-time landings fly in real time)
    .venv/bin/python benchmarks/reliability.py --only faults --timings lockstep
    .venv/bin/python benchmarks/reliability.py --only phase --runs 3 --json reliability.json

faults: the nominal landing against rigs/sil.toml (lockstep) and rigs/sil-realtime.toml (real time)
through the proxy at 0.1 %, 1 % and 5 % random reply corruption and 1 % dropped replies: whether it
completed, the verdict, the retries (lockstep) or misses (real time), corrupted replies the proxy
made against those the host caught (the difference would be corrupted data applied: must be 0;
in lockstep the telemetry is also compared with the clean run's, cycle by cycle), and the rover's
touchdown velocity against the clean run.
phase: terminal-descent (60 s) on rigs/sil-realtime.toml, phase alignment on and off: verdict
(and why, if INCONCLUSIVE), overruns by cause, command age p50/p99 in ms and in control periods.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hil.api import NO_FILES, Run, Session  # noqa: E402
from hil.record import COLUMNS  # noqa: E402
from hil.rig import load_rig  # noqa: E402
from plant.scenario import load_scenario  # noqa: E402

RULES = ("reply:corrupt:rate=0.001", "reply:corrupt:rate=0.01", "reply:corrupt:rate=0.05", "reply:drop:rate=0.01")
RIGS = {"lockstep": ROOT / "rigs/sil.toml", "realtime": ROOT / "rigs/sil-realtime.toml"}
# Wall-clock readings of the device and the link counts differ between any two runs.
NOT_COMPARED = {"cmd_step_time_us", "cmd_frame_rx_tick_us", "cmd_step_tick_us", "cmd_read_tick_us",
                "link_retries", "link_misses"}


def fly(rig, scenario: str, seed: int = 1):
    with Session(rig) as session:
        return session.fly(Run(load_scenario(scenario), seed=seed, outputs=NO_FILES))


def differing_cycles(a, b) -> int:
    """Cycles whose recorded values differ between two lockstep landings (NaN equals NaN)."""
    n = min(len(a.record), len(b.record))
    differ = np.zeros(n, dtype=bool)
    for name in COLUMNS:
        if name in NOT_COMPARED or name == "state_name":
            continue
        x, y = a.record[name][:n], b.record[name][:n]
        differ |= ~((x == y) | (np.isnan(x) & np.isnan(y)))
    return int(differ.sum()) + abs(len(a.record) - len(b.record))


def faults(timings: list[str]) -> dict:
    out = {}
    for timing in timings:
        base = load_rig(RIGS[timing])
        clean = fly(base, "nominal")
        rows = out[timing] = {"clean": _row(clean, None, None)}
        print(f"{timing}: clean landing {clean.verdict}, rover vz {clean.metrics['rover_vz_at_contact_mps']:.4f} m/s")
        for rule in RULES:
            result = fly(replace(base, link_faults=(rule,), link_fault_seed=11), "nominal")
            row = rows[rule] = _row(result, clean, timing)
            print(f"  {rule:26s} {row['verdict']:12s} completed {row['completed']}, "
                  f"{row['failed_exchanges']} {'retries' if timing == 'lockstep' else 'misses'} "
                  f"({row['by_kind']}); proxy corrupted {row['proxy_corrupted']} dropped {row['proxy_dropped']}; "
                  f"corrupted applied {row['corrupted_applied']}"
                  + (f", cycles differing from clean {row['cycles_differing']}" if timing == "lockstep" else "")
                  + f"; rover vz {row['rover_vz']:.4f} m/s ({row['rover_vz_shift']:+.4f})"
                  + (f"; {row['reason']}" if row["reason"] else ""))
    return out


def _row(result, clean, timing) -> dict:
    link = result.summary["link"]
    proxy = link.get("proxy") or {"reply": {"corrupted": 0, "dropped": 0, "cut": 0}}
    by_kind = link.get("by_kind", {})
    vz = result.metrics["rover_vz_at_contact_mps"]
    row = {"verdict": result.verdict, "completed": result.error is None, "reason": result.invalid or result.error,
           "failed_exchanges": result.metrics.get("link_retries", result.metrics.get("link_misses", 0)),
           "by_kind": by_kind, "proxy_corrupted": proxy["reply"]["corrupted"],
           "proxy_dropped": proxy["reply"]["dropped"],
           # every corrupted reply must have been caught as a CRC (or, cut short, a frame) failure
           "corrupted_applied": max(0, proxy["reply"]["corrupted"] - by_kind.get("crc", 0) - by_kind.get("frame", 0)),
           "rover_vz": vz, "rover_vz_shift": 0.0 if clean is None else vz - clean.metrics["rover_vz_at_contact_mps"]}
    if timing == "lockstep" and clean is not None:
        row["cycles_differing"] = differing_cycles(result, clean)
    return row


def phase(runs: int) -> dict:
    base = load_rig(RIGS["realtime"])
    out = {}
    for align in (True, False):
        label = "aligned" if align else "plain"
        results = out[label] = []
        for _ in range(runs):
            result = fly(replace(base, phase_align=align), "terminal-descent")
            t = result.summary["timing"]
            period_ms = 1e3 / t["control_rate_hz"]
            row = {"verdict": result.verdict, "reason": result.invalid, "overruns": t["overruns"],
                   "overruns_machine": t["overruns_machine"], "overruns_testbed": t["overruns_testbed"],
                   "largest_overrun_ms": t["largest_overrun_us"] / 1e3,
                   "command_age_p50_ms": t["command_age_ms"]["p50"], "command_age_p99_ms": t["command_age_ms"]["p99"],
                   "command_age_p99_periods": t["command_age_ms"]["p99"] / period_ms,
                   "rover_vz": result.metrics["rover_vz_at_contact_mps"], "alignment": t["phase_alignment"]}
            results.append(row)
            print(f"phase alignment {label}: {row['verdict']}, rover vz {row['rover_vz']:.3f} m/s; overruns "
                  f"{row['overruns']} ({row['overruns_machine']} late wake-ups, {row['overruns_testbed']} the loop's "
                  f"own work, largest {row['largest_overrun_ms']:.1f} ms); command age p50 "
                  f"{row['command_age_p50_ms']:.1f} ms, p99 {row['command_age_p99_ms']:.1f} ms = "
                  f"{row['command_age_p99_periods']:.2f} periods; {row['alignment']}")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="faults,phase", help="faults, phase")
    parser.add_argument("--timings", default="lockstep,realtime", help="timings for the link-fault landings")
    parser.add_argument("--runs", type=int, default=2, help="real-time landings per phase setting (2)")
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args()
    parts = set(args.only.split(","))
    figures = {}
    if "faults" in parts:
        figures["faults"] = faults(args.timings.split(","))
    if "phase" in parts:
        figures["phase"] = phase(args.runs)
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
