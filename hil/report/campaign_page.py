"""A campaign's page: many dispersed landings of one scenario on one self-contained page.

The verdict first (the lower bound on P(pass) against the target, the counts), then what was
flown (the campaign, its dispersions and sweeps), the metrics' statistics, the figures
(histograms of the touchdown speed and latency against their criteria, the touchdown speed
against the inputs that move it most), which inputs matter (influence, pass/fail separation),
then the cases that need looking at: each failure with its replay command and run folder, the
worst cases, the invalid ones, the retries; last, whether every case came back and whether the
plant flew the values it was given.

Like the suite page: inline CSS, no JavaScript, nothing fetched. The figures are matplotlib SVG
made compact (hil.report.figure.compact_svg); a scatter of more than RASTER_ABOVE cases draws its
points as embedded raster images (rasterized=True): the page of 10,000 cases is about 110 kB,
2.3 MB with every point an SVG marker.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from hil import metrics as metric_table
from hil.report.figure import compact_svg
from hil.report.page import badge, esc, folder_link, key_value_table, table, write_page

VZ, TD_LATENCY = "rover_vz_at_contact_mps", "td_latency_s"
INVALID = ("INCONCLUSIVE", "ERROR")      # the case says nothing about the controller
MAX_ROWS = 50                            # rows of any one table; the rest are counted
MAX_FAILURE_ROWS = 100                   # the failures table: every FAIL, up to this many
MAX_BINS = 40
CRITERION_REACH = 2.0                    # a limit within this many data spans is drawn on the histogram
SCATTER_INPUTS = 3                       # the top inputs of the influence table
RASTER_ABOVE = 500                       # a scatter panel with more points draws them as an image
FIGURE_DPI = 100                         # the rasterized points' resolution

# Colours of the page's CSS (hil/report/page.py): pass, fail, invalid.
COLOURS = {"PASS": "#1a7f37", "FAIL": "#cf222e", "invalid": "#8c959f"}
CRITERION_COLOUR = "#9a3412"

_RC = {"svg.fonttype": "none",      # text as <text>, as in hil/report/figure.py
       "font.family": "sans-serif", "font.sans-serif": ["DejaVu Sans"],
       "font.size": 8, "axes.titlesize": 8, "legend.fontsize": 7,
       "xtick.labelsize": 7, "ytick.labelsize": 7, "lines.linewidth": 1.0}


def write_campaign_report(campaign: dict, cases: list[dict], path: Path) -> Path:
    """Write the campaign's page to `path`. `campaign`: the campaign's summary (name, scenario,
    verdict, counts, statistics, influence, worst cases, completeness...); `cases`: one dict per
    case flown (case, seed, inputs, verdict, metrics, failed, error, replay, folder...). Missing
    optional keys are shown as absent, never an error."""
    path = Path(path)
    cases = list(cases or [])
    name = campaign.get("name") or "?"
    sections = [
        f"<h1>Campaign {esc(name)}</h1>",
        _banner(campaign),
        _counts(campaign, cases),
        "<h2>Campaign</h2>", key_value_table(_facts(campaign, cases)),
        "<h2>Dispersions and sweeps</h2>", _inputs_table(campaign),
        "<h2>Metrics</h2>", _metrics_table(campaign.get("metrics") or {}),
        "<h2>Figures</h2>", _histograms(cases), _scatters(cases, campaign.get("influence") or []),
        "<h2>Influence of each input</h2>", _influence_table(campaign),
        "<h2>Pass and fail separation</h2>", _separation_table(campaign, cases),
        "<h2>Failures</h2>", _failures_table(cases, path.parent),
        "<h2>Worst cases</h2>", _worst_table(campaign.get("worst") or []),
        "<h2>Inconclusive and error cases</h2>", _invalid_table(cases),
    ]
    if campaign.get("retries"):
        sections += ["<h2>Retries</h2>", _retries_table(campaign["retries"])]
    sections += ["<h2>Completeness and readback</h2>", _completeness(campaign.get("completeness")),
                 _readback(campaign.get("readback"))]
    title = f"Campaign {name}"
    return write_page(path, title, "\n".join(sections))


# --- verdict -------------------------------------------------------------------------------

def _banner_class(verdict) -> str:
    return {"PASS": "pass", "FAIL": "fail"}.get(verdict, "error")


def _banner(campaign: dict) -> str:
    """The verdict in large type, the one-line reason and the numbers it rests on."""
    verdict = str(campaign.get("verdict") or "NO VERDICT")
    items = [_count_line(campaign)]
    bound, target = campaign.get("lower_bound"), campaign.get("target")
    confidence = _percent(campaign.get("confidence"))
    if bound is not None:
        items.append(f"lower bound on P(pass) at {confidence} confidence: {_number(bound, 4)}"
                     f" (target {_number(target, 4) if target is not None else 'not set'})")
    if campaign.get("runs_needed") is not None:
        items.append(f"runs needed with zero failures to show P(pass) \u2265 {_number(target, 4)} at "
                     f"{confidence} confidence: {campaign['runs_needed']}")
    sprt = campaign.get("sprt")
    if sprt:
        items.append(f"sequential test (SPRT): {sprt.get('decision', '?')} after {sprt.get('n_used', '?')} "
                     f"landings{'; ' + str(sprt['description']) if sprt.get('description') else ''}")
    why = campaign.get("why")
    head = f'<span class="why">{esc(why)}</span>' if why else ""
    lines = "".join(f"<li>{esc(line)}</li>" for line in items if line)
    return (f'<div class="banner {_banner_class(verdict)}"><span class="verdict">{esc(verdict)}</span>'
            f'{head}<ul>{lines}</ul></div>')


def _count_line(campaign: dict) -> str:
    parts = [f"{campaign[key]} {text}" for key, text in
             (("cases", "cases"), ("passes", "passes"), ("failures", "failures"), ("invalid", "invalid"))
             if campaign.get(key) is not None]
    return ", ".join(parts)


def _counts(campaign: dict, cases: list[dict]) -> str:
    """The counts as boxes, like the suite page's (from the campaign, else counted from the cases)."""
    counted = {"PASS": 0, "FAIL": 0, "invalid": 0}
    for case in cases:
        verdict = case.get("verdict")
        counted["invalid" if verdict in INVALID or verdict not in counted else verdict] += 1
    boxes = [("passes", "PASS", "pass", "pass"), ("failures", "FAIL", "fail", "fail"),
             ("invalid", "invalid", "error", "invalid")]
    html = [f'<div class="count {css}"><b>{esc(_or(campaign.get(key), counted[verdict]))}</b>{esc(text)}</div>'
            for key, verdict, css, text in boxes]
    return f'<div class="counts">{"".join(html)}</div>'


