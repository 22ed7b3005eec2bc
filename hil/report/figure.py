"""The landing plot of a report: small enough to inline thirty of them in one page.

Altitude, vertical velocity, throttle and controller state against time, the whole flight on
the left and the touchdown on the right, with separation, contact, touchdown declared and cut
marked. Each series is cut to a few hundred points first (the min and max of each time bucket,
so peaks survive) and the controller state to its transitions (exact). The figure is inlined as
SVG with text left as text, coordinates rounded to 0.1 pt and repeated styles named once: about
47 kB, against 89 kB for a base64 PNG at 72 dpi (59 kB at a blurry 50 dpi), and sharp when zoomed.
"""

from __future__ import annotations

import base64
import hashlib
import io
import math
import re
from collections.abc import Mapping
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from hil import icd
from hil.report.page import esc
from hil.telemetry import TELEMETRY_FILE, read_telemetry

POINTS_PER_SERIES = 300   # per series and per column
PNG_DPI = 72              # only for image="png"

# (metric holding the plant time, label, colour): the vertical event lines.
EVENTS = (("separation_time_s", "separation", "tab:blue"), ("contact_time_s", "contact", "tab:green"),
          ("td_declared_time_s", "touchdown declared", "tab:orange"), ("cut_time_s", "cut", "tab:red"))

# (y label, ((column, legend name), ...)): one row of panels each.
PANELS = (
    ("altitude [m]", (("truth_ds_z", "descent stage"), ("truth_rover_z", "rover wheels"))),
    ("vertical velocity [m/s]", (("truth_ds_vz", "descent stage"), ("truth_rover_vz", "rover"))),
    ("throttle [-]", (("cmd_throttle", "commanded"), ("truth_throttle_actual", "actual"))),
    ("controller state", (("cmd_state", "state"),)),
)
STATE_COLUMN = "cmd_state"
COLUMNS = ("truth_t",) + tuple(column for _, series in PANELS for column, _ in series)

_RC = {"svg.fonttype": "none",      # text as <text>, not glyph outlines
       "font.family": "sans-serif", "font.sans-serif": ["DejaVu Sans"],  # a short font list per <text>
       "font.size": 8, "axes.titlesize": 8, "legend.fontsize": 7,
       "xtick.labelsize": 7, "ytick.labelsize": 7, "lines.linewidth": 1.0}


def landing_columns(record, out_dir: Path | None) -> Mapping | None:
    """The columns to plot: the in-memory record, else the run folder's telemetry.csv, else None."""
    if record is not None and len(record):
        return record
    csv = Path(out_dir) / TELEMETRY_FILE if out_dir is not None else None
    if csv is not None and csv.is_file():
        columns = read_telemetry(csv)
        if columns.get("truth_t"):
            return {name: np.asarray(columns[name], dtype=float) for name in COLUMNS if name in columns}
    return None


def landing_figure(columns: Mapping | None, metrics: dict, *, image: str = "svg", faults: list[dict] = ()) -> str:
    """The plot as an HTML <figure> (inline SVG, or a base64 PNG with image="png"); a note when
    there is nothing to plot."""
    if columns is None or any(name not in columns for name in COLUMNS) or len(columns["truth_t"]) < 2:
        return '<p class="no-plot">No plot: this run kept no cycle record and left no telemetry.csv.</p>'
    t = np.asarray(columns["truth_t"], dtype=float)
    window = touchdown_window(metrics, t)
    with matplotlib.rc_context(_RC):
        fig = _draw(columns, t, metrics, window, faults)
        buffer = io.BytesIO()
        fig.savefig(buffer, format=image, dpi=PNG_DPI)
    if image == "svg":
        graphic = compact_svg(buffer.getvalue().decode("utf-8"))
    else:
        graphic = (f'<img alt="landing plot" src="data:image/png;base64,'
                   f'{base64.b64encode(buffer.getvalue()).decode("ascii")}">')
    zoom = f"{window[0]:.1f} to {window[1]:.1f} s" if window else "not available"
    caption = (f"Left: the whole flight. Right: around touchdown ({zoom}). {len(t)} cycles, each series "
               f"drawn from at most {POINTS_PER_SERIES} points per side (min and max per time bucket).")
    return f'<figure class="landing-plot">{graphic}<figcaption class="muted">{esc(caption)}</figcaption></figure>'


