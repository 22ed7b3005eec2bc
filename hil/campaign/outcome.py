"""A campaign's outcome from its store: the case rows, the checks that make it trustworthy
(one result per case, every dispersed value read back from the plant it flew), the statistics,
the verdict, and the files: campaign.json, cases.csv, report.html.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

from hil import metrics as metric_table
from hil.campaign import stats
from hil.campaign.store import Store
from hil.run import ERROR, FAIL, INCONCLUSIVE, PASS
from hil.telemetry import json_safe

JSON_FILE, CSV_FILE, REPORT_FILE = "campaign.json", "cases.csv", "report.html"
WORST = 10


def replay_command(folder: Path | str, case: int) -> str:
    return f"hil land --campaign {folder} --case {case}"


def case_rows(store: Store, folder: Path | str) -> list[dict]:
    """Every case with a result, in case order, as the statistics and the report take them."""
    results = store.results()
    rows = []
    for case, point, draw, seed, inputs in store.case_rows():
        r = results.get(case)
        if r is None:
            continue
        rows.append({"case": case, "point": point, "draw": draw, "seed": seed, "inputs": inputs, **r,
                     "replay": replay_command(folder, case)})
    return rows


def readback_check(rows: list[dict]) -> dict:
    """Did every dispersed and swept value reach the plant (or the device's config block)? A
    value read back from the flown landing must equal the case table's, exactly."""
    checked, mismatches = 0, []
    for row in rows:
        if row["verdict"] not in (PASS, FAIL):
            continue
        for path, asked in row["inputs"].items():
            checked += 1
            flew = row["readback"].get(path)
            if flew is None or not _same(flew, asked):
                mismatches.append({"case": row["case"], "input": path, "asked": asked, "flew": flew})
    return {"checked": checked, "mismatches": mismatches[:50], "mismatch_count": len(mismatches)}


def _same(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


def summarise(store: Store, folder: Path | str, decision: tuple | None = None, *, wall_s: float = 0.0,
              engine: str = "", workers: int = 0, flown_now: int = 0) -> tuple[dict, list[dict]]:
    """The campaign dict (campaign.json) and the case rows."""
    meta = store.meta()
    spec = meta["campaign"]
    rows = case_rows(store, folder)
    sprt = stats.Sprt(spec["target"], spec["confidence"]) if spec["sprt"] else None
    needed = None
    if sprt and decision and decision[0]:
        needed = set(range(decision[1]))          # the test decided on the first n cases
    completeness = store.completeness(needed)
    readback = readback_check(rows)
    passes = sum(r["verdict"] == PASS for r in rows)
    failures = sum(r["verdict"] == FAIL for r in rows)
    invalid = sum(r["verdict"] in (INCONCLUSIVE, ERROR) for r in rows)
    verdict, bound, why = stats.campaign_verdict(passes, failures, invalid, spec["target"], spec["confidence"])
    sprt_info = None
    if sprt:
        outcome, used = decision if decision else (None, 0)
        sprt_info = {**sprt.as_dict(), "description": sprt.describe(), "decision": outcome, "n_used": used}
        if outcome:
            verdict, why = outcome, f"sequential test ({sprt.describe()}) decided {outcome} after {used} cases; {why}"
    if not completeness["ok"]:
        verdict, why = ERROR, (f"incomplete: {completeness['missing_count']} of {completeness['needed']} cases have "
                               f"no result; finish it with: hil campaign --resume {folder}")
    if readback["mismatch_count"]:
        first = readback["mismatches"][0]
        verdict, why = ERROR, (f"{readback['mismatch_count']} dispersed or swept values did not reach the plant "
                               f"(case {first['case']}: {first['input']} asked {first['asked']!r}, flew {first['flew']!r})")
    names = [m.name for m in metric_table.METRICS]
    campaign = {
        "name": spec["name"], "scenario": spec["scenario_name"], "rig": meta.get("rig"), "engine": engine,
        "workers": workers, "seed": spec["seed"], "cases": completeness["cases"], "runs_per_point": spec["runs"],
        "target": spec["target"], "confidence": spec["confidence"],
        "runs_needed": stats.runs_needed(spec["target"], spec["confidence"]),
        "flown": len(rows), "flown_now": flown_now, "passes": passes, "failures": failures, "invalid": invalid,
        "lower_bound": bound, "verdict": verdict, "why": why, "wall_s": wall_s, "started": meta.get("created"),
        "dispersions": spec["dispersion_text"], "sweeps": dict(spec["sweeps"]), "controller": spec["controller"],
        "sprt": sprt_info, "metrics": stats.metrics_table(rows, names),
        "influence": stats.influence(rows), "separation": stats.separation(rows),
        "worst": stats.worst_cases(rows, count=WORST), "readback": readback, "completeness": completeness,
        "retries": store.attempts(),
    }
    return campaign, rows


def write_outputs(folder: Path, campaign: dict, rows: list[dict]) -> None:
    folder = Path(folder)
    (folder / JSON_FILE).write_text(json.dumps(json_safe(campaign), indent=2) + "\n")
    write_cases_csv(folder / CSV_FILE, rows)
    from hil.report.campaign_page import write_campaign_report
    write_campaign_report(campaign, rows, folder / REPORT_FILE)


def write_cases_csv(path: Path, rows: list[dict]) -> None:
    """One row per case: inputs, verdict, metrics, what failed, and how to fly it again."""
    inputs = sorted({k for r in rows for k in r["inputs"]})
    present = {k for r in rows for k in r["metrics"]}
    names = [m.name for m in metric_table.METRICS if m.name in present]
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["case", "point", "draw", "seed", "verdict", *inputs, *names, "failed", "error",
                         "attempts", "worker", "wall_s", "folder", "replay"])
        for r in rows:
            writer.writerow([r["case"], r["point"], r["draw"], r["seed"], r["verdict"],
                             *(repr(r["inputs"][k]) if k in r["inputs"] else "" for k in inputs),
                             *(_cell(r["metrics"].get(k)) for k in names), ";".join(r["failed"]),
                             r["error"] or "", r["attempts"], r["worker"] or "", f"{r['wall_s'] or 0.0:.3f}",
                             r["folder"] or "", r["replay"]])


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    return repr(value) if isinstance(value, float) else str(value)