# --- what was flown ------------------------------------------------------------------------

def _facts(campaign: dict, cases: list[dict]) -> list[tuple[str, str]]:
    engine = campaign.get("engine") or "?"
    workers = campaign.get("workers")
    if workers is not None:
        engine += f", {workers} worker{'s' if workers != 1 else ''}"
    flown = _flown(campaign, cases)
    wall = campaign.get("wall_s")
    pairs = [("campaign", campaign.get("name")), ("scenario", campaign.get("scenario")),
             ("rig", campaign.get("rig")), ("engine", engine), ("seed", campaign.get("seed")),
             ("cases", campaign.get("cases")), ("runs per sweep point", campaign.get("runs_per_point")),
             ("target P(pass)", _number(campaign.get("target"), 4) if campaign.get("target") is not None else None),
             ("confidence", _percent(campaign.get("confidence")) if campaign.get("confidence") is not None else None),
             ("started", campaign.get("started")),
             ("wall time", _duration(wall) if _finite(wall) else None),
             ("landings per minute", f"{60.0 * flown / wall:.1f} ({flown} landings)"
              if _finite(wall) and wall > 0 and flown else None)]
    return [(k, str(v)) for k, v in pairs if v is not None]


def _flown(campaign: dict, cases: list[dict]) -> int:
    """How many landings came back: the completeness count, else the cases given."""
    results = (campaign.get("completeness") or {}).get("results")
    return int(results) if isinstance(results, (int, float)) and not isinstance(results, bool) else len(cases)


def _inputs_table(campaign: dict) -> str:
    rows = [(f"<code>{esc(p)}</code>", "dispersed", esc(what))
            for p, what in (campaign.get("dispersions") or {}).items()]
    rows += [(f"<code>{esc(p)}</code>", "swept", esc(", ".join(_short(v) for v in values)
                                                     if isinstance(values, (list, tuple)) else values))
             for p, values in (campaign.get("sweeps") or {}).items()]
    if not rows:
        return '<p class="muted">No input was dispersed or swept.</p>'
    return _capped(("input", "how", "values"), rows)


