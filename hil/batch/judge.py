"""BatchJudge: hil/verdict.py's LandingJudge for many landings, and their metrics.

Watches every control cycle (the truth before the commands are applied, the throttle command,
touchdown declared) and, once a landing is over, gives the metrics LandingJudge.metrics gives,
key for key, computed the same way (sums in the same order, math.hypot per case).
"""
from __future__ import annotations

import math
from bisect import bisect_left

import numpy as np

from hil.verdict import landing_metrics, throttle_drop
from plant.batch import BatchPlant
from plant.batch_physics import DS_X, DS_Y, DS_Z, LENGTH, ROVER_X, ROVER_Y, ROVER_Z
from plant.dynamics import ATTACHED, FREE


class BatchJudge:
    """Per case: closest approach, touchdown declared, and the throttle of every cycle."""

    def __init__(self, plant: BatchPlant, max_cycles: int) -> None:
        n = plant.case.size
        self.deck_height = np.array([float(p.rover.deck_height_m) for p in plant.params])
        self.bridle_length = np.array([float(p.bridle.length_m) for p in plant.params])
        self.min_clearance = np.full(n, np.inf)
        self.td_declared = np.full(n, np.nan)
        # float32 holds a command throttle exactly: it came over the wire as one
        self.throttles = np.zeros((max_cycles, n), dtype=np.float32)
        self.times: list[float] = []
        self.observed = np.zeros(n, dtype=np.int64)    # cycles each case was flown

    def observe(self, plant: BatchPlant, throttle: np.ndarray, declared: np.ndarray) -> None:
        """One cycle of every flying case: plant truth before the commands are applied."""
        case, x, mode = plant.case, plant.x, plant.mode
        out = (mode == FREE) | ((mode != ATTACHED) & (x[LENGTH] >= self.bridle_length[case] - 1e-6))
        if out.any():   # clearance counts once the bridles are out (at separation the gap is zero by design)
            c = case[out]
            dx = x[DS_X, out] - x[ROVER_X, out]
            dy = x[DS_Y, out] - x[ROVER_Y, out]
            dz = x[DS_Z, out] - (x[ROVER_Z, out] + self.deck_height[c])
            self.min_clearance[c] = np.minimum(self.min_clearance[c], np.sqrt(dx * dx + dy * dy + dz * dz))
        first = declared & np.isnan(self.td_declared[case])
        self.td_declared[case[first]] = plant.t
        self.throttles[len(self.times), case] = throttle
        self.times.append(plant.t)
        self.observed[case] = len(self.times)

    def metrics(self, plant: BatchPlant, i: int) -> dict:
        """LandingJudge.metrics of case i (whose landing is over), plus the lockstep link count."""
        e = plant.events
        contact_t = _or_none(e["contact"][i])
        cut_t = _or_none(e["cut"][i])
        vx, vy, vz = (float(v) for v in plant.contact_v[:, i])
        contact = {"t": contact_t, "vx": vx, "vy": vy, "vz": vz} if contact_t is not None else None
        x = plant.final_x[:, i]
        return {**landing_metrics(contact, _or_none(self.td_declared[i]), cut_t, _or_none(e["separation"][i]),
                                  float(self.min_clearance[i]),
                                  (float(x[DS_X] - x[ROVER_X]), float(x[DS_Y] - x[ROVER_Y])) if plant.ended[i] else None,
                                  throttle_drop(contact_t, cut_t, lambda start, end: self._mean_between(i, start, end)),
                                  _or_none(e["ds_ground"][i]), float(plant.final_propellant[i])),
                "link_retries": 0}      # lockstep, and no link: nothing to retry

    def _mean_between(self, i: int, start: float, end: float) -> float | None:
        last = int(self.observed[i])
        times = self.times[:last]
        first = bisect_left(times, start)
        picked = [v for t, v in zip(times[first:], self.throttles[first:last, i].tolist()) if t <= end]
        return sum(picked) / len(picked) if picked else None


def _or_none(value) -> float | None:
    return None if math.isnan(value) else float(value)