def touchdown_window(metrics: dict, t: np.ndarray) -> tuple[float, float] | None:
    """The plant-time window around contact and touchdown (separation if there was no contact)."""
    contact, separation = _time(metrics, "contact_time_s"), _time(metrics, "separation_time_s")
    if contact is not None:
        later = [v for v in (_time(metrics, "td_declared_time_s"), _time(metrics, "cut_time_s")) if v is not None]
        start, end = contact - 5.0, max([contact + 5.0] + [v + 3.0 for v in later])
    elif separation is not None:
        start, end = separation - 2.0, separation + 20.0
    else:
        return None
    start, end = max(start, float(t[0])), min(end, float(t[-1]))
    return (start, end) if end > start else None


def decimate(t: np.ndarray, y: np.ndarray, points: int = POINTS_PER_SERIES) -> tuple[np.ndarray, np.ndarray]:
    """At most `points` samples: the first, the last, and each time bucket's min and max."""
    n = len(t)
    if n <= points:
        return t, y
    keep = {0, n - 1}
    finite = np.isfinite(y)
    edges = np.linspace(0, n, (points - 2) // 2 + 1).astype(int)
    for lo, hi in zip(edges[:-1], edges[1:]):
        idx = np.flatnonzero(finite[lo:hi]) + lo
        if len(idx):
            keep.add(int(idx[np.argmin(y[idx])]))
            keep.add(int(idx[np.argmax(y[idx])]))
    order = np.array(sorted(keep))
    return t[order], y[order]


def transitions(t: np.ndarray, state: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A step series cut to where it changes (and its last sample): exact when drawn as steps."""
    if len(t) == 0:
        return t, state
    order = np.unique(np.concatenate(([0], np.flatnonzero(np.diff(state)) + 1, [len(t) - 1])))
    return t[order], state[order]


def _draw(columns: Mapping, t: np.ndarray, metrics: dict, window, faults: list[dict] = ()) -> Figure:
    fig = Figure(figsize=(10, 6.4))
    # Fixed margins, measured for these labels: a constrained layout would double the drawing time.
    axes = fig.subplots(len(PANELS), 2, sharex="col", gridspec_kw=dict(
        left=0.115, right=0.885, bottom=0.1, top=0.955, wspace=0.1, hspace=0.12))
    visited = sorted({int(s) for s in np.asarray(columns[STATE_COLUMN], dtype=float) if math.isfinite(s)})
    sides = [(0, np.ones(len(t), dtype=bool))]
    if window:
        sides.append((1, (t >= window[0]) & (t <= window[1])))
    for row, (ylabel, series) in enumerate(PANELS):
        for col, in_view in sides:
            ax = axes[row][col]
            for column, name in series:
                y = np.asarray(columns[column], dtype=float)[in_view]
                if column == STATE_COLUMN:
                    ax.plot(*transitions(t[in_view], y), label=name, drawstyle="steps-post")
                else:
                    ax.plot(*decimate(t[in_view], y), label=name)
            _mark_events(ax, metrics, t[in_view])
            if len(t):
                shade_faults(ax, faults, float(t[-1]))
            ax.grid(True, alpha=0.3)
            if series[0][0] == STATE_COLUMN:
                ax.set_yticks(visited)
                ax.set_yticklabels([_state_name(s) for s in visited] if col == 0 else [])
            if col == 0:
                ax.set_ylabel(ylabel)
            if row == 0:
                ax.set_title("whole flight" if col == 0 else "around touchdown")
    if not window:
        axes[0][1].set_title("around touchdown: no separation or contact in this run")
        for row in axes:
            row[1].set_axis_off()
    axes[-1][0].set_xlabel("plant time [s]")
    axes[-1][1].set_xlabel("plant time [s]")
    for row, (_, series) in enumerate(PANELS[:-1]):   # the state row needs no legend
        lines = axes[row][0].get_lines()[:len(series)]
        axes[row][1].legend(handles=lines, loc="center left", bbox_to_anchor=(1.02, 0.5), frameon=False)
    events = [Line2D([], [], color=colour, linestyle="--", linewidth=0.8, label=label)
              for metric, label, colour in EVENTS if _time(metrics, metric) is not None]
    if any(f.get("applied") for f in faults):
        events.append(Patch(color="tab:red", alpha=0.12, label="fault active"))
    if events:
        fig.legend(handles=events, loc="lower center", ncols=len(events), frameon=False)
    return fig


def shade_faults(ax, faults, end_t: float, label_them: bool = False) -> None:
    """Each applied fault as a shaded span from its start to its end (or the end of the run)."""
    for f in faults:
        if f.get("applied"):
            ended = f["ended_t"] if f.get("ended_t") is not None else end_t
            ax.axvspan(f["started_t"], ended, color="tab:red", alpha=0.12, linewidth=0,
                       label=f"fault: {f['name']}" if label_them else None)


def _time(metrics: dict, name: str) -> float | None:
    """An event's plant time from the metrics, None when it did not happen."""
    value = metrics.get(name)
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def _mark_events(ax, metrics: dict, t: np.ndarray) -> None:
    for metric, _, colour in EVENTS:
        when = _time(metrics, metric)
        if when is not None and len(t) and t[0] <= when <= t[-1]:
            ax.axvline(when, color=colour, linestyle="--", linewidth=0.8)


def _state_name(value: int) -> str:
    try:
        return icd.ControllerState(value).name.lower()
    except ValueError:
        return str(value)


_DECIMALS = re.compile(r"-?\d+\.\d\d+")
_GEOMETRY = re.compile(r' (d|x|y|transform)="([^"]*)"')
_ID = re.compile(r' id="([^"]+)"')


def compact_svg(svg: str) -> str:
    """matplotlib's SVG made fit to inline, many times, in one HTML page: no XML prolog, metadata
    or indentation; coordinates rounded to 0.1 pt; no no-op rotations; and only the ids something
    refers to (the others, line2d_1 and the like, would repeat in every figure of a page)."""
    svg = svg[svg.index("<svg"):]
    svg = re.sub(r"<metadata>.*?</metadata>", "", svg, flags=re.S)
    svg = re.sub(r">\s+<", "><", svg)
    svg = re.sub(r' transform="rotate\(-?0 [^"]*\)"', "", svg)
    svg = _GEOMETRY.sub(lambda m: f' {m.group(1)}="{_DECIMALS.sub(_round, m.group(2))}"', svg)
    svg = re.sub(r'\s*\n\s*(?=[MLCQz"])', "", svg)   # path data: "M 1 2 \nL 3 4 \n" -> "M 1 2L 3 4"
    referenced = set(re.findall(r"#([\w.-]+)", svg))
    svg = _ID.sub(lambda m: m.group(0) if m.group(1) in referenced else "", svg)
    return _styles_as_classes(svg)


def _styles_as_classes(svg: str) -> str:
    """Each distinct style="..." once, as a CSS class: grid lines, ticks and labels repeat the same
    few styles hundreds of times. A class is named after its content, so the same class in two
    figures of a page is the same rule (inline SVG styles apply to the whole page)."""
    classes = {}

    def to_class(match: re.Match) -> str:
        style = match.group(1)
        name = classes.setdefault(style, "mpl-" + hashlib.sha1(style.encode()).hexdigest()[:8])
        return f' class="{name}"'

    svg = re.sub(r' style="([^"]*)"', to_class, svg)
    rules = "".join(f".{name}{{{style}}}" for style, name in classes.items())
    head_end = svg.index(">") + 1
    return f"{svg[:head_end]}<style>{rules}</style>{svg[head_end:]}"


def _round(match: re.Match) -> str:
    text = f"{float(match.group(0)):.1f}"
    return text[:-2] if text.endswith(".0") else text
