"""A suite's page: many tests and their landings on one self-contained page.

Counts by outcome first, the provenance, a table with one row per landing, the requirements
matrix when the run had a requirements file, then one section per test with its landings (plot
and criteria). Failures and errors come first and open; passes and
skips follow, collapsed, so the page opens on what needs looking at.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from hil.metrics import format_value
from hil.report.figure import landing_columns, landing_figure
from hil.report.landing import criteria_table, is_realtime, key_timing_figures, timing_section
from hil.report.page import badge, esc, folder_link, key_value_table, table, write_page

OUTCOMES = ("failed", "error", "passed", "skipped")   # the order sections appear in
OPEN_OUTCOMES = ("failed", "error")


def write_suite_report(entries: list[dict], path, provenance: dict[str, str], requirements=None, *,
                       coverage=None) -> Path:
    """Write the suite page to `path`. Each entry: nodeid, outcome (passed/failed/error/skipped),
    message, duration_s, requirements (list of str) and results (RunResults, may be empty).
    `requirements`: the requirements matrix (hil.requirements.MatrixRow list), or None.
    `coverage`: (summary, path of its coverage.html) on a coverage rig (hil/coverage/)."""
    path = Path(path)
    ordered = sorted(entries, key=lambda e: _outcome_rank(e.get("outcome")))
    anchors = {id(entry): f"test-{i + 1}" for i, entry in enumerate(ordered)}
    sections = [
        "<h1>Landing suite report</h1>",
        _counts(ordered),
        "<h2>Provenance</h2>", key_value_table(provenance.items()),
        "<h2>Summary</h2>", _summary_table(ordered, anchors, path.parent),
    ]
    if requirements is not None:
        sections += ["<h2>Requirements</h2>", _requirements_section(requirements, provenance.get("rig", "?"))]
    if coverage is not None:
        sections += ["<h2>Coverage</h2>", _coverage_section(*coverage, path.parent)]
    sections.append("<h2>Tests</h2>")
    sections += [_test_section(entry, anchors[id(entry)]) for entry in ordered]
    counts = Counter(e.get("outcome") for e in entries)
    title = "suite: " + ", ".join(f"{counts[o]} {o}" for o in OUTCOMES if counts[o])
    return write_page(path, title, "\n".join(sections))


def _outcome_rank(outcome) -> int:
    return OUTCOMES.index(outcome) if outcome in OUTCOMES else len(OUTCOMES)


def _counts(entries: list[dict]) -> str:
    tests = Counter(e.get("outcome") for e in entries)
    landings = Counter(r.verdict for e in entries for r in e.get("results", []))
    boxes = [f'<div class="count {badge_class}"><b>{tests[outcome]}</b>{esc(outcome)}</div>'
             for outcome, badge_class in (("failed", "fail"), ("error", "error"), ("passed", "pass"),
                                          ("skipped", "skip"))]
    landing_line = ", ".join(f"{landings[v]} {v}" for v in ("PASS", "FAIL", "ERROR") if landings[v]) or "none"
    return (f'<div class="counts">{"".join(boxes)}</div>'
            f'<p>{len(entries)} tests; landings flown: {sum(landings.values())} ({esc(landing_line)}).</p>')


def _summary_table(entries: list[dict], anchors: dict, page_dir: Path) -> str:
    """One row per landing (one per test when it flew none)."""
    realtime = any(is_realtime(r.summary or {}) for e in entries for r in e.get("results", []))
    headers = ["test", "outcome", "scenario", "seed", "verdict", "rover vertical", "rover horizontal",
               "touchdown latency"] + (["timing (real time)"] if realtime else []) + ["test duration", "run folder"]
    rows, classes = [], []
    for entry in entries:
        test = f'<a href="#{anchors[id(entry)]}">{esc(entry.get("nodeid", "?"))}</a>'
        duration = esc(f"{entry.get('duration_s') or 0.0:.2f} s")
        results = entry.get("results") or [None]
        for i, result in enumerate(results):
            cells = [test if i == 0 else "", badge(entry.get("outcome", "?")) if i == 0 else ""]
            if result is None:
                cells += ["-"] * (len(headers) - 4)   # all but test, outcome, duration, folder
            else:
                values = result.metrics
                cells += [esc(result.run.scenario.name), esc(result.seed), badge(result.verdict),
                          esc(format_value(values.get("rover_vz_at_contact_mps"), "m/s")),
                          esc(format_value(values.get("rover_vh_at_contact_mps"), "m/s")),
                          esc(format_value(values.get("td_latency_s"), "s"))]
                if realtime:
                    cells.append(esc(key_timing_figures(result.summary or {})))
            cells += [duration if i == 0 else "", _folder_link(result, page_dir)]
            rows.append(cells)
            classes.append("failed" if result is not None and result.verdict != "PASS" else "")
    return table(headers, rows, row_classes=classes, numeric=(5, 6, 7))


def _requirements_section(rows, rig: str) -> str:
    """Which requirement is verified by which passing test on this rig: no test first, then
    not verified (its tests failed, errored or were skipped), then verified."""
    from hil.requirements import NO_TEST, NOT_VERIFIED, VERIFIED, summary_line
    status_badge = {VERIFIED: "pass", NO_TEST: "skip", NOT_VERIFIED: "error"}
    cells, classes = [], []
    for row in rows:
        req = row.requirement
        tests = "<br>".join(f'{esc(test)} {badge(outcome)}' for test, outcome in row.tests) or "-"
        status = f'<span class="badge {status_badge.get(row.status, "fail")}">{esc(row.status)}</span>'
        source = f'<span class="muted">{esc(req.source)}</span>'
        cells.append([f"<b>{esc(req.id)}</b>", status, esc(req.text), source, tests])
        classes.append("" if row.status == VERIFIED else "failed")
    return (f"<p>{esc(summary_line(rows, rig))}. Only a passing test verifies a requirement.</p>"
            + table(["requirement", "status", "text", "source", f"tests on rig {rig}"], cells, row_classes=classes))


def _folder_link(result, page_dir: Path) -> str:
    """The run folder as a link relative to the page (to its report.html when there is one)."""
    if result is None or result.out_dir is None:
        return ""
    folder = Path(result.out_dir)
    return folder_link(folder, page_dir, folder.name)


def _test_section(entry: dict, anchor: str) -> str:
    outcome = entry.get("outcome", "?")
    is_open = " open" if outcome in OPEN_OUTCOMES else ""
    requirements = ", ".join(entry.get("requirements") or [])
    head = (f'{badge(outcome)} {esc(entry.get("nodeid", "?"))} '
            f'<span class="muted">({entry.get("duration_s") or 0.0:.2f} s'
            f'{"; " + esc(requirements) if requirements else ""})</span>')
    parts = [f'<details id="{anchor}" class="{esc(outcome)}"{is_open}><summary>{head}</summary>']
    if entry.get("message"):
        parts.append(f'<div class="message">{esc(entry["message"])}</div>')
    results = entry.get("results") or []
    if not results:
        parts.append('<p class="muted">No landing was flown.</p>')
    for result in results:
        parts.append(_landing(result))
    parts.append("</details>")
    return "\n".join(parts)


def _landing(result) -> str:
    """One landing inside a test's section: headline, plot, criteria, timing when real time."""
    summary = result.summary or {}
    reason = result.error or "; ".join(result.failure_lines())
    parts = [f'<div class="landing"><h3>{badge(result.verdict)} {esc(result.run.scenario.name)}, seed '
             f'{esc(result.seed)}, rig {esc(result.rig.name)}</h3>']
    if reason:
        parts.append(f'<p class="message">{esc(reason)}</p>')
    parts.append(landing_figure(landing_columns(result.record, result.out_dir), result.metrics))
    parts.append(criteria_table(result.checks))
    if is_realtime(summary):
        parts.append(timing_section(summary))
    parts.append("</div>")
    return "".join(parts)


def _coverage_section(summary: dict, page: Path, page_dir: Path) -> str:
    """Totals and concepts of the controller's coverage over the suite, linking the coverage page."""
    from hil.coverage.model import percent_text
    rows = [(esc(name), esc(percent_text(c["lines"])), esc(percent_text(c["branches"])))
            for name, c in summary["concepts"].items()]
    totals = summary["totals"]
    rows.append(("<b>total</b>", esc(percent_text(totals["lines"])), esc(percent_text(totals["branches"]))))
    link = folder_link(Path(page), page_dir, "the unreached lines, per file and function")
    return (f"<p>{esc(summary['subject'])} ({esc(summary['tool'])}) over {esc(summary['landings'])} landings: "
            f"{link}.</p>" + table(["concept", "lines", "branches"], rows, numeric=(1, 2)))