def _metrics_table(stats: dict) -> str:
    """One row per metric: label, unit, n, mean, std, min, max and the +-3 sigma percentiles."""
    if not stats:
        return '<p class="muted">No metric statistics.</p>'
    order = {name: i for i, name in enumerate(metric_table.NAMES)}
    rows = []
    for name in sorted(stats, key=lambda n: (order.get(n, len(order)), n)):
        s = stats[name] or {}
        label, unit = metric_table.label(name)
        rows.append([esc(label), esc(unit), esc(_or(s.get("n"), ""))]
                    + [esc(_number(s.get(k))) for k in ("mean", "std", "min", "max", "p0135", "p99865")])
    return _capped(("metric", "unit", "n", "mean", "std", "min", "max", "0.135 %", "99.865 %"), rows,
                   numeric=tuple(range(2, 9)), limit=100)


# --- figures -------------------------------------------------------------------------------

def _histograms(cases: list[dict]) -> str:
    """Rover vertical speed at contact and touchdown latency: stacked by verdict, with the
    metrics' default criteria as vertical lines."""
    names = [name for name in (VZ, TD_LATENCY) if _finite_values(cases, name)]
    notes = [_no_values_note(name, cases) for name in (VZ, TD_LATENCY) if name not in names]
    if not names:
        return "".join(notes)
    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=(10, 3.0), layout="constrained")
        axes = fig.subplots(1, len(names), squeeze=False)[0]
        for ax, name in zip(axes, names):
            _histogram(ax, cases, name)
        svg = _svg(fig)
    caption = (f"{len(cases)} cases, at most {MAX_BINS} bins; dashed: the metric's default criterion "
               "(hil/metrics.py), named but not drawn when far from every value. Cases where the metric "
               "was not measured are left out.")
    return _figure(svg, caption) + "".join(notes)


def _histogram(ax, cases: list[dict], name: str) -> None:
    label, unit = metric_table.label(name)
    groups = _by_verdict(cases, lambda case: _float((case.get("metrics") or {}).get(name)))
    finite = np.concatenate([values for values in groups.values()])
    edges = bin_edges(finite)
    present = [(key, values) for key, values in groups.items() if len(values)]
    ax.hist([values for _, values in present], bins=edges, stacked=True,
            color=[COLOURS[key] for key, _ in present],
            label=[f"{key} ({len(values)})" for key, values in present])
    # A limit far from every value (touchdown latency's 3 s max against values near 0.3 s) would
    # squash the histogram into a sliver: it is named in the legend but left off the axis.
    lo, hi = float(edges[0]), float(edges[-1])
    reach = CRITERION_REACH * (hi - lo)
    view = [lo, hi]
    for kind, limit in criterion_limits(name):
        text = f"{kind} {_short(limit)} {unit}".strip()
        if lo - reach <= limit <= hi + reach:
            view = [min(view[0], limit), max(view[1], limit)]
        else:
            text += f" (off to the {'right' if limit > hi else 'left'})"
        ax.axvline(limit, color=CRITERION_COLOUR, linestyle="--", linewidth=1.0, label=text)
    pad = 0.03 * (view[1] - view[0])
    ax.set_xlim(view[0] - pad, view[1] + pad)
    ax.set_xlabel(f"{label} [{unit}]" if unit else label, parse_math=False)
    ax.set_ylabel("cases")
    ax.set_title(f"{label}: {len(finite)} measured", parse_math=False)
    ax.grid(True, alpha=0.3)
    ax.legend(frameon=False, loc="best")


def bin_edges(values: np.ndarray) -> np.ndarray:
    """At most MAX_BINS bins (about the square root of the count), one bin for a single value."""
    bins = int(min(MAX_BINS, max(1, math.ceil(math.sqrt(len(values))))))
    return np.histogram_bin_edges(values, bins=bins)


def criterion_limits(name: str) -> list[tuple[str, float]]:
    """The numeric min and max of a metric's default criterion: [("max", 1.0)] and the like."""
    metric = metric_table.BY_NAME.get(name)
    if metric is None:
        return []
    pairs = zip(metric.default[::2], metric.default[1::2])
    return [(kind, float(value)) for kind, value in pairs
            if kind in ("min", "max") and isinstance(value, (int, float)) and not isinstance(value, bool)]


