"""Landing metrics from plant truth, and the pass/fail criteria they are judged against."""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from pathlib import Path

from hil import metrics
from hil.errors import ConfigError

NOT_MEASURED = float("nan")


@dataclass(frozen=True)
class Criterion:
    metric: str
    minimum: float | None = None
    maximum: float | None = None
    equals: bool | None = None
    why: str = ""

    def describe(self) -> str:
        if self.equals is not None:
            return f"== {str(self.equals).lower()}"
        if self.minimum is not None and self.maximum is not None:
            return f"{self.minimum:g} .. {self.maximum:g}"
        return f"<= {self.maximum:g}" if self.maximum is not None else f">= {self.minimum:g}"

    def passes(self, value) -> bool:
        if self.equals is not None:
            return value is self.equals
        if value is None or isinstance(value, bool) or math.isnan(value):
            return False  # not measured (no contact, no declaration) never passes
        value, low, high = (self._quantised(v) for v in (value, self.minimum, self.maximum))
        if low is not None and value < low:
            return False
        return high is None or value <= high

    def _quantised(self, number):
        """A time in whole microseconds (the metric's quantum), so a limit is exact."""
        metric = metrics.BY_NAME.get(self.metric)
        if number is None or metric is None or not metric.quantum:
            return number
        return round(number / metric.quantum)


class LandingJudge:
    """Watches every control cycle and the plant's events; produces the landing metrics."""

    def __init__(self, rover_deck_height_m: float, bridle_length_m: float) -> None:
        self.deck_height = rover_deck_height_m
        self.bridle_length = bridle_length_m
        self.min_clearance = math.inf
        self.td_declared_s: float | None = None
        self.times: list[float] = []
        self.throttles: list[float] = []

    def observe(self, truth, throttle_cmd: float, td_declared: bool) -> None:
        # Clearance counts once the bridles are out (or cut): at separation the gap is zero by design.
        if truth.cut or (truth.separated and truth.bridle_length_m >= self.bridle_length - 1e-6):
            gap = math.dist((truth.ds_x, truth.ds_y, truth.ds_z),
                            (truth.rover_x, truth.rover_y, truth.rover_z + self.deck_height))
            self.min_clearance = min(self.min_clearance, gap)
        if td_declared and self.td_declared_s is None:
            self.td_declared_s = truth.t
        self.times.append(truth.t)
        self.throttles.append(throttle_cmd)

    def throttle_drop(self, contact_t: float | None, cut_t: float | None) -> float:
        return throttle_drop(contact_t, cut_t, lambda start, end: _mean_between(self.times, self.throttles, start, end))

    def metrics(self, plant) -> dict:
        truth = plant.truth()
        contact = plant.first_contact
        contact_t = contact["t"] if contact else None
        cut_t = plant.event_time("bridle_cut")
        return landing_metrics(contact, self.td_declared_s, cut_t, plant.event_time("rover_separation"),
                               self.min_clearance,
                               (truth.ds_x - truth.rover_x, truth.ds_y - truth.rover_y) if plant.ended else None,
                               self.throttle_drop(contact_t, cut_t), plant.event_time("ds_ground_contact"),
                               truth.propellant_kg)


def throttle_drop(contact_t: float | None, cut_t: float | None, mean_between) -> float:
    """Relative fall of the commanded throttle when the rover's weight comes off the bridles.

    Steady sky-crane level: mean over [contact - 2.0, contact - 0.2] s. Offloaded level: mean
    over [contact + 0.5, contact + 1.5] s, ended early by the cut. mean_between(start, end): the
    mean commanded throttle of the cycles in [start, end], None when there are none.
    """
    if contact_t is None:
        return NOT_MEASURED
    end = contact_t + 1.5 if cut_t is None else min(contact_t + 1.5, cut_t)
    before = mean_between(contact_t - 2.0, contact_t - 0.2)
    after = mean_between(contact_t + 0.5, end)
    if before is None or after is None or before <= 0.0:
        return NOT_MEASURED
    return 1.0 - after / before


def landing_metrics(contact: dict | None, declared_t: float | None, cut_t: float | None,
                    separation_t: float | None, min_clearance: float, ds_from_rover: tuple | None,
                    drop: float, ds_impact_t: float | None, propellant_kg: float) -> dict:
    """The landing metrics (hil/metrics.py) from what a judge saw. contact: the rover's first
    contact (t, vx, vy, vz) or None; ds_from_rover: the descent stage's horizontal offset from
    the rover at the end (dx, dy), None when the landing did not end. Used by LandingJudge and
    the batch engine's judge alike, so the two cannot drift apart."""
    contact_t = contact["t"] if contact else None
    return {
        "contact_time_s": _or_nan(contact_t),
        "rover_vz_at_contact_mps": abs(contact["vz"]) if contact else NOT_MEASURED,
        "rover_vh_at_contact_mps": math.hypot(contact["vx"], contact["vy"]) if contact else NOT_MEASURED,
        "td_declared_time_s": _or_nan(declared_t),
        "td_latency_s": declared_t - contact_t if contact_t is not None and declared_t is not None else NOT_MEASURED,
        "cut_time_s": _or_nan(cut_t),
        "cut_before_contact": cut_t is not None and (contact_t is None or cut_t < contact_t),
        "separation_time_s": _or_nan(separation_t),
        "min_clearance_m": min_clearance if math.isfinite(min_clearance) else NOT_MEASURED,
        "flyaway_distance_m": math.hypot(*ds_from_rover) if ds_from_rover is not None else NOT_MEASURED,
        "throttle_drop_frac": drop,
        "ds_impact_time_s": _or_nan(ds_impact_t),
        "propellant_left_kg": propellant_kg,
    }


