"""The parts that show one landing, shared by the run page and the suite page: verdict banner,
criteria table, metrics shown without a criterion, key events, real-time timing figures."""

from __future__ import annotations

import math

from hil import metrics as metric_table
from hil.fault_injection import describe_rig_action
from hil.report.page import badge, esc, table

PASS_MARK, FAIL_MARK, NOT_APPLICABLE = "pass", "FAIL", "n/a"


def verdict_banner(result) -> str:
    """PASS, FAIL or ERROR in large type, with the error or one line per failed criterion."""
    verdict = result.verdict
    reasons = [result.error] if result.error else result.failure_lines()
    items = "".join(f"<li>{esc(line)}</li>" for line in reasons)
    head = f"{result.run.scenario.name} (seed {result.seed}) on {result.rig.name}"
    return (f'<div class="banner {esc(verdict.lower())}"><span class="verdict">{esc(verdict)}</span>'
            f'{esc(head)}{f"<ul>{items}</ul>" if items else ""}</div>')


def criteria_table(checks: list[dict]) -> str:
    """One row per criterion: label, value with unit, criterion, pass / FAIL / n/a, and why."""
    rows, classes = [], []
    for row in checks:
        label, unit = metric_table.label(row["metric"])
        if not row["applies"]:
            mark, value = NOT_APPLICABLE, "not measured"
        else:
            mark, value = (PASS_MARK if row["passed"] else FAIL_MARK), metric_table.format_value(row["value"], unit)
        rows.append((esc(label), esc(value), esc(row["criterion"]), badge(mark), esc(row.get("why", ""))))
        classes.append("failed" if mark == FAIL_MARK else "")
    if not rows:
        return '<p class="muted">No criteria were judged.</p>'
    return table(("metric", "value", "criterion", "result", "why"), rows, row_classes=classes, numeric=(1,))


def unjudged_metrics_table(values: dict, checks: list[dict]) -> str:
    """The metrics `hil land` shows although no criterion judges them."""
    judged = {row["metric"] for row in checks}
    rows = [(esc(m.label), esc(metric_table.format_value(values[m.name], m.unit)))
            for m in metric_table.METRICS if m.shown and m.name not in judged and m.name in values]
    return table(("metric", "value"), rows, numeric=(1,)) if rows else ""


def events_table(events: list[dict]) -> str:
    """The plant's events and the touchdown declaration, in time order, with their data."""
    if not events:
        return '<p class="muted">No events were recorded.</p>'
    rows = []
    for event in events:
        details = ", ".join(f"{k} {_number(v)}" for k, v in event.items() if k not in ("name", "t"))
        rows.append((esc(_number(event.get("t"), "s")), esc(str(event.get("name", "")).replace("_", " ")),
                     esc(details)))
    return table(("plant time", "event", "details"), rows, numeric=(0,))


def faults_table(faults: list[dict]) -> str:
    """The run's fault schedule: each fault, whether and when it was active, in which state."""
    rows = []
    for f in faults:
        if f["applied"]:
            ended = f"{_number(f['ended_t'], 's')} in {f['ended_phase']}" if f["ended_t"] is not None else "until the end"
            when = f"{_number(f['started_t'], 's')} in {f['started_phase']}"
        else:
            ended, when = "", "never applied"
        what = f["what"] + describe_rig_action(f.get("rig"))
        rows.append((esc(f["name"]), esc(when), esc(ended), esc(what)))
    return table(("fault", "started", "ended", "what"), rows)


# (timing key, label, scale to the unit shown, unit): the distributions of a real-time run.
TIMING_STATS = (
    ("lateness_us", "physics step lateness", 1e-3, "ms"),
    ("command_age_ms", "command age at application", 1.0, "ms"),
    ("link_round_trip_us", "link round trip", 1e-3, "ms"),
    ("device_step_time_us", "device control step", 1e-3, "ms"),
    ("device_timer_wait_us", "frame wait for the device timer", 1e-3, "ms"),
    ("device_hold_us", "command held on the device until read", 1e-3, "ms"),
)
TIMING_COUNTS = (("overruns", "physics overruns"), ("late_replies", "late replies"),
                 ("frames_sent", "frames sent"), ("commands_applied", "commands applied"),
                 ("repeated_commands", "repeated commands"), ("physics_steps_judged", "physics steps judged"))


def is_realtime(summary: dict) -> bool:
    return (summary.get("timing") or {}).get("mode") == "realtime"


def timing_section(summary: dict) -> str:
    """A real-time run's timing figures: distributions (n, mean, p50, p99, max) and counts.
    Empty for a lockstep run, which has none."""
    if not is_realtime(summary):
        return ""
    timing = summary["timing"]
    rows = []
    for key, label, scale, unit in TIMING_STATS:
        figures = timing.get(key) or {}
        if figures:
            rows.append((esc(label), esc(figures.get("n", "")),
                         *(esc(_number(figures.get(s), scale=scale)) for s in ("mean", "p50", "p99", "max")),
                         esc(unit)))
    stats = table(("figure", "n", "mean", "p50", "p99", "max", "unit"), rows, numeric=(1, 2, 3, 4, 5))
    clock = timing.get("device_clock") or {}
    facts = [(label, timing[key]) for key, label in TIMING_COUNTS if key in timing]
    facts += [("control / physics rate", f"{timing.get('control_rate_hz', 0):g} / "
                                         f"{timing.get('physics_rate_hz', 0):g} Hz"),
              ("overrun threshold", _number(timing.get("overrun_ms"), "ms")),
              ("largest overrun", _number((timing.get("largest_overrun_us") or 0) * 1e-3, "ms")),
              ("first overrun at", _number(timing.get("first_overrun_t"), "s")),
              ("device clock drift", _number(clock.get("drift_ppm"), "ppm")),
              ("scheduling", timing.get("scheduling", ""))]
    counts = table(None, [(esc(k), esc(v)) for k, v in facts])
    return f'<div class="cols"><div>{stats}</div><div>{counts}</div></div>'


def key_timing_figures(summary: dict) -> str:
    """One short line of a real-time run's figures for a summary table ('' in lockstep)."""
    if not is_realtime(summary):
        return ""
    timing = summary["timing"]

    def p99(key, scale):
        return _number((timing.get(key) or {}).get("p99"), "ms", scale)
    return (f"overruns {timing.get('overruns', '?')}, lateness p99 {p99('lateness_us', 1e-3)}, "
            f"command age p99 {p99('command_age_ms', 1.0)}")


def _number(value, unit: str = "", scale: float = 1.0) -> str:
    """A figure with 3 significant decimals as the tables print it; "-" when there is none."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, int) and scale == 1.0:
        return f"{value} {unit}".strip()
    return f"{value * scale:.3f} {unit}".strip()
