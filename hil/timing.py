"""Timing of a real-time run: per-command records, delay attribution, device clock fit, figures.

Every reply the real-time loop applies is one record. From the host's send/receive times and the
device's tick stamps (frame arrival, step start, step duration, block read) each command's age is
split into where it was spent:

    command age = frame to device (host send delay + uplink) + wait for the device's timer
                  + control step + wait for the host's read + reply (downlink, until applied)

The device clock is related to the host's by a least-squares line through (host midpoint of the
exchange, device clock when the command block was read): its slope is the drift, its residuals
the jitter of that estimate.
"""

from __future__ import annotations

import csv
import math
import statistics
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

TIMING_FILE = "timing.csv"
_WRAP = 1 << 32


@dataclass(frozen=True)
class CommandTiming:
    """One applied reply. Host times in ns on the monotonic clock, device ticks in us (wrapping)."""

    frame_sent: int           # host frame number of the exchange
    sent_ns: int              # request written
    received_ns: int          # reply complete
    applied_t: float          # plant time the command took effect
    frame_used: int           # the sensor frame the device's step used (0: no step yet)
    frame_used_t: float       # plant time that frame was sampled (nan when unknown)
    frame_used_sent_ns: int   # when the host sent that frame (0 when unknown)
    step_count: int
    fresh: bool               # the device stepped since the previous reply
    frame_rx_tick_us: int
    step_tick_us: int
    step_time_us: int
    read_tick_us: int

    @property
    def round_trip_us(self) -> float:
        return (self.received_ns - self.sent_ns) * 1e-3

    @property
    def age_ms(self) -> float:
        return (self.applied_t - self.frame_used_t) * 1e3

    @property
    def device_wait_us(self) -> int:
        """Frame arrival to the step that used it: the device's timer phase."""
        return (self.step_tick_us - self.frame_rx_tick_us) % _WRAP

    @property
    def device_hold_us(self) -> int:
        """Step end to the host's read of its result."""
        return (self.read_tick_us - self.step_tick_us - self.step_time_us) % _WRAP


class TimingRecorder:
    """Collects CommandTiming rows in memory and streams them to timing.csv."""

    def __init__(self, out_dir: Path | None = None) -> None:
        self.rows: list[CommandTiming] = []
        self.t0_ns = 0                 # monotonic time of plant time 0 (the pacer's start)
        self.late_replies = 0        # frames not sent: the previous reply was still missing when they were due
        self._file = None
        if out_dir is not None:
            self._file = (out_dir / TIMING_FILE).open("w", newline="")
            self._csv = csv.writer(self._file)
            self._csv.writerow([f.name for f in fields(CommandTiming)] + ["age_ms", "round_trip_us"])

    def record(self, row: CommandTiming) -> None:
        self.rows.append(row)
        if self._file is not None:
            self._csv.writerow([getattr(row, f.name) for f in fields(CommandTiming)]
                               + [row.age_ms, row.round_trip_us])

    def close(self) -> None:
        if self._file is not None and not self._file.closed:
            self._file.close()


def stats(samples) -> dict:
    """n, mean, p50, p99, max of the samples that are not NaN ({} when there are none)."""
    ordered = sorted(float(v) for v in samples if v == v)
    if not ordered:
        return {}
    n = len(ordered)
    return {"n": n, "mean": statistics.fmean(ordered), "p50": ordered[n // 2],
            "p99": ordered[min(n - 1, int(0.99 * n))], "max": ordered[-1]}


def clock_fit(rows: list[CommandTiming]) -> dict:
    """Device clock against host clock: offset at the first exchange, drift in ppm, residual jitter."""
    if len(rows) < 3:
        return {}
    host_us = np.array([(r.sent_ns + r.received_ns) / 2e3 for r in rows])
    device_us = np.unwrap(np.array([r.read_tick_us for r in rows], dtype=float), period=_WRAP)
    x = host_us - host_us[0]
    slope, intercept = np.polyfit(x, device_us, 1)
    residual = device_us - (intercept + slope * x)
    # The host's monotonic clock modulo 2^32 us: equal to the device tick when both count
    # CLOCK_MONOTONIC (the SIL build), so the offset is then within the link's half round trip.
    offset = (intercept - host_us[0]) % _WRAP
    if offset > _WRAP / 2:
        offset -= _WRAP
    return {"drift_ppm": (slope - 1.0) * 1e6, "offset_us": offset,
            "residual_p99_us": float(np.percentile(np.abs(residual), 99)), "samples": len(rows)}


def attribution(rows: list[CommandTiming], t0_ns: int) -> dict:
    """Median of each part of the command age over fresh commands (ms). `t0_ns` is the monotonic
    time of plant time 0, so a plant time's wall-clock deadline is t0_ns + t * 1e9."""
    fresh = [r for r in rows if r.fresh and r.frame_used and not math.isnan(r.frame_used_t)]
    if not fresh:
        return {}
    parts = {
        "age": [r.age_ms for r in fresh],
        # the plant step, sensing and encoding after the frame's tick fell due (with its lateness)
        "host_sample_to_send": [(r.frame_used_sent_ns - t0_ns - r.frame_used_t * 1e9) * 1e-6 for r in fresh],
        "device_timer_wait": [r.device_wait_us * 1e-3 for r in fresh],
        "device_step": [r.step_time_us * 1e-3 for r in fresh],
        "device_hold_until_read": [r.device_hold_us * 1e-3 for r in fresh],
        "link_round_trip": [r.round_trip_us * 1e-3 for r in fresh],
        # the reply waiting for the physics tick at which it takes effect
        "host_reply_to_apply": [(t0_ns + r.applied_t * 1e9 - r.received_ns) * 1e-6 for r in fresh],
    }
    out = {name: float(np.median(values)) for name, values in parts.items()}
    out["other"] = out["age"] - sum(v for k, v in out.items() if k != "age")
    return {"median_ms": out, "commands": len(fresh)}