def _scatters(cases: list[dict], influence: list[dict]) -> str:
    """Rover vertical speed at contact against the top inputs of the influence table."""
    top = [row for row in influence if row.get("input") is not None
           and any(row["input"] in (case.get("inputs") or {}) for case in cases)][:SCATTER_INPUTS]
    if not top:
        return '<p class="no-plot">No scatter plot: no input with an influence figure was dispersed or swept.</p>'
    if not _finite_values(cases, VZ):
        return ""   # the histogram note already says there is no touchdown speed to plot
    label, unit = metric_table.label(VZ)
    raster = False
    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=(10, 3.0), layout="constrained")
        axes = fig.subplots(1, len(top), squeeze=False, sharey=True)[0]
        for ax, row in zip(axes, top):
            raster |= _scatter(ax, cases, row)
        axes[0].set_ylabel(f"{label} [{unit}]", parse_math=False)
        handles = [Line2D([], [], linestyle="", marker="o", markersize=4, color=COLOURS[k], label=k)
                   for k in ("PASS", "FAIL", "invalid")]
        handles += [Line2D([], [], color=CRITERION_COLOUR, linestyle="--", label=f"{kind} {_short(v)} {unit}")
                    for kind, v in criterion_limits(VZ)]
        fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), frameon=False)
        svg = _svg(fig)
    caption = (f"{label} against the {len(top)} input{'s' if len(top) > 1 else ''} with the largest "
               f"Spearman rank correlation; failing cases red, passing green, invalid grey"
               f"{'; the points are drawn as an image' if raster else ''}.")
    return _figure(svg, caption)


def _scatter(ax, cases: list[dict], row: dict) -> bool:
    """One panel; True when its points were rasterized."""
    name = row["input"]
    points = [case for case in cases if name in (case.get("inputs") or {})]
    raster = len(points) > RASTER_ABOVE
    size = 4 if len(points) > 2000 else 9
    # PASS first, FAIL last: the few red points stay on top. (One collection per verdict: with a
    # colour per point instead, the SVG names the colour at every marker, a third larger.)
    for key in ("PASS", "invalid", "FAIL"):
        x, y = _by_verdict_pairs(points, name, key)
        if len(x):
            ax.scatter(x, y, s=size, color=COLOURS[key], linewidths=0, rasterized=raster,
                       zorder=3 if key == "FAIL" else 2)
    for _, limit in criterion_limits(VZ):
        ax.axhline(limit, color=CRITERION_COLOUR, linestyle="--", linewidth=1.0, zorder=4)
    rho = row.get("rho")
    title = f"Spearman's \u03c1 = {rho:+.2f}" if _finite(rho) else "Spearman's \u03c1 not computed"
    if _finite(row.get("p")):
        title += f" (p {_p(row['p'])})"
    ax.set_title(title, parse_math=False)
    ax.set_xlabel(str(name), parse_math=False)
    ax.grid(True, alpha=0.3)
    return raster


def _by_verdict_pairs(cases: list[dict], name: str, key: str) -> tuple[np.ndarray, np.ndarray]:
    chosen = [case for case in cases if _group(case.get("verdict")) == key]
    x = np.array([_float(case["inputs"].get(name)) for case in chosen], dtype=float)
    y = np.array([_float((case.get("metrics") or {}).get(VZ)) for case in chosen], dtype=float)
    keep = np.isfinite(x) & np.isfinite(y)
    return x[keep], y[keep]


def _group(verdict) -> str:
    return verdict if verdict in ("PASS", "FAIL") else "invalid"


def _by_verdict(cases: list[dict], value) -> dict[str, np.ndarray]:
    """{PASS, FAIL, invalid: the finite values of `value(case)`}."""
    groups: dict[str, list[float]] = {"PASS": [], "FAIL": [], "invalid": []}
    for case in cases:
        v = value(case)
        if math.isfinite(v):
            groups[_group(case.get("verdict"))].append(v)
    return {key: np.asarray(values, dtype=float) for key, values in groups.items()}


def _finite_values(cases: list[dict], name: str) -> bool:
    return any(math.isfinite(_float((case.get("metrics") or {}).get(name))) for case in cases)


def _no_values_note(name: str, cases: list[dict]) -> str:
    label, _ = metric_table.label(name)
    return (f'<p class="no-plot">No histogram of {esc(label)}: not measured in any of the '
            f'{len(cases)} cases.</p>')


def _svg(fig: Figure) -> str:
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", dpi=FIGURE_DPI)
    return compact_svg(buffer.getvalue())


def _figure(svg: str, caption: str) -> str:
    return f'<figure class="landing-plot">{svg}<figcaption class="muted">{esc(caption)}</figcaption></figure>'


# --- which inputs matter -------------------------------------------------------------------

