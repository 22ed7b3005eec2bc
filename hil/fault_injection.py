"""A plant with a fault schedule: what the executive flies when a run has faults.

FaultyPlant stands in for the Plant (sense, apply, advance, truth, ...). Once per control cycle,
at sense(), it checks the schedule's triggers against plant truth, the controller's last state
and the plant's events, starts and ends faults, applies the hardware ones to the plant
(plant.retune, hold_throttle, fail_cut) and hands the controller the frame its faulty sensors
deliver. Its truth carries `faults_active` (telemetry's truth_faults_active column).
"""

from __future__ import annotations

import numpy as np

from hil.executive import state_name
from plant.faults import Fault, FaultSchedule


class FaultyPlant:
    def __init__(self, plant, faults: tuple[Fault, ...], rng: np.random.Generator) -> None:
        self._plant = plant
        self.schedule = FaultSchedule(faults, rng)
        self.controller_state = "STANDBY"
        self._happened: set[str] = set()
        self._events_seen = 0
        # What the executive calls every cycle, bound once (a __getattr__ lookup costs per call).
        self.advance, self.apply = plant.advance, plant.apply

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
        changed = self.schedule.update(plant.t, plant.height(), self.controller_state, self._happened)
        if changed and any(fs.fault.channel in ("engines", "bud", "cut") for fs in changed):
            self._apply_hardware()
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

    def summary(self) -> list[dict]:
        """Each fault: applied or not, when it started and ended, in which phase."""
        return [fs.summary() for fs in self.schedule.states]
