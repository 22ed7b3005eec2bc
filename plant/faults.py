"""Fault schedules: what goes wrong, when it starts and how long it lasts.

A fault is a kind (`radar.invalid`, `engines.out`, ...), its parameters, a trigger and a
duration. The trigger is a time (`at_s`) or conditions on the vehicle's state and flight phase
(`height_below_m`, `height_above_m`, `state`, `event`, `after_s`) combined with `combine = "all"`
(the default) or `"any"`; `onset_per_s` makes the start random once the trigger holds (drawn
from the run's seeded generator). A fault lasts `duration_s`, or until the end without one, and
fires once. One fault holds a channel at a time: one that triggers while its channel is held
waits until the channel is free.

Each kind acts on the sensor frame the controller reads (radar, IMU), on the plant (engines,
bridle mechanics, the cut pyro), on the wire (link: through the link proxy) or on the device
itself (a reset, a slowed step). A sensor or engine fault with `told = true` is also reported to
the controller in the sensor block's health flags (and thrust_avail for engines); without it the
controller must detect the fault. Which rig can apply link and device faults is decided by the
host (hil/fault_injection.py). Parsing refuses bad input with one line naming the fault and field
(FaultError).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from plant import events
from plant.sensors import SensorFrame

CONTROLLER_STATES = ("STANDBY", "POWERED_DESCENT", "CONSTANT_VELOCITY", "SKY_CRANE", "TOUCHDOWN_ARMED",
                     "TOUCHDOWN", "FLYAWAY", "ENGINES_OFF", "LINK_LOST")
CONDITIONS = ("height_below_m", "height_above_m", "state", "event", "after_s")
_TRIGGER_KEYS = ("at_s", "combine", "onset_per_s", *CONDITIONS)
_COMMON_KEYS = ("kind", "name", "duration_s", "told", *_TRIGGER_KEYS)
TOLD_CHANNELS = ("radar", "imu", "engines")          # faults a vehicle's fault protection can report
# HealthFlags of the sensor block (hil/icd.py): what a told fault sets
HEALTH_BITS = {"radar": 1, "imu": 2, "engines": 4}


class FaultError(ValueError):
    """A fault schedule is malformed; the message is one line naming the fault and field."""


@dataclass(frozen=True)
class Kind:
    """A fault kind: the channel it holds, where it acts, its parameters (name: default, low, high)."""

    channel: str
    acts_on: str                       # "sensors", "plant", "link" or "device"
    params: dict = field(default_factory=dict)
    what: str = ""


KINDS: dict[str, Kind] = {
    "radar.invalid": Kind("radar", "sensors", {}, "no valid measurement: every sample flagged invalid"),
    "radar.stuck": Kind("radar", "sensors", {}, "the measurement freezes at its value at onset, still "
                                                "delivered as fresh samples"),
    "radar.bias": Kind("radar", "sensors", {"altitude_m": (0.0, -100.0, 100.0), "vz_mps": (0.0, -10.0, 10.0),
                                            "vx_mps": (0.0, -10.0, 10.0)},
                       "a constant error added to altitude and velocity"),
    "radar.glitch": Kind("radar", "sensors", {"rate": (0.2, 0.0, 1.0), "size_mps": (2.0, 0.0, 50.0)},
                         "dust: this share of fresh samples has vz off by +-size_mps"),
    "imu.dropout": Kind("imu", "sensors", {}, "no IMU data: flagged invalid"),
    "imu.bias": Kind("imu", "sensors", {"fx": (0.0, -20.0, 20.0), "fy": (0.0, -20.0, 20.0),
                                        "fz": (0.0, -20.0, 20.0)},
                     "a step in the specific-force bias, m/s^2"),
    "imu.scale": Kind("imu", "sensors", {"factor": (1.1, 0.0, 10.0)}, "a scale-factor error on every axis"),
    "engines.out": Kind("engines", "plant", {"count": (1, 1, 7)}, "engines lost: thrust falls by count/8"),
    "engines.thrust_scale": Kind("engines", "plant", {"scale": (0.9, 0.1, 2.0)}, "delivered thrust scaled"),
    "engines.stuck": Kind("engines", "plant", {}, "the throttle stays where it was at onset"),
    "engines.slow": Kind("engines", "plant", {"factor": (3.0, 1.0, 50.0)}, "the engines' time constant "
                                                                          "multiplied"),
    "bud.runaway": Kind("bud", "plant", {"factor": (3.0, 1.0, 20.0)}, "BUD brake failure: the bridles pay "
                                                                      "out factor times faster"),
    "bud.snag": Kind("bud", "plant", {"length_m": (5.0, 0.1, 7.4)}, "the bridles stop short at length_m"),
    "cut.pyro_fails": Kind("cut", "plant", {}, "the bridle cut command does nothing"),
    # On the wire, through the link proxy: both directions, each frame while the fault is active.
    "link.drop": Kind("link", "link", {"rate": (1.0, 0.0, 1.0)}, "frames lost each way (each with probability "
                                                               "rate)"),
    "link.corrupt": Kind("link", "link", {"rate": (1.0, 0.0, 1.0)}, "a bit flipped in frames each way (each "
                                                                  "with probability rate): the CRC fails"),
    "link.delay": Kind("link", "link", {"delay_ms": (30.0, 0.0, 5000.0)}, "every frame each way delay_ms late"),
    "link.cut": Kind("link", "link", {}, "the line is cut: nothing crosses either way"),
    # The board itself.
    "device.reset": Kind("device", "device", {"down_s": (0.2, 0.0, 60.0)},
                         "the board is reset (power-cycled) and is down for down_s of plant time"),
    "device.slow": Kind("device", "device", {"step_delay_us": (5000, 0, 1000000)},
                        "every control step on the device takes at least step_delay_us"),
}


@dataclass(frozen=True)
class Fault:
    """One fault of a schedule, validated."""

    kind: str
    name: str
    params: tuple[tuple[str, float], ...] = ()
    at_s: float | None = None
    conditions: tuple[tuple[str, object], ...] = ()
    combine: str = "all"
    onset_per_s: float = 0.0
    duration_s: float | None = None           # None: until the end
    told: bool = False                        # reported to the controller in the health flags

    @property
    def channel(self) -> str:
        return KINDS[self.kind].channel

    def param(self, name: str) -> float:
        return dict(self.params)[name]

    def describe(self) -> str:
        """One line: kind, parameters, trigger, duration."""
        params = ", ".join(f"{k}={v:g}" for k, v in self.params)
        when = [f"at {self.at_s:g} s"] if self.at_s is not None else []
        when += [f"{k} {'=' if k in ('state', 'event') else ''}{v}" for k, v in self.conditions]
        joined = f" {self.combine} ".join(when) or "from the start"
        onset = f", random onset {self.onset_per_s:g}/s" if self.onset_per_s else ""
        lasting = f"for {self.duration_s:g} s" if self.duration_s is not None else "until the end"
        told = ", told" if self.told else ""
        return f"{self.kind}{f' ({params})' if params else ''} when {joined}{onset}, {lasting}{told}"


def parse_faults(tables: object, where: str, *, max_time_s: float | None = None) -> tuple[Fault, ...]:
    """Validate [[faults]] tables into Faults; FaultError (one line) on anything wrong."""
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise FaultError(f"{where}: faults must be an array of tables ([[faults]])")
    faults = []
    names = set()
    for i, table in enumerate(tables):
        fault = parse_fault(table, f"{where}: faults[{i}]", max_time_s=max_time_s)
        if fault.name in names:
            raise FaultError(f"{where}: faults[{i}]: name {fault.name!r} is used twice")
        names.add(fault.name)
        faults.append(fault)
    return tuple(faults)


def parse_fault(table: dict, where: str, *, max_time_s: float | None = None) -> Fault:
    kind_name = table.get("kind")
    if not isinstance(kind_name, str):
        raise FaultError(f"{where}: kind must be given as a string (one of {', '.join(KINDS)})")
    if kind_name not in KINDS:
        raise FaultError(f"{where}: unknown fault kind {kind_name!r} (known: {', '.join(KINDS)})")
    kind = KINDS[kind_name]
    for key in table:
        if key not in _COMMON_KEYS and key not in kind.params:
            allowed = ", ".join([*kind.params, *_COMMON_KEYS[1:]])
            raise FaultError(f"{where}: {kind_name} has no field {key!r} (fields: {allowed})")
    params = []
    for pname, (default, low, high) in kind.params.items():
        value = _number(table.get(pname, default), f"{where}: {pname}")
        if isinstance(default, int) and value != int(value):
            raise FaultError(f"{where}: {pname} must be a whole number, got {value!r}")
        if not low <= value <= high:
            raise FaultError(f"{where}: {pname} = {value:g} is outside {low:g}..{high:g}")
        params.append((pname, int(value) if isinstance(default, int) else value))
    name = table.get("name", kind_name)
    if not isinstance(name, str) or not name.strip():
        raise FaultError(f"{where}: name must be a non-empty string")
    at_s = table.get("at_s")
    if at_s is not None:
        at_s = _number(at_s, f"{where}: at_s")
        if at_s < 0:
            raise FaultError(f"{where}: at_s must be >= 0, got {at_s:g}")
        if max_time_s is not None and at_s >= max_time_s:
            raise FaultError(f"{where}: at_s {at_s:g} s can never fire: the run ends at {max_time_s:g} s")
    conditions = []
    for key in CONDITIONS:
        if key in table:
            conditions.append((key, _condition(key, table[key], where, max_time_s)))
    if at_s is not None and conditions:
        raise FaultError(f"{where}: give at_s or conditions ({', '.join(CONDITIONS)}), not both")
    combine = table.get("combine", "all")
    if combine not in ("all", "any"):
        raise FaultError(f"{where}: combine must be 'all' or 'any', got {combine!r}")
    _check_can_fire(dict(conditions), combine, where)
    onset = _number(table.get("onset_per_s", 0.0), f"{where}: onset_per_s")
    if onset < 0:
        raise FaultError(f"{where}: onset_per_s must be >= 0, got {onset:g}")
    told = table.get("told", False)
    if not isinstance(told, bool):
        raise FaultError(f"{where}: told must be true or false, got {told!r}")
    if told and kind.channel not in TOLD_CHANNELS:
        raise FaultError(f"{where}: {kind_name} cannot be told: only radar, IMU and engine faults have health "
                         f"flags")
    duration = table.get("duration_s")
    if kind_name == "device.reset":
        if duration is not None:
            raise FaultError(f"{where}: device.reset takes down_s (how long the board is down), not duration_s")
        duration = dict(params)["down_s"] or 1e-9     # active while the board is down
    elif duration is not None:
        duration = _number(duration, f"{where}: duration_s")
        if duration <= 0:
            raise FaultError(f"{where}: duration_s must be > 0 (leave it out for 'until the end'), got {duration:g}")
    return Fault(kind_name, name.strip(), tuple(params), at_s, tuple(conditions), combine, onset, duration, told)


def _number(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise FaultError(f"{where} must be a finite number, got {value!r}")
    return float(value) if isinstance(value, float) else value


def _condition(key: str, value: object, where: str, max_time_s: float | None) -> object:
    if key == "state":
        states = [value] if isinstance(value, str) else value
        if not isinstance(states, list) or not states or not all(isinstance(s, str) for s in states):
            raise FaultError(f"{where}: state must be a controller state name or a list of them")
        for s in states:
            if s not in CONTROLLER_STATES:
                raise FaultError(f"{where}: unknown controller state {s!r} (known: {', '.join(CONTROLLER_STATES)})")
        return tuple(states)
    if key == "event":
        if value not in events.EVENT_NAMES:
            raise FaultError(f"{where}: unknown plant event {value!r} (known: {', '.join(events.EVENT_NAMES)})")
        return value
    number = _number(value, f"{where}: {key}")
    if key == "height_below_m" and number <= 0:
        raise FaultError(f"{where}: height_below_m {number:g} can never fire: the run ends when the "
                         f"descent stage reaches the ground")
    if key == "height_above_m" and number < 0:
        raise FaultError(f"{where}: height_above_m must be >= 0, got {number:g}")
    if key == "after_s" and (number < 0 or (max_time_s is not None and number >= max_time_s)):
        raise FaultError(f"{where}: after_s {number:g} s can never fire (the run lasts at most "
                         f"{max_time_s:g} s)" if max_time_s is not None else f"{where}: after_s must be >= 0")
    return number


def _check_can_fire(conditions: dict, combine: str, where: str) -> None:
    """Conditions that exclude each other under 'all' never fire."""
    if combine != "all":
        return
    below, above = conditions.get("height_below_m"), conditions.get("height_above_m")
    if below is not None and above is not None and above >= below:
        raise FaultError(f"{where}: height_above_m {above:g} and height_below_m {below:g} can never hold "
                         f"together")


# -- running a schedule -------------------------------------------------------------------------

@dataclass
class FaultState:
    """What became of one fault in a run."""

    fault: Fault
    triggered_t: float | None = None     # the trigger held (and the random onset came)
    active: bool = False
    started_t: float | None = None
    started_phase: str | None = None
    ended_t: float | None = None
    ended_phase: str | None = None
    held_value: SensorFrame | int | None = None     # radar.stuck: the frozen frame; radar.glitch: the seq
    glitch: float = 0.0                               # radar.glitch: the current sample's vz error

    def __post_init__(self) -> None:
        self.params_map = dict(self.fault.params)      # looked up every cycle while active

    def summary(self) -> dict:
        return {"name": self.fault.name, "kind": self.fault.kind, "what": self.fault.describe(),
                "applied": self.started_t is not None, "started_t": self.started_t,
                "started_phase": self.started_phase, "ended_t": self.ended_t, "ended_phase": self.ended_phase}


class FaultSchedule:
    """A schedule in flight: triggers checked once per control cycle, one fault per channel."""

    def __init__(self, faults: tuple[Fault, ...], rng: np.random.Generator, engine_count: int = 8) -> None:
        self.states = [FaultState(f) for f in faults]
        self._engine_count = engine_count
        self._rng = rng
        self._holder: dict[str, FaultState] = {}
        self._waiting = list(self.states)           # not started yet
        self._last_t: float | None = None
        self.transitions: list[tuple[float, str, str, str]] = []   # (t, fault name, "start"/"end", phase)
        # What every cycle asks, kept up to date when a fault starts or ends (cheaper than asking).
        self._next_end = math.inf                   # the earliest end of an active fault
        self._mask = 0
        self._sensors_faulty = False
        self._outage: str | None = None
        self.needs_height = self._any_height_trigger()

    def _any_height_trigger(self) -> bool:
        """Whether a fault still waiting has a height condition (else the caller need not compute it)."""
        return any(key.startswith("height_") for fs in self._waiting for key, _ in fs.fault.conditions)

    def update(self, t: float, height_m: float, state: str, happened: set[str]) -> list[FaultState]:
        """Start and end faults at plant time t; returns the faults whose activity changed.
        `height_m` is only read while a waiting fault has a height condition (needs_height)."""
        dt = 0.0 if self._last_t is None else t - self._last_t
        self._last_t = t
        if not self._waiting and t < self._next_end - 1e-9:
            return []
        changed = []
        if t >= self._next_end - 1e-9:
            for fs in self._holder.values():
                if fs.active and fs.fault.duration_s is not None and t >= fs.started_t + fs.fault.duration_s - 1e-9:
                    fs.active, fs.ended_t, fs.ended_phase = False, t, state
                    self.transitions.append((t, fs.fault.name, "end", state))
                    changed.append(fs)
            for fs in changed:
                self._holder.pop(fs.fault.channel, None)
        for fs in self._waiting:
            if fs.started_t is not None:
                continue
            if fs.triggered_t is None and self._holds(fs.fault, t, height_m, state, happened):
                onset = fs.fault.onset_per_s
                if not onset or self._rng.random() < -math.expm1(-onset * dt):
                    fs.triggered_t = t
            if fs.triggered_t is not None and fs.fault.channel not in self._holder:
                fs.active, fs.started_t, fs.started_phase = True, t, state
                self._holder[fs.fault.channel] = fs
                self.transitions.append((t, fs.fault.name, "start", state))
                changed.append(fs)
        if changed:
            self._waiting = [fs for fs in self._waiting if fs.started_t is None]
            self._changed()
        return changed

    def _changed(self) -> None:
        holder = self._holder
        self._next_end = min((fs.started_t + fs.fault.duration_s for fs in holder.values()
                              if fs.fault.duration_s is not None), default=math.inf)
        self._mask = sum(1 << i for i, fs in enumerate(self.states) if fs.active)
        self._sensors_faulty = ("radar" in holder or "imu" in holder
                                or ("engines" in holder and holder["engines"].fault.told))
        if "device" in holder and holder["device"].fault.kind == "device.reset":
            self._outage = "down"
        else:
            self._outage = "faulty" if "link" in holder else None
        self.needs_height = self._any_height_trigger()

    @staticmethod
    def _holds(fault: Fault, t: float, height_m: float, state: str, happened: set[str]) -> bool:
        if fault.at_s is not None:
            return t >= fault.at_s - 1e-9
        if not fault.conditions:
            return True
        results = []
        for key, value in fault.conditions:
            if key == "height_below_m":
                results.append(height_m < value)
            elif key == "height_above_m":
                results.append(height_m > value)
            elif key == "state":
                results.append(state in value)
            elif key == "event":
                results.append(value in happened)
            else:
                results.append(t >= value - 1e-9)
        return all(results) if fault.combine == "all" else any(results)

    def active(self, channel: str) -> FaultState | None:
        return self._holder.get(channel)

    def sensors_faulty(self) -> bool:
        """A radar or IMU fault, or a told engine fault, is active: frames must go through corrupt()."""
        return self._sensors_faulty

    def outage(self) -> str | None:
        """What the wire does this cycle: "down" while a device reset holds the board down (no
        exchange), "faulty" while a link fault is active (a failed exchange is a miss, not
        retried), else None."""
        return self._outage

    def active_mask(self) -> int:
        """Bit i set: the schedule's fault i is active (the telemetry's faults_active column)."""
        return self._mask

    # -- what the sensor faults do --------------------------------------------------------------

    def corrupt(self, frame: SensorFrame) -> SensorFrame:
        """The frame as the faulty sensors deliver it. `frame` must be a fresh one (Plant.sense()
        makes one per call): it is changed in place, which costs a fraction of a copy."""
        radar, imu, engines = self._holder.get("radar"), self._holder.get("imu"), self._holder.get("engines")
        changes = {}
        health = 0
        if radar is not None:
            changes.update(self._radar(radar, frame))
            health |= HEALTH_BITS["radar"] if radar.fault.told else 0
        if imu is not None:
            changes.update(self._imu(imu, frame))
            health |= HEALTH_BITS["imu"] if imu.fault.told else 0
        if engines is not None and engines.fault.told:
            health |= HEALTH_BITS["engines"]
            changes["thrust_avail"] = self._thrust_avail(engines)
        if health:
            changes["health"] = health
        for name, value in changes.items():
            object.__setattr__(frame, name, value)
        return frame

    def _radar(self, fs: FaultState, frame: SensorFrame) -> dict:
        kind = fs.fault.kind
        if kind == "radar.invalid":
            return {"radar_valid": False}
        if kind == "radar.stuck":
            if fs.held_value is None:
                fs.held_value = replace(frame)                  # a copy: the frame itself may change
            held = fs.held_value
            return {"radar_valid": held.radar_valid, "altitude_m": held.altitude_m, "vx_mps": held.vx_mps,
                    "vy_mps": held.vy_mps, "vz_mps": held.vz_mps}
        p = fs.params_map
        if kind == "radar.bias":
            return {"altitude_m": frame.altitude_m + p["altitude_m"], "vx_mps": frame.vx_mps + p["vx_mps"],
                    "vz_mps": frame.vz_mps + p["vz_mps"]}
        # radar.glitch: a fresh sample is glitched with probability rate (one draw per fresh sample)
        if fs.held_value != frame.radar_seq:
            fs.held_value = frame.radar_seq
            hit, sign = self._rng.random(2)
            fs.glitch = (1.0 if sign < 0.5 else -1.0) * p["size_mps"] if hit < p["rate"] else 0.0
        return {"vz_mps": frame.vz_mps + fs.glitch} if fs.glitch else {}

    def _thrust_avail(self, fs: FaultState) -> float:
        """The share of full thrust a told engine fault leaves (what engine health reports)."""
        if fs.fault.kind == "engines.out":
            return (self._engine_count - fs.params_map["count"]) / self._engine_count
        if fs.fault.kind == "engines.thrust_scale":
            return min(1.0, fs.params_map["scale"])
        return 1.0                      # stuck or slow: degraded, but the thrust is all there

    @staticmethod
    def _imu(fs: FaultState, frame: SensorFrame) -> dict:
        kind, p = fs.fault.kind, fs.params_map
        if kind == "imu.dropout":
            nan = float("nan")
            return {"imu_valid": False, "imu_fx": nan, "imu_fy": nan, "imu_fz": nan}
        if kind == "imu.bias":
            return {"imu_fx": frame.imu_fx + p["fx"], "imu_fy": frame.imu_fy + p["fy"], "imu_fz": frame.imu_fz + p["fz"]}
        f = p["factor"]
        return {"imu_fx": frame.imu_fx * f, "imu_fy": frame.imu_fy * f, "imu_fz": frame.imu_fz * f}
