"""The landing metrics, each defined once: name, label, unit, what it is, and its default criterion.

Everything that names a metric reads this table: the judge (which metrics a criteria file may
name), `hil land`'s table, `hil compare`, the pytest plugin's JUnit properties and the HTML
report. The default criteria are the MSL touchdown envelope ("'Super Bowl' Approach to Mars Rover
Touchdown Loads Analysis", NTRS 20070021683: vertical <= 1 m/s, horizontal <= 0.5 m/s) and the
project's own limits, each with the reason it exists.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

TOUCHDOWN, EVENT, TIMING, LINK = "touchdown", "event", "timing", "link"
CONTROLLER, RIG = "controller", "rig"


@dataclass(frozen=True)
class Metric:
    name: str
    label: str
    unit: str
    group: str = TOUCHDOWN        # touchdown | event (a plant time) | timing (real-time runs only) | link
    default: tuple = ()           # default criterion: ("max", 1.0), ("min", 0.2, "max", 3.0), ("equals", False)
    why: str = ""                 # the criterion's reason, shown beside it
    compared: bool = False        # `hil compare` reports how far it moved between two runs
    shown: bool = False           # `hil land` prints it even without a criterion
    # Whom a failed criterion blames: the controller (FAIL), or the rig and the machine it runs
    # on, which makes the run an invalid test (INCONCLUSIVE).
    judges: str = CONTROLLER
    # Values are compared at this resolution, never by float rounding at a limit: times in whole
    # microseconds (0.2 s latency is 200000 us whatever the float sum that produced it).
    quantum: float = 0.0

    @property
    def criterion(self) -> dict:
        """The default criterion as a criteria-file table ({} when the metric is not judged)."""
        pairs = dict(zip(self.default[::2], self.default[1::2]))
        return {**pairs, "why": self.why} if pairs else {}


METRICS: tuple[Metric, ...] = (
    Metric("rover_vz_at_contact_mps", "rover vertical speed at contact", "m/s", default=("max", 1.0),
           why="rover vertical speed at first ground contact (MSL envelope)", compared=True),
    Metric("rover_vh_at_contact_mps", "rover horizontal speed at contact", "m/s", default=("max", 0.5),
           why="rover horizontal speed at first ground contact (MSL envelope)", compared=True),
    Metric("td_latency_s", "contact to touchdown declared", "s", default=("min", 0.2, "max", 3.0),
           why="first contact to touchdown declared: not a transient, not so late the stage sits on the rover",
           compared=True, quantum=1e-6),
    Metric("cut_before_contact", "bridle cut before contact", "", default=("equals", False),
           why="a cut before the wheels are down drops the rover"),
    Metric("min_clearance_m", "closest descent stage to rover deck", "m", default=("min", 2.0),
           why="closest approach of the descent stage to the rover deck once the bridles are out", compared=True),
    Metric("flyaway_distance_m", "descent stage impact distance", "m", default=("min", 150.0),
           why="descent stage impact distance from the rover", compared=True),
    Metric("throttle_drop_frac", "throttle drop at touchdown", "", compared=True, shown=True),
    Metric("propellant_left_kg", "propellant left", "kg", compared=True, shown=True),
    Metric("contact_time_s", "first rover contact", "s", group=EVENT, compared=True, shown=True, quantum=1e-6),
    Metric("separation_time_s", "rover separation", "s", group=EVENT, quantum=1e-6),
    Metric("td_declared_time_s", "touchdown declared", "s", group=EVENT, quantum=1e-6),
    Metric("cut_time_s", "bridle cut", "s", group=EVENT, quantum=1e-6),
    Metric("ds_impact_time_s", "descent stage impact", "s", group=EVENT, quantum=1e-6),
    # The link policy's count of failed exchanges (hil/link_policy.py).
    # A fault scenario's expectation "enters the LINK_LOST safe state within X s and stays there"
    # (real time, link faults only): from the link fault's onset to the device's watchdog tripping.
    Metric("link_lost_after_s", "link fault onset to LINK_LOST", "s", group=LINK, shown=True, quantum=1e-6),
    Metric("link_lost_left", "left LINK_LOST after entering it", "", group=LINK, shown=True),
    Metric("link_retries", "link retries (lockstep)", "", group=LINK, shown=True, judges=RIG),
    Metric("fault_lost_cycles", "cycles lost to scheduled link and device faults", "", group=LINK, shown=True),
    Metric("link_misses", "link misses (real time)", "", group=LINK, shown=True, judges=RIG),
    # Measured in real-time runs only; a lockstep run reports their criteria as not applicable.
    # Overruns and lateness are the host's pacing: over budget, the rig or the machine did not
    # hold real time and the run says nothing about the controller (INCONCLUSIVE).
    Metric("overruns", "physics overruns", "", group=TIMING, default=("max", 0), judges=RIG,
           why="physics steps that started later than the rig's overrun_ms: the plant fell behind the wall clock"),
    Metric("overruns_machine", "  of them late wake-ups (machine)", "", group=TIMING, shown=True, judges=RIG),
    Metric("overruns_testbed", "  of them the loop's own work", "", group=TIMING, shown=True, judges=RIG),
    Metric("lateness_p99_ms", "physics lateness p99", "ms", group=TIMING, default=("max", 1.0), judges=RIG,
           why="99th percentile of physics-step lateness against the wall clock"),
    Metric("command_age_p99_ms", "command age p99", "ms", group=TIMING, default=("max", 60.0),
           why="sensor sample to command applied; at 50 Hz one to two control periods plus the link is normal"),
    Metric("device_step_p99_ms", "device step time p99", "ms", group=TIMING, default=("max", 10.0),
           why="the controller's own step time on the device: half a 50 Hz control period"),
    Metric("command_age_device_p99_ms", "  of it the device's (timer wait + step) p99", "ms", group=TIMING,
           shown=True),
    Metric("command_age_p99_periods", "command age p99 in control periods", "", group=TIMING, shown=True),
    Metric("link_round_trip_p99_ms", "link round trip p99", "ms", group=TIMING, judges=RIG),
)

BY_NAME: dict[str, Metric] = {m.name: m for m in METRICS}
NAMES: tuple[str, ...] = tuple(BY_NAME)
TIMING_NAMES: tuple[str, ...] = tuple(m.name for m in METRICS if m.group == TIMING)
RIG_JUDGED: frozenset[str] = frozenset(m.name for m in METRICS if m.judges == RIG)
COMPARED: tuple[str, ...] = tuple(m.name for m in METRICS if m.compared)


def label(name: str) -> tuple[str, str]:
    """(label, unit) of a metric; an unknown name labels itself."""
    metric = BY_NAME.get(name)
    return (metric.label, metric.unit) if metric else (name, "")


def default_criteria_table() -> dict[str, dict]:
    """The default criteria in the layout of a criteria file (what `--criteria` overrides)."""
    return {m.name: m.criterion for m in METRICS if m.criterion}


def format_value(value, unit: str = "") -> str:
    """A metric's value as the tables print it: yes/no, counts as integers, 3 decimals else."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "not measured"
    if isinstance(value, int):
        return f"{int(value)} {unit}".strip()
    return f"{value:.3f} {unit}".strip()
