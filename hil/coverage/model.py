"""A coverage summary as data: line and branch figures per file, per function and per concept.

Both measurements end here: gcov's counts of the firmware core (hil/coverage/gcov.py) and
coverage.py's of the Python reference controller (hil/coverage/python.py) become the same
JSON-ready dict, so one text table, one coverage.json layout and one HTML page serve both, and
the two controllers can be compared concept by concept (state machine, navigation, touchdown
detection, ...).

    {"subject": "firmware/core", "tool": "gcov 12.2.0", "rig": ..., "landings": N, "device_starts": N,
     "totals": {"lines": FIGURE, "branches": FIGURE},
     "files": {"core/app.c": {"source": PATH, "lines": FIGURE, "branches": FIGURE,
                              "functions": [{"name", "start_line", "end_line", "calls", "lines", "branches"}],
                              "line_counts": {"17": 2, ...},          # every executable line
                              "unreached_lines": [...],
                              "branches_not_taken": [{"line": 21, "branch": 1, "to": None}, ...]}},
     "concepts": {"state machine": {"lines": FIGURE, "branches": FIGURE, "functions": ["core/x.c:f", ...]}}}

FIGURE is {"covered": n, "total": n, "percent": float or None (nothing to cover)}.
"""

from __future__ import annotations

# The controller's concepts, named alike in both languages (docs/controller.md), by function.
# A function not named here takes its file's concept; a file not named here, "other".
_C_FILE_CONCEPTS = {"core/ctl_navigation.c": "navigation", "core/app.c": "register bank (device app)",
                    "core/mb_server.c": "Modbus RTU server", "core/mb_crc.c": "Modbus RTU server",
                    "core/ctl_controller.c": "state machine"}
_C_FUNCTION_CONCEPTS = {
    "ctl_detect_touchdown": "touchdown detection",
    "ctl_guidance": "guidance and throttle", "ctl_track": "guidance and throttle",
    "ctl_rescale_throttle": "guidance and throttle", "ctl_available_thrust": "guidance and throttle",
    "ctl_clip": "guidance and throttle",
    "ctl_flyaway": "flyaway",
    "ctl_fix_us": "time arithmetic", "ctl_ceil_us": "time arithmetic", "ctl_elapsed_us": "time arithmetic",
}
_PY_FILE_CONCEPTS = {"hil/reference/navigation.py": "navigation", "hil/reference/controller.py": "state machine"}
_PY_FUNCTION_CONCEPTS = {
    "ReferenceController._detect_touchdown": "touchdown detection",
    "ReferenceController._guidance": "guidance and throttle", "ReferenceController._track": "guidance and throttle",
    "ReferenceController._rescale_throttle": "guidance and throttle", "available_thrust": "guidance and throttle",
    "_clip": "guidance and throttle",
    "ReferenceController._flyaway": "flyaway",
    "duration_us": "time arithmetic",
}
CONCEPTS = ("state machine", "navigation", "touchdown detection", "guidance and throttle", "flyaway",
            "time arithmetic", "register bank (device app)", "Modbus RTU server", "module level", "other")


def figure(covered: int, total: int) -> dict:
    return {"covered": covered, "total": total, "percent": 100.0 * covered / total if total else None}


def add(a: dict, b: dict) -> dict:
    return figure(a["covered"] + b["covered"], a["total"] + b["total"])


EMPTY = figure(0, 0)


def percent_text(fig: dict) -> str:
    """'83.1 % (123/148)', or 'n/a' when there is nothing to cover."""
    if not fig["total"]:
        return "n/a"
    return f"{fig['percent']:5.1f} % ({fig['covered']}/{fig['total']})"


def concept_of(file: str, function: str) -> str:
    if not function:
        return "module level"
    if function in _C_FUNCTION_CONCEPTS and file.endswith((".c", ".h")):
        return _C_FUNCTION_CONCEPTS[function]
    if function in _PY_FUNCTION_CONCEPTS:
        return _PY_FUNCTION_CONCEPTS[function]
    return _C_FILE_CONCEPTS.get(file) or _PY_FILE_CONCEPTS.get(file) or "other"


def finish(summary: dict) -> dict:
    """Fill in the totals and the concepts from the files' figures (in place; returns it)."""
    lines, branches = EMPTY, EMPTY
    concepts: dict[str, dict] = {}
    for name, entry in summary["files"].items():
        lines, branches = add(lines, entry["lines"]), add(branches, entry["branches"])
        for function in entry["functions"]:
            concept = concepts.setdefault(concept_of(name, function["name"]),
                                          {"lines": EMPTY, "branches": EMPTY, "functions": []})
            concept["lines"] = add(concept["lines"], function["lines"])
            concept["branches"] = add(concept["branches"], function["branches"])
            concept["functions"].append(f"{name}:{function['name'] or '(module)'}")
    summary["totals"] = {"lines": lines, "branches": branches}
    summary["concepts"] = {c: concepts[c] for c in CONCEPTS if c in concepts}
    return summary


def text_summary(summary: dict) -> str:
    """The printed summary: totals, then one row per file and per function."""
    landings, starts = summary["landings"], summary["device_starts"]
    head = (f"  coverage of {summary['subject']} ({summary['tool']}) over {landings} landing{'s' * (landings != 1)}, "
            f"{starts} device start{'s' * (starts != 1)}")
    out = [head]
    out.append(f"  {'file / function':<44} {'lines':>20}   {'branches':>20}")
    for name, entry in summary["files"].items():
        out.append(f"  {name:<44} {percent_text(entry['lines']):>20}   {percent_text(entry['branches']):>20}")
        for function in entry["functions"]:
            label = "  " + (function["name"] or "(module level)")
            out.append(f"  {label[:44]:<44} {percent_text(function['lines']):>20}   "
                       f"{percent_text(function['branches']):>20}")
    totals = summary["totals"]
    out.append(f"  {'total':<44} {percent_text(totals['lines']):>20}   {percent_text(totals['branches']):>20}")
    return "\n".join(out)


def concept_table(first: dict, second: dict | None = None) -> str:
    """Line and branch coverage per concept, of one summary or of two side by side."""
    summaries = [s for s in (first, second) if s is not None]
    head = f"  {'concept':<28}" + "".join(f" {s['subject'] + ' lines':>22} {'branches':>20}" for s in summaries)
    out = [head]
    names = [c for c in CONCEPTS if any(c in s["concepts"] for s in summaries)]
    for concept in names:
        row = f"  {concept:<28}"
        for s in summaries:
            entry = s["concepts"].get(concept)
            row += (f" {percent_text(entry['lines']):>22} {percent_text(entry['branches']):>20}" if entry
                    else f" {'-':>22} {'-':>20}")
        out.append(row)
    row = f"  {'total':<28}"
    for s in summaries:
        row += f" {percent_text(s['totals']['lines']):>22} {percent_text(s['totals']['branches']):>20}"
    out.append(row)
    return "\n".join(out)
