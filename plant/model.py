"""The Plant: steps the dynamics at a fixed substep rate and handles commands, modes and events."""
import math

import numpy as np

from plant import dynamics, events
from plant.actuators import throttle_command, tilt_command
from plant.dynamics import (ATTACHED, BRIDLE_LENGTH, DS_VX, DS_VZ, DS_X, DS_Z, FREE, HANGING,
                            PROPELLANT, ROVER_VX, ROVER_VZ, ROVER_X, ROVER_Z, THROTTLE, TILT)
from plant.events import Event
from plant.integrator import rk4_step
from plant.params import InitialConditions, PlantParams
from plant.sensors import SensorFrame, measure
from plant.truth import Truth


class Plant:
    """Descent stage and rover on flat ground, driven by throttle, tilt, separate and cut."""

    def __init__(self, params: PlantParams, initial: InitialConditions,
                 rng: np.random.Generator) -> None:
        self.params = params
        self._rng = rng
        self._c = dynamics.constants(params)
        self._dt = 1.0 / params.substep_hz
        self._steps = 0
        self.t = 0.0
        self.ended = False
        self.events: list[Event] = []
        self.first_contact: dict | None = None
        self._mode = ATTACHED
        self._bridles_full = False
        self._propellant_out = params.descent_stage.propellant_kg <= 0.0
        # Until the first apply() the engines hold the initial throttle and tilt.
        self._throttle_cmd = throttle_command(initial.throttle, params.engine)
        self._tilt_cmd = tilt_command(initial.tilt_rad, params.attitude)
        self._x = dynamics.initial_state(params, initial, self._tilt_cmd)
        self._u = self._inputs()

    # ----------------------------------------------------------------- commands

    def apply(self, throttle: float, tilt_rad: float, separate: bool, cut: bool) -> None:
        """Set the commands held until the next apply(); separate and cut latch."""
        self._throttle_cmd = throttle_command(throttle, self.params.engine)
        self._tilt_cmd = tilt_command(tilt_rad, self.params.attitude)
        if (separate or cut) and self._mode == ATTACHED and not self.ended:
            self._separate()
        if cut and self._mode == HANGING and not self.ended:
            self._cut()
        self._u = self._inputs()

    def _separate(self) -> None:
        x = self._x
        # The rover starts exactly where the rigid attachment put it, with zero bridle out.
        x[ROVER_X] = x[DS_X]
        x[ROVER_Z] = x[DS_Z] - self._c.deck_height
        x[ROVER_VX] = x[DS_VX]
        x[ROVER_VZ] = x[DS_VZ]
        x[BRIDLE_LENGTH] = 0.0
        self._mode = HANGING
        self._record(events.ROVER_SEPARATION, {"ds_z": x[DS_Z], "ds_vz": x[DS_VZ]})

    def _cut(self) -> None:
        self._mode = FREE
        self._record(events.BRIDLE_CUT, {"ds_z": self._x[DS_Z], "rover_z": self._x[ROVER_Z]})

    def _inputs(self) -> dynamics.Inputs:
        paying_out = self._mode == HANGING and not self._bridles_full
        rate = float(self.params.bridle.payout_rate_mps) if paying_out else 0.0
        return dynamics.Inputs(self._throttle_cmd, self._tilt_cmd, self._mode, rate)

    def _record(self, name: str, data: dict) -> None:
        self.events.append(Event(name, self.t, data))

    # ----------------------------------------------------------------- time

    def advance(self, duration_s: float) -> None:
        """Run round(duration_s * substep_hz) substeps, stopping early once ended."""
        if not (math.isfinite(duration_s) and duration_s >= 0.0):
            raise ValueError(f"duration_s must be finite and >= 0, got {duration_s!r}")
        n = round(duration_s * self.params.substep_hz)
        # Locals keep the hot loop free of attribute look-ups.
        f, step, c, dt = dynamics.derivatives, rk4_step, self._c, self._dt
        hz = float(self.params.substep_hz)
        u, x = self._u, self._x
        length_max = float(self.params.bridle.length_m)
        for _ in range(n):
            if self.ended:
                break
            before = x
            x = step(f, self.t, x, dt, u, c)
            self._x = x
            self._steps += 1
            self.t = self._steps / hz  # from the count, so t does not drift over a run
            # Discrete checks between substeps, in a fixed order.
            if x[PROPELLANT] <= 0.0 and not self._propellant_out:
                x[PROPELLANT] = 0.0
                self._propellant_out = True
                self._record(events.PROPELLANT_OUT, {"ds_z": x[DS_Z]})
            if u.payout_rate and x[BRIDLE_LENGTH] >= length_max:
                x[BRIDLE_LENGTH] = length_max
                self._bridles_full = True
                self._record(events.BRIDLES_FULL, {"ds_z": x[DS_Z], "rover_z": x[ROVER_Z]})
                u = self._u = self._inputs()
            if x[ROVER_Z] < 0.0 and self.first_contact is None:
                vx, vz = self._touchdown_velocity(before)
                self.first_contact = {"t": self.t, "vz": vz, "vx": vx}
                self._record(events.ROVER_CONTACT, {"vz": vz, "vx": vx})
            if x[DS_Z] <= 0.0:
                self.ended = True
                self._record(events.DS_GROUND_CONTACT, {"vz": x[DS_VZ], "vx": x[DS_VX]})

    def _touchdown_velocity(self, before: list[float]) -> tuple[float, float]:
        """Rover (vx, vz) at the instant its wheels reached z = 0 during the last substep.

        The contact damper already brakes the rover inside that substep (up to c dt / m, ~2.5 %
        of the speed), so the end-of-substep velocity would understate the touchdown speed.
        Extrapolate instead from the contact-free state before the substep at constant
        acceleration."""
        accel = dynamics.derivatives(self.t - self._dt, before, self._u, self._c)
        z0, vz0, az = before[ROVER_Z], before[ROVER_VZ], accel[ROVER_VZ]
        # First root of z0 + vz0 s + az s^2 / 2 = 0, in the cancellation-free form.
        disc = vz0 * vz0 - 2.0 * az * z0
        denom = -vz0 + math.sqrt(disc) if disc >= 0.0 else 0.0
        s = 2.0 * z0 / denom if denom > 0.0 and z0 > 0.0 else 0.0
        s = min(s, self._dt)
        return before[ROVER_VX] + accel[ROVER_VX] * s, vz0 + az * s

    # ----------------------------------------------------------------- outputs

    def truth(self) -> Truth:
        """Snapshot of the true state and loads now."""
        x = self._x
        thrust, tension, normal = dynamics.loads(x, self._u, self._c)
        propellant = max(0.0, x[PROPELLANT])
        return Truth(
            t=self.t,
            ds_x=x[DS_X], ds_z=x[DS_Z], ds_vx=x[DS_VX], ds_vz=x[DS_VZ],
            rover_x=x[ROVER_X], rover_z=x[ROVER_Z], rover_vx=x[ROVER_VX], rover_vz=x[ROVER_VZ],
            tilt_rad=x[TILT], throttle_actual=x[THROTTLE], thrust_n=thrust,
            propellant_kg=propellant, ds_mass_kg=self._c.dry_mass + propellant,
            bridle_length_m=x[BRIDLE_LENGTH], bridle_tension_n=tension,
            rover_normal_force_n=normal,
            separated=self._mode != ATTACHED, cut=self._mode == FREE,
        )

    def sense(self) -> SensorFrame:
        """Noisy sensor readings now (draws from the plant's random generator)."""
        return measure(self.truth(), self.params.sensors, self._rng)

    def event_time(self, name: str) -> float | None:
        """Time of the named event, or None if it has not happened."""
        for event in self.events:
            if event.name == name:
                return event.t
        return None
