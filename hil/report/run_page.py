"""report.html: one run on one self-contained page."""

from __future__ import annotations

from pathlib import Path

from hil.report.figure import landing_columns, landing_figure
from hil.report.landing import (
    criteria_table,
    events_table,
    faults_table,
    is_realtime,
    timing_section,
    unjudged_metrics_table,
    verdict_banner,
)
from hil.report.page import esc, key_value_table, write_page
from hil.report.provenance import run_provenance

REPORT_FILE = "report.html"


def write_run_report(result, record, out_dir) -> Path:
    """Write out_dir/report.html for a flown run; `record` None: the page says there is no plot
    (unless the run folder has a telemetry.csv to plot from)."""
    out_dir = Path(out_dir)
    summary = result.summary or {}
    scenario = result.run.scenario.name
    title = f"{result.verdict}: {scenario} (seed {result.seed}) on {result.rig.name}"
    sections = [
        f"<h1>Landing report: {esc(scenario)}, seed {esc(result.seed)}, rig {esc(result.rig.name)}</h1>",
        verdict_banner(result),
        f'<p class="muted">{esc(_flight_line(summary))}</p>',
        "<h2>Criteria</h2>", criteria_table(result.checks),
    ]
    unjudged = unjudged_metrics_table(result.metrics, result.checks)
    if unjudged:
        sections += ["<h2>Shown without a criterion</h2>", unjudged]
    sections += ["<h2>The landing</h2>",
                 landing_figure(landing_columns(record, out_dir), result.metrics, faults=result.faults),
                 "<h2>Key events</h2>", events_table(summary.get("events", []))]
    if result.faults:
        sections += ["<h2>Faults</h2>", faults_table(result.faults)]
    if is_realtime(summary):
        sections += ["<h2>Real-time timing</h2>", timing_section(summary)]
    sections += ["<h2>Provenance</h2>", key_value_table(run_provenance(result))]
    return write_page(out_dir / REPORT_FILE, title, "\n".join(sections))


def _flight_line(summary: dict) -> str:
    """Plant time, wall time, cycles and why the run stopped, in one line."""
    sim, wall = summary.get("sim_time_s"), summary.get("wall_time_s")
    if sim is None or wall is None:
        return ""
    speed = f" ({sim / wall:.1f}x real time)" if wall > 0 else ""
    timing = (summary.get("timing") or {}).get("mode", "")
    return (f"{sim:.1f} s flown in {wall:.2f} s wall{speed}, {summary.get('cycles', '?')} cycles, {timing}; "
            f"stopped: {summary.get('stop_reason', 'unknown')}.")
