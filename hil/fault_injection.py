"""A plant with a fault schedule: what the executive flies when a run has faults.

FaultyPlant stands in for the Plant (sense, apply, advance, truth, ...). Once per control cycle,
at sense(), it checks the schedule's triggers against plant truth, the controller's last state
and the plant's events, starts and ends faults, applies the hardware ones to the plant
(plant.retune, hold_throttle, fail_cut) and hands the controller the frame its faulty sensors
deliver. Its truth carries `faults_active` (telemetry's truth_faults_active column).
"""

from __future__ import annotations

import math
import time

import numpy as np

from hil.errors import ConfigError, HilError
from hil.executive import state_name
from plant.faults import Fault, FaultSchedule


class FaultyPlant:
    def __init__(self, plant, faults: tuple[Fault, ...], rng: np.random.Generator, rig_faults=None) -> None:
        self._plant = plant
        self.schedule = FaultSchedule(faults, rng, plant.params.engine.count)
        self.rig_faults = rig_faults          # applies link and device faults (None: the schedule has none)
        self.controller_state = "STANDBY"
        self._happened: set[str] = set()
        self._events_seen = 0
        # What the executive calls every cycle, bound once (a __getattr__ lookup costs per call).
        self.advance, self.apply = plant.advance, plant.apply
        self.outage = self.schedule.outage
        self.link_faults_started = False     # LINK_LOST is then the controller's answer, not a rig failure

    def __getattr__(self, name: str):
        return getattr(self._plant, name)

    @property
    def t(self) -> float:
        return self._plant.t

    @property
    def ended(self) -> bool:
        return self._plant.ended

    def observe(self, frame, truth, sensors, command, retries, misses) -> None:
        """A cycle observer: the controller state the triggers see next."""
        self.controller_state = state_name(command.state)

    def sense(self):
        plant = self._plant
        events = plant.events
        if len(events) > self._events_seen:          # events only ever append
            self._happened.update(e.name for e in events[self._events_seen:])
            self._events_seen = len(events)
        schedule = self.schedule
        height = plant.height() if schedule.needs_height else math.nan
        changed = schedule.update(plant.t, height, self.controller_state, self._happened)
        if changed:
            channels = {fs.fault.channel for fs in changed}
            if channels & {"engines", "bud", "cut"}:
                self._apply_hardware()
            if "link" in channels:
                self.link_faults_started = True
            if channels & {"link", "device"}:
                for fs in changed:
                    if fs.fault.channel in ("link", "device"):
                        self.rig_faults.apply(fs)
        frame = plant.sense()
        return self.schedule.corrupt(frame) if self.schedule.sensors_faulty() else frame

    def _apply_hardware(self) -> None:
        engines, bud, cut = (self.schedule.active(c) for c in ("engines", "bud", "cut"))
        retune = {}
        if engines is not None:
            p = dict(engines.fault.params)
            if engines.fault.kind == "engines.out":
                retune["thrust_scale"] = (self._plant.params.engine.count - p["count"]) / self._plant.params.engine.count
            elif engines.fault.kind == "engines.thrust_scale":
                retune["thrust_scale"] = p["scale"]
            elif engines.fault.kind == "engines.slow":
                retune["engine_lag_scale"] = p["factor"]
        if bud is not None:
            p = dict(bud.fault.params)
            if bud.fault.kind == "bud.runaway":
                retune["payout_scale"] = p["factor"]
            else:
                retune["bridle_stop_m"] = p["length_m"]
        self._plant.retune(**retune)
        self._plant.hold_throttle(engines is not None and engines.fault.kind == "engines.stuck")
        self._plant.fail_cut(cut is not None)

    def truth(self):
        truth = self._plant.truth()
        mask = self.schedule.active_mask()
        if mask:
            object.__setattr__(truth, "faults_active", mask)   # a fresh snapshot: nobody else holds it
        return truth

    def finish(self) -> None:
        """The run is over: a fault never outlives its run (link rules off, the step back to speed)."""
        if self.rig_faults is not None:
            self.rig_faults.finish()

    def summary(self) -> list[dict]:
        """Each fault: applied or not, when it started and ended, in which phase (and what the rig
        reported doing: a reset's method and switching latency)."""
        reports = self.rig_faults.reports if self.rig_faults is not None else {}
        return [{**fs.summary(), **({"rig": reports[fs.fault.name]} if fs.fault.name in reports else {})}
                for fs in self.schedule.states]


# -- link and device faults: what the rig does -----------------------------------------------------