def _influence_table(campaign: dict) -> str:
    rows = campaign.get("influence") or []
    if not rows:
        return '<p class="muted">No influence figures (no input was dispersed or swept).</p>'
    cells = [(f"<code>{esc(r.get('input'))}</code>", esc(_signed(r.get("rho"))), esc(_p(r.get("p"))),
              esc(_or(r.get("n"), ""))) for r in rows]
    note = (f'<p class="muted">Spearman rank correlation of each input with '
            f'{esc(metric_table.label(VZ)[0])}, largest first.</p>')
    return note + _capped(("input", "Spearman's \u03c1", "p", "n"), cells, numeric=(1, 2, 3))


def _separation_table(campaign: dict, cases: list[dict]) -> str:
    rows = campaign.get("separation") or []
    if not rows:
        failures = campaign.get("failures")
        if failures is None:
            failures = sum(case.get("verdict") == "FAIL" for case in cases)
        return ('<p class="muted">no failures: nothing to separate</p>' if not failures
                else '<p class="muted">No separation figures were computed.</p>')
    cells = [(f"<code>{esc(r.get('input'))}</code>", esc(_number(r.get("pass_median"))),
              esc(_number(r.get("fail_median"))), esc(_p(r.get("p"))), esc(_number(r.get("auc"), 2)))
             for r in rows]
    note = ('<p class="muted">Each input\'s median in the passing and the failing cases, the Mann-Whitney '
            'p-value and the AUC (0.5: the input does not tell them apart).</p>')
    return note + _capped(("input", "pass median", "fail median", "p", "AUC"), cells, numeric=(1, 2, 3, 4))


# --- the cases -----------------------------------------------------------------------------

def _failures_table(cases: list[dict], page_dir: Path) -> str:
    failures = sorted((c for c in cases if c.get("verdict") == "FAIL"), key=_case_number)
    if not failures:
        return '<p class="muted">No case failed.</p>'
    rows = [(esc(_or(c.get("case"), "?")), esc(_or(c.get("seed"), "")), _failed_criteria(c),
             _replay(c), _folder(c.get("folder"), page_dir)) for c in failures]
    return _capped(("case", "seed", "failed criteria", "replay", "run folder"), rows,
                   row_classes=["failed"] * len(rows), numeric=(0, 1), limit=MAX_FAILURE_ROWS)


def _failed_criteria(case: dict) -> str:
    """One line per failed criterion: label, value with unit, and the default criterion."""
    values = case.get("metrics") or {}
    lines = []
    for name in case.get("failed") or []:
        label, unit = metric_table.label(name)
        limits = ", ".join(f"{kind} {_short(v)}" for kind, v in criterion_limits(name))
        text = f"{label}: {metric_table.format_value(values.get(name), unit)}"
        lines.append(esc(text) + (f' <span class="muted">({esc(limits)})</span>' if limits else ""))
    return "<br>".join(lines) or '<span class="muted">none named</span>'


def _worst_table(worst: list[dict]) -> str:
    if not worst:
        return '<p class="muted">No worst cases listed.</p>'
    _, vz_unit = metric_table.label(VZ)
    _, td_unit = metric_table.label(TD_LATENCY)
    rows = [(esc(_or(c.get("case"), "?")), _verdict_badge(c.get("verdict")),
             esc(metric_table.format_value((c.get("metrics") or {}).get(VZ), vz_unit)),
             esc(metric_table.format_value((c.get("metrics") or {}).get(TD_LATENCY), td_unit)),
             _replay(c)) for c in worst]
    classes = ["failed" if c.get("verdict") != "PASS" else "" for c in worst]
    return _capped(("case", "verdict", metric_table.label(VZ)[0], metric_table.label(TD_LATENCY)[0], "replay"),
                   rows, row_classes=classes, numeric=(0, 2, 3))


def _invalid_table(cases: list[dict]) -> str:
    invalid = sorted((c for c in cases if c.get("verdict") in INVALID), key=_case_number)
    if not invalid:
        return '<p class="muted">No case ended INCONCLUSIVE or ERROR.</p>'
    rows = [(esc(_or(c.get("case"), "?")), _verdict_badge(c.get("verdict")), esc(_or(c.get("attempts"), "")),
             esc(_or(c.get("worker"), "")), esc(c.get("error") or "no error line"), _replay(c)) for c in invalid]
    return _capped(("case", "verdict", "attempts", "worker", "error", "replay"), rows, numeric=(0, 2))


def _retries_table(retries: list[dict]) -> str:
    rows = [(esc(_or(r.get("case"), "?")), esc(_or(r.get("attempt"), "")), esc(_or(r.get("worker"), "")),
             esc(r.get("error") or "")) for r in retries]
    return _capped(("case", "attempt", "worker", "error"), rows, numeric=(0, 1))


