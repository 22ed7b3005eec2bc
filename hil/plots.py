"""landing.png: the landing at a glance, whole run on the left, sky-crane phase on the right."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display needed on a bench PC or in CI
import matplotlib.pyplot as plt  # noqa: E402

from hil import icd  # noqa: E402
from hil.report.figure import shade_faults  # noqa: E402
from hil.timing import stats  # noqa: E402

PLOT_FILE = "landing.png"
_EVENTS = (("separation_time_s", "separation", "tab:blue"), ("contact_time_s", "contact", "tab:green"),
           ("td_declared_time_s", "touchdown declared", "tab:orange"), ("cut_time_s", "cut", "tab:red"))


def plot_landing(columns: dict[str, list], metrics: dict, out_dir: Path, title: str,
                 faults: list[dict] = ()) -> Path:
    """faults: RunResult.faults; each applied one is shaded over its active time."""
    t = columns["truth_t"]
    for body in ("ds", "rover"):
        columns[f"{body}_vh"] = [math.hypot(vx, vy) for vx, vy in
                                 zip(columns[f"truth_{body}_vx"], columns[f"truth_{body}_vy"])]
    rows = (
        ("altitude [m]", (("truth_ds_z", "descent stage"), ("truth_rover_z", "rover wheels"))),
        ("vertical velocity [m/s]", (("truth_ds_vz", "descent stage"), ("truth_rover_vz", "rover"))),
        ("horizontal speed [m/s]", (("ds_vh", "descent stage"), ("rover_vh", "rover"))),
        ("throttle [-]", (("cmd_throttle", "commanded"), ("truth_throttle_actual", "actual"))),
        ("bridle tension [kN]", (("truth_bridle_tension_n", "tension"),)),
        ("controller state", (("cmd_state", "state"),)),
    )
    fig, axes = plt.subplots(len(rows), 2, figsize=(14, 14), sharex="col")
    window = _sky_crane_window(metrics, t)
    for r, (label, series) in enumerate(rows):
        for c in range(2):
            ax = axes[r][c]
            for key, name in series:
                values = columns[key]
                if key == "truth_bridle_tension_n":
                    values = [v / 1000.0 for v in values]
                style = {"drawstyle": "steps-post"} if key == "cmd_state" else {}
                ax.plot(t, values, label=name, linewidth=1.0, **style)
            if c == 1 and window:
                ax.set_xlim(*window)
                _autoscale_y(ax, t, [columns[k] for k, _ in series], window,
                             scale=0.001 if series[0][0] == "truth_bridle_tension_n" else 1.0)
            for metric, name, colour in _EVENTS:
                when = metrics.get(metric)
                if when is not None and math.isfinite(when):
                    ax.axvline(when, color=colour, linestyle="--", linewidth=0.8,
                               label=name if (r == 0 and c == 1) else None)
            shade_faults(ax, faults, t[-1] if len(t) else 0.0, label_them=(r == 0 and c == 0))
            ax.grid(True, alpha=0.3)
            if c == 0:
                ax.set_ylabel(label)
            if key == "cmd_state":
                ax.set_yticks([s.value for s in icd.ControllerState])
                ax.set_yticklabels([s.name.lower() for s in icd.ControllerState], fontsize=7)
    axes[0][0].legend(loc="upper right", fontsize=8)
    axes[0][1].legend(loc="upper right", fontsize=8)
    axes[-1][0].set_xlabel("time [s]")
    axes[-1][1].set_xlabel("time [s] (sky-crane phase)")
    fig.suptitle(title)
    fig.tight_layout()
    path = out_dir / PLOT_FILE
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def _sky_crane_window(metrics: dict, t: list) -> tuple[float, float] | None:
    start = metrics.get("separation_time_s")
    if start is None or not math.isfinite(start) or len(t) == 0:
        return None
    end = metrics.get("cut_time_s")
    end = end if end is not None and math.isfinite(end) else t[-1]
    return start - 3.0, min(t[-1], end + 6.0)


def _autoscale_y(ax, t, series, window, scale: float) -> None:
    lo, hi = math.inf, -math.inf
    for values in series:
        for ti, v in zip(t, values):
            if window[0] <= ti <= window[1] and math.isfinite(v):
                lo, hi = min(lo, v * scale), max(hi, v * scale)
    if lo < hi:
        pad = 0.05 * (hi - lo)
        ax.set_ylim(lo - pad, hi + pad)


TIMING_PLOT_FILE = "timing.png"


def _bins(values: list[float]) -> int:
    """60 bins, or one where the values are (nearly) all the same: numpy cannot split a range
    narrower than its float resolution (a run stopped after a few identical command ages)."""
    spread = max(values) - min(values)
    return 60 if spread > 1e-9 * max(1.0, abs(max(values))) else 1


def plot_timing(rows, lateness_us: list[float], out_dir: Path, title: str) -> Path:
    """timing.png: histograms of physics lateness, command age, link round trip and device step,
    and the command age over the flight (a drifting device timer shows as a slow sawtooth)."""
    fresh = [r for r in rows if r.fresh]
    panels = (
        ("physics step lateness [ms]", [v * 1e-3 for v in lateness_us]),
        ("command age at application [ms]", [r.age_ms for r in rows if r.frame_used]),
        ("link round trip [ms]", [r.round_trip_us * 1e-3 for r in rows]),
        ("device control step [ms]", [r.step_time_us * 1e-3 for r in fresh]),
    )
    fig, axes = plt.subplots(3, 2, figsize=(12, 10))
    for ax, (label, values) in zip(axes.flat, panels):
        if values:
            ax.hist(values, bins=_bins(values), color="tab:blue", alpha=0.8, log=True)
            p99 = stats(values)["p99"]
            ax.axvline(p99, color="tab:red", linestyle="--", label=f"p99 {p99:.3g}")
            ax.legend(loc="upper right")
        ax.set_xlabel(label)
        ax.set_ylabel("count")
        ax.grid(True, alpha=0.3)
    series = axes[2, 0]
    series.plot([r.applied_t for r in rows if r.frame_used], [r.age_ms for r in rows if r.frame_used],
                linewidth=0.6)
    series.set_xlabel("plant time [s]")
    series.set_ylabel("command age [ms]")
    series.grid(True, alpha=0.3)
    phases = axes[2, 1]
    phases.plot([r.applied_t for r in fresh if r.frame_used], [r.device_wait_us * 1e-3 for r in fresh if r.frame_used],
                ".", markersize=1.5)
    phases.set_xlabel("plant time [s]")
    phases.set_ylabel("frame wait for the device timer [ms]")
    phases.grid(True, alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    path = out_dir / TIMING_PLOT_FILE
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