def _mean_between(times: list[float], values: list[float], start: float, end: float) -> float | None:
    picked = [v for t, v in zip(times, values) if start <= t <= end]
    return sum(picked) / len(picked) if picked else None


def _or_nan(value: float | None) -> float:
    return NOT_MEASURED if value is None else value


def load_criteria(path: str | Path | None = None) -> list[Criterion]:
    """The default criteria (hil/metrics.py), with any entries from `path` replacing the defaults
    of the same name."""
    merged = _parse(metrics.default_criteria_table(), "built-in criteria")
    if path is not None:
        path = Path(path)
        try:
            text = path.read_text()
            data = tomllib.loads(text)
        except FileNotFoundError:
            raise ConfigError(f"criteria file not found: {path}") from None
        except IsADirectoryError:
            raise ConfigError(f"criteria file {path} is a folder, not a file") from None
        except OSError as exc:
            raise ConfigError(f"cannot read criteria file {path}: {exc.strerror}") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: malformed TOML: {exc}") from None
        merged.update(_parse(data, str(path)))
    return list(merged.values())


def _parse(data: dict, where: str) -> dict[str, Criterion]:
    out = {}
    for metric, spec in data.items():
        if metric not in metrics.BY_NAME:
            raise ConfigError(f"{where}: unknown metric {metric!r} (known: {', '.join(metrics.NAMES)})")
        if not isinstance(spec, dict) or not spec.keys() & {"min", "max", "equals"}:
            raise ConfigError(f"{where}: {metric} needs min, max or equals")
        for key, value in spec.items():
            if key in ("min", "max") and (isinstance(value, bool) or not isinstance(value, (int, float))):
                raise ConfigError(f"{where}: {metric}.{key} must be a number, got {value!r}")
            if key in ("min", "max") and not math.isfinite(value):
                raise ConfigError(f"{where}: {metric}.{key} must be a finite number, got {value!r}")
            if key == "equals" and not isinstance(value, bool):
                raise ConfigError(f"{where}: {metric}.equals must be true or false, got {value!r}")
            if key not in ("min", "max", "equals", "why"):
                raise ConfigError(f"{where}: {metric} has unknown key {key!r} (min, max, equals, why)")
        if "min" in spec and "max" in spec and spec["min"] > spec["max"]:
            raise ConfigError(f"{where}: {metric}.min {spec['min']:g} is above its max {spec['max']:g}")
        out[metric] = Criterion(metric, spec.get("min"), spec.get("max"), spec.get("equals"),
                                spec.get("why", ""))
    return out


def judge(values: dict, criteria: list[Criterion]) -> tuple[bool, list[dict]]:
    """Each criterion against its metric; the controller passes only if every criterion that
    applies and judges the controller does. Rows that judge the rig (its pacing, its link) are
    the test's validity: see invalid_reason().

    A timing criterion does not apply to a lockstep run (its metric is absent): its row says so
    and does not count. Any other missing metric fails."""
    rows = []
    for c in criteria:
        applies = c.metric in values or c.metric not in metrics.TIMING_NAMES
        judges = metrics.RIG if c.metric in metrics.RIG_JUDGED else metrics.CONTROLLER
        rows.append({"metric": c.metric, "value": values.get(c.metric), "criterion": c.describe(),
                     "max": c.maximum, "passed": c.passes(values.get(c.metric)) if applies else None,
                     "applies": applies, "judges": judges, "why": c.why})
    return all(r["passed"] for r in rows if r["applies"] and r["judges"] == metrics.CONTROLLER), rows


def invalid_reason(rows: list[dict], values: dict) -> str | None:
    """Why the run was not a valid test of the controller (a rig criterion failed), or None."""
    broken = [r for r in rows if r["applies"] and r["judges"] == metrics.RIG and not r["passed"]]
    late = _late_by_the_rig(rows, values)
    if late:
        return late if not broken else f"{_rig_reason(broken, values)}; {late}"
    if not broken:
        return None
    return _rig_reason(broken, values)


def _late_by_the_rig(rows: list[dict], values: dict) -> str | None:
    """Commands too old while the device's own part of their age was within the limit and its
    step time passed: the host, the machine or the link made them late, not the controller."""
    by_metric = {r["metric"]: r for r in rows if r["applies"]}
    age, step = by_metric.get("command_age_p99_ms"), by_metric.get("device_step_p99_ms")
    own = values.get("command_age_device_p99_ms")
    if age is None or age["passed"] or (step is not None and not step["passed"]) or own is None or own != own:
        return None
    limit = age.get("max")
    if limit is None or own > limit:
        return None
    return (f"command age p99 {metrics.format_value(age['value'], 'ms')} outside {age['criterion']}, but the "
            f"device's own part (timer wait + step) p99 is {metrics.format_value(own, 'ms')}: the host, the "
            f"machine or the link made the commands late")


def _rig_reason(broken: list[dict], values: dict) -> str:
    parts = []
    for row in broken:
        label, unit = metrics.label(row["metric"])
        parts.append(f"{label} {metrics.format_value(row['value'], unit)} outside {row['criterion']}")
    reason = "; ".join(parts)
    if any(r["metric"] in ("overruns", "lateness_p99_ms") for r in broken) and "overruns_machine" in values:
        reason = (f"the rig could not hold real time: {reason} ({values['overruns_machine']} late wake-ups of "
                  f"this machine, {values['overruns_testbed']} ticks whose own work ran past the deadline)")
    return reason