def _completeness(done) -> str:
    if not done:
        return '<p class="muted">Completeness: not checked.</p>'
    missing = list(done.get("missing") or [])
    shown = ", ".join(str(m) for m in missing[:MAX_ROWS])
    more = f" and {len(missing) - MAX_ROWS} more" if len(missing) > MAX_ROWS else ""
    ok = done.get("ok", not missing)
    line = (f"Completeness: {_or(done.get('cases'), '?')} cases, {_or(done.get('results'), '?')} results, "
            f"missing: {shown + more if missing else 'none'}.")
    return f'<p>{badge("PASS" if ok else "FAIL")} {esc(line)}</p>'


def _readback(readback) -> str:
    if not readback:
        return '<p class="muted">Readback: not checked.</p>'
    mismatches = list(readback.get("mismatches") or [])
    line = (f"Readback: {_or(readback.get('checked'), '?')} dispersed values read back from the flown plant, "
            f"{len(mismatches)} mismatch{'es' if len(mismatches) != 1 else ''}.")
    items = "".join(f"<li>{esc(_describe(m))}</li>" for m in mismatches[:MAX_ROWS])
    more = f'<p class="muted">{len(mismatches) - MAX_ROWS} more not shown.</p>' if len(mismatches) > MAX_ROWS else ""
    return (f'<p>{badge("FAIL" if mismatches else "PASS")} {esc(line)}</p>'
            + (f"<ul>{items}</ul>{more}" if items else ""))


def _verdict_badge(verdict) -> str:
    """A case's verdict; INCONCLUSIVE in the error colour, as the banner shows it."""
    if verdict == "INCONCLUSIVE":
        return f'<span class="badge error">{esc(verdict)}</span>'
    return badge(str(verdict or "?"))


def _replay(case: dict) -> str:
    return f"<code>{esc(case['replay'])}</code>" if case.get("replay") else ""


def _folder(folder, page_dir: Path) -> str:
    """The case's run folder as a link relative to the page (to its report.html when it has one)
    when it exists; its text otherwise."""
    if not folder:
        return ""
    where = page_dir / folder
    if not where.is_dir():
        return f'<span class="mono">{esc(folder)}</span>'
    return folder_link(where, page_dir, str(folder))


# --- small helpers -------------------------------------------------------------------------

def _capped(headers, rows, *, row_classes=None, numeric=(), limit: int = MAX_ROWS) -> str:
    """A table of at most `limit` rows, saying how many more there are."""
    rows = list(rows)
    shown = table(headers, rows[:limit], row_classes=row_classes[:limit] if row_classes else None, numeric=numeric)
    if len(rows) > limit:
        shown += f'<p class="muted">{len(rows) - limit} more not shown ({len(rows)} in all).</p>'
    return shown


def _case_number(case: dict):
    number = case.get("case")
    return (0, number) if isinstance(number, (int, float)) else (1, str(number))


def _float(value) -> float:
    if value is None or isinstance(value, bool):
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _finite(value) -> bool:
    return math.isfinite(_float(value))


def _or(value, default):
    return default if value is None else value


def _number(value, decimals: int = 3) -> str:
    """A table number: `decimals` decimals, an integer as an integer, "-" when not a number."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    v = _float(value)
    return f"{v:.{decimals}f}" if math.isfinite(v) else "-"


def _short(value) -> str:
    """A limit or a swept value as written: 1.0 -> "1", 0.2 -> "0.2"."""
    v = _float(value)
    return f"{v:g}" if math.isfinite(v) else str(value)


def _signed(value) -> str:
    return f"{_float(value):+.3f}" if _finite(value) else "-"


def _p(value) -> str:
    v = _float(value)
    if not math.isfinite(v):
        return "-"
    return f"{v:.1e}" if v < 1e-3 else f"{v:.3f}"


def _percent(value) -> str:
    v = _float(value)
    return f"{100.0 * v:g} %" if math.isfinite(v) else "?"


def _duration(seconds) -> str:
    s = float(seconds)
    if s < 60:
        return f"{s:.1f} s"
    minutes, rest = divmod(round(s), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{s:.1f} s ({f'{hours} h ' if hours else ''}{minutes} min {rest} s)"


def _describe(item) -> str:
    if isinstance(item, dict):
        return ", ".join(f"{k} {v}" for k, v in item.items())
    return str(item)