LINK_RULES = {   # a link fault's proxy rule, both directions, while the fault is active
    "link.drop": lambda p: f"both:drop:{_selector(p['rate'])}",
    "link.corrupt": lambda p: f"both:corrupt:{_selector(p['rate'])}",
    "link.delay": lambda p: f"both:delay={p['delay_ms']:g}ms:every",
    "link.cut": lambda p: "both:drop:every",
}


def _selector(rate: float) -> str:
    return "every" if rate >= 1.0 else f"rate={rate:g}"


def rig_fault_kinds(faults: tuple[Fault, ...]) -> list[Fault]:
    return [f for f in faults if f.channel in ("link", "device")]


def needs_a_wire(scenario) -> bool:
    """The scenario has link or device faults: the in-process MIL rig cannot fly it."""
    return bool(rig_fault_kinds(scenario.faults))


def check_rig_can_apply(faults: tuple[Fault, ...], rig, device) -> None:
    """Refuse, before the run, a link or device fault this rig cannot apply (ConfigError, one line).
    `device` is the rig's device object (started or not): it says how it resets and slows."""
    for fault in rig_fault_kinds(faults):
        where = f"rig {rig.name} cannot apply fault {fault.name!r} ({fault.kind})"
        if rig.kind == "mil":
            raise ConfigError(f"{where}: the in-process MIL rig has no wire and no board; use loopback, SIL, "
                              "an emulator or a bench rig")
        if fault.kind == "device.reset" and _inner(device).reset_method() is None:
            raise ConfigError(f"{where}: its device has no way to be reset")
        if fault.kind == "device.slow" and _inner(device).slow_method() is None:
            raise ConfigError(f"{where}: its device's control step cannot be slowed")
        if fault.kind == "device.reset" and rig.timing == "realtime":
            raise ConfigError(f"{where}: a reset mid-flight runs in lockstep only for now")


def _inner(device):
    return getattr(device, "inner", device)


class RigFaults:
    """Link faults as rules on the session's link proxy, device faults on the device itself.
    Each fault's rule is scheduled (disabled) before the run, seeded by the run's seed, and
    enabled while it is active."""

    def __init__(self, device, faults: tuple[Fault, ...], boot_wait_s: float = 0.0, seed: int = 0) -> None:
        self.device = device
        self.boot_wait_s = boot_wait_s
        self.reports: dict[str, dict] = {}          # fault name -> what the rig did
        self._handles: dict[str, object] = {}
        self._slowed = False
        proxy = getattr(device, "proxy", None)
        for fault in faults:
            if fault.channel == "link":
                if proxy is None:
                    raise HilError(f"fault {fault.name!r}: the device is not behind the link proxy")
                # seeded by the run: the same run draws the same lost frames in any session
                self._handles[fault.name] = proxy.schedule(LINK_RULES[fault.kind](dict(fault.params)), seed)

    def apply(self, fs) -> None:
        fault = fs.fault
        if fault.channel == "link":
            self.device.proxy.enable(self._handles[fault.name], fs.active)
            self.reports[fault.name] = {"rule": LINK_RULES[fault.kind](dict(fault.params))}
        elif fault.kind == "device.slow":
            self.device.slow(int(fault.param("step_delay_us")) if fs.active else 0)
            self._slowed = fs.active
            self.reports[fault.name] = {"method": _inner(self.device).slow_method()}
        elif fault.kind == "device.reset" and fs.active:
            report = self.device.reset()
            if self.boot_wait_s:
                time.sleep(self.boot_wait_s)          # a board's bootloader: as at the session's start
            self.reports[fault.name] = report

    def finish(self) -> None:
        proxy = getattr(self.device, "proxy", None)
        for handle in self._handles.values():
            if proxy is not None:
                proxy.enable(handle, False)
        if self._slowed:
            self.device.slow(0)
            self._slowed = False


def describe_rig_action(action: dict | None) -> str:
    """What the rig did for a link or device fault: the proxy rule, or the reset and how long it took."""
    if not action:
        return ""
    if "rule" in action:
        return f" (proxy rule {action['rule']})"
    took = f", {action['took_s'] * 1e3:.0f} ms" if action.get("took_s") is not None else ""
    relay = (f", relay switched in {action['off_latency_s'] * 1e3:.1f} / {action['on_latency_s'] * 1e3:.1f} ms"
             if "off_latency_s" in action else "")
    return f" ({action.get('method', 'done')}{took}{relay})"
