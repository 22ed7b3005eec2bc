"""Back to back: the same scenario and seed against two controllers, compared cycle by cycle.

Between a lockstep and a real-time run (or two real-time runs) the command streams are not
expected to match cycle by cycle; the comparison then judges only the touchdown velocity and
reports how far timing moved every touchdown metric.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from hil import metrics
from hil.run import RunResult
from hil.telemetry import TELEMETRY_FILE, json_safe, read_telemetry

COMPARE_FILE = "compare.json"
PLOT_FILE = "compare.png"
COMMANDS = ("cmd_throttle", "cmd_tilt_x_rad", "cmd_tilt_y_rad")


@dataclass(frozen=True)
class Tolerances:
    """What counts as the same controller. Defaults: float32 firmware against the float64 spec."""

    command: float = 0.01      # largest commanded throttle / tilt difference where states agree
    cycles: int = 1            # largest offset of a state transition, in control cycles
    velocity_mps: float = 0.02  # largest difference of rover touchdown velocity


def compare_runs(a: RunResult, b: RunResult, tolerances: Tolerances) -> dict:
    """Differences between two runs' command streams, state transitions and touchdown metrics."""
    ta, tb = _columns(a), _columns(b)
    n = min(len(ta["cycle"]), len(tb["cycle"]))
    same_state = [ta["cmd_state"][i] == tb["cmd_state"][i] for i in range(n)]
    commands = {}
    for key in COMMANDS:
        worst, at = 0.0, None
        for i in range(n):
            diff = abs(ta[key][i] - tb[key][i])
            if same_state[i] and diff > worst:
                worst, at = diff, i
        commands[key.removeprefix("cmd_")] = {"max_abs_diff": worst,
                                              "cycle": None if at is None else int(ta["cycle"][at])}
    transitions = transition_offsets(_transitions(ta), _transitions(tb))
    touchdown = {m: {"a": a.metrics.get(m), "b": b.metrics.get(m),
                     "diff": _diff(a.metrics.get(m), b.metrics.get(m))} for m in metrics.COMPARED}
    timings = (a.summary["timing"]["mode"], b.summary["timing"]["mode"])
    checks = {
        "commands": all(c["max_abs_diff"] <= tolerances.command for c in commands.values()),
        "transitions": all(t["offset"] is not None and abs(t["offset"]) <= tolerances.cycles
                           for t in transitions),
        "touchdown_velocity": all(_within(touchdown[m]["diff"], tolerances.velocity_mps)
                                  for m in ("rover_vz_at_contact_mps", "rover_vh_at_contact_mps")),
    }
    if "realtime" in timings:
        # A real-time command stream depends on when each command arrived, so cycle-by-cycle
        # equality is not expected: what timing did to the landing is the touchdown metrics.
        del checks["commands"], checks["transitions"]
    return {
        "a": {"rig": a.summary["rig"]["name"], "verdict": a.summary["verdict"], "folder": str(a.out_dir)},
        "b": {"rig": b.summary["rig"]["name"], "verdict": b.summary["verdict"], "folder": str(b.out_dir)},
        "timing": {"a": timings[0], "b": timings[1]},
        "cycles_compared": n,
        "cycles_with_different_state": same_state.count(False),
        "commands": commands,
        "transitions": transitions,
        "touchdown": touchdown,
        "tolerances": {"command": tolerances.command, "cycles": tolerances.cycles,
                       "velocity_mps": tolerances.velocity_mps},
        "checks": checks,
        "same": all(checks.values()),
    }


_COLUMNS = ("cycle", "truth_t", "cmd_state") + COMMANDS


def _columns(result: RunResult) -> dict[str, list]:
    """The columns compared, from the run's in-memory record (or its telemetry.csv without one)."""
    if result.record is not None:
        return {name: result.record[name].tolist() for name in _COLUMNS}
    return read_telemetry(result.out_dir / TELEMETRY_FILE)


def _transitions(columns: dict) -> list[tuple[int, int]]:
    """(cycle, new state) each time the controller state changes."""
    return transitions(columns["cycle"], columns["cmd_state"])


def transitions(cycles, values) -> list[tuple[int, int]]:
    """(cycle, new value) each time a per-cycle value (a state, the discretes) changes."""
    out, previous = [], None
    for cycle, value in zip(cycles, values):
        if value != previous:
            out.append((int(cycle), int(value)))
            previous = value
    return out


def transition_offsets(a: list[tuple[int, int]], b: list[tuple[int, int]]) -> list[dict]:
    """Pair the k-th entry into each state in A with the k-th in B; a missing one has no offset."""
    rows, seen_b = [], {}
    for cycle_a, state in a:
        matches = [c for c, s in b if s == state]
        k = seen_b.get(state, 0)
        seen_b[state] = k + 1
        cycle_b = matches[k] if k < len(matches) else None
        rows.append({"state": state, "cycle_a": cycle_a, "cycle_b": cycle_b,
                     "offset": None if cycle_b is None else cycle_b - cycle_a})
    extra = {s for _, s in b} - {s for _, s in a}
    rows += [{"state": s, "cycle_a": None, "cycle_b": c, "offset": None} for c, s in b if s in extra]
    return rows


def _diff(x, y):
    if isinstance(x, bool) or isinstance(y, bool):
        return None if x == y else float("inf")
    if x is None or y is None or (isinstance(x, float) and math.isnan(x)) or (isinstance(y, float) and math.isnan(y)):
        return None
    return y - x


def _within(diff, tolerance: float) -> bool:
    return diff is not None and abs(diff) <= tolerance


def write_comparison(report: dict, a: RunResult, b: RunResult, out_dir: Path) -> None:
    # matplotlib here, not at import: hil replay uses this module's helpers and draws nothing
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / COMPARE_FILE).write_text(json.dumps(json_safe(report), indent=2) + "\n")
    ta, tb = _columns(a), _columns(b)
    rows = (("throttle [-]", "cmd_throttle"), ("tilt x [rad]", "cmd_tilt_x_rad"),
            ("tilt y [rad]", "cmd_tilt_y_rad"), ("controller state", "cmd_state"))
    fig, axes = plt.subplots(len(rows) + 1, 1, figsize=(12, 12), sharex=True)
    name_a, name_b = report["a"]["rig"], report["b"]["rig"]
    for ax, (label, key) in zip(axes, rows):
        ax.plot(ta["truth_t"], ta[key], label=name_a, linewidth=1.2)
        ax.plot(tb["truth_t"], tb[key], label=name_b, linewidth=0.8, linestyle="--")
        ax.set_ylabel(label)
        ax.grid(True, alpha=0.3)
    n = report["cycles_compared"]
    axes[-1].plot(ta["truth_t"][:n], [tb["cmd_throttle"][i] - ta["cmd_throttle"][i] for i in range(n)],
                  color="tab:red", linewidth=0.8)
    axes[-1].set_ylabel(f"throttle {name_b} - {name_a}")
    axes[-1].grid(True, alpha=0.3)
    axes[-1].set_xlabel("time [s]")
    axes[0].legend(loc="upper right")
    fig.suptitle(f"back to back: {name_a} vs {name_b} ({'same' if report['same'] else 'DIFFERENT'})")
    fig.tight_layout()
    fig.savefig(out_dir / PLOT_FILE, dpi=90)
    plt.close(fig)
