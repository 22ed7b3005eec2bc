"""The Plant: fixed-rate substeps of the dynamics; commands, modes, sensors and events."""
import math
from collections import deque
from dataclasses import replace

import numpy as np

from plant import actuators, dynamics, events, noise
from plant.actuators import propagate, throttle_command, tilt_command
from plant.dynamics import (
    ATTACHED,
    BRIDLE_LENGTH,
    DS_VX,
    DS_VY,
    DS_VZ,
    DS_X,
    DS_Y,
    DS_Z,
    FREE,
    HANGING,
    MECHANICS,
    MODE_SIZE,
    ROVER_Z,
)
from plant.events import Event
from plant.imu import Imu
from plant.integrator import rk4_forced
from plant.params import InitialConditions, PlantParams
from plant.radar import Radar
from plant.sensors import SensorFrame
from plant.terrain import height_at, terrain
from plant.truth import Truth
from plant.wind import Wind

NEVER = 1 << 62  # a substep count no run reaches


class Plant:
    """Descent stage and rover over inclined terrain: throttle, two tilts, separate and cut."""

    def __init__(self, params: PlantParams, initial: InitialConditions,
                 rng: np.random.Generator) -> None:
        self.params = params
        self.initial = initial   # what it was started from (a campaign reads dispersed values back)
        self._c = dynamics.constants(params)
        self._k = actuators.actuator_constants(params)
        self._plane = terrain(params.terrain)
        self._hz = float(params.substep_hz)
        self._steps = 0
        self.t = 0.0
        self.ended = False
        self.events: list[Event] = []
        self.first_contact: dict | None = None
        self._mode = ATTACHED
        self._bridles_full = False
        self._propellant_out = params.descent_stage.propellant_kg <= 0.0
        # Until the first apply() the engines and attitude hold the initial throttle and tilts.
        self._throttle_cmd = throttle_command(initial.throttle, params.engine.min_throttle)
        max_tilt = params.attitude.max_tilt_rad
        self._tilt_x_cmd = tilt_command(initial.tilt_x_rad, max_tilt)
        self._tilt_y_cmd = tilt_command(initial.tilt_y_rad, max_tilt)
        self._dead_steps = round(params.engine.dead_time_s * self._hz)
        self._throttle_held = False   # a stuck-throttle fault: commands do not reach the engines
        self._cut_works = True        # a failed cut pyro: the cut command does nothing
        self._delayed: deque[tuple[int, float]] = deque()  # (due substep count, throttle command)
        x0, y0 = float(initial.x_m), float(initial.y_m)
        v0 = (float(initial.vx_mps), float(initial.vy_mps), float(initial.vz_mps))
        self._x = [x0, y0, height_at(self._plane, x0, y0) + initial.altitude_m, *v0,
                   0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
        dynamics.mirror_rover(self._x, self._c)
        self._act = [float(initial.throttle), self._tilt_x_cmd, self._tilt_y_cmd,
                     float(params.descent_stage.propellant_kg)]
        # One stream per noise source (plant/noise.py), so a batch can draw each one ahead.
        streams = noise.split(rng)
        self._wind = Wind(params.wind, self._hz, streams[noise.WIND])
        self._radar = Radar(params.radar, self._hz, self._plane, streams[noise.RADAR_NOISE],
                            streams[noise.RADAR_EVENTS])
        self._imu = Imu(params.imu, self._c.gravity, streams[noise.IMU], 0.0, v0)
        self._next_radar = 0
        self._next_wind = self._wind.every if self._wind.gusty else NEVER
        self._discrete()  # the radar's first measurement, at t = 0

    # ----------------------------------------------------------------- commands

    def apply(self, throttle: float, tilt_x_rad: float, tilt_y_rad: float,
              separate: bool, cut: bool) -> None:
        """Set the commands held until the next apply(); separate and cut latch.

        tilt_x_rad and tilt_y_rad point the thrust along (tan tilt_x, tan tilt_y, 1) normalised:
        either alone tilts it by that angle toward +x or +y. The throttle takes effect after the
        engine dead time, if any."""
        command = throttle_command(throttle, self.params.engine.min_throttle)
        if self._throttle_held:
            pass
        elif self._dead_steps:
            self._delayed.append((self._steps + self._dead_steps, command))
        else:
            self._throttle_cmd = command
        max_tilt = self.params.attitude.max_tilt_rad
        self._tilt_x_cmd = tilt_command(tilt_x_rad, max_tilt)
        self._tilt_y_cmd = tilt_command(tilt_y_rad, max_tilt)
        if (separate or cut) and self._mode == ATTACHED and not self.ended:
            self._separate()
        if cut and self._mode == HANGING and not self.ended and self._cut_works:
            self._cut()

    # ----------------------------------------------------------------- hardware faults

    def retune(self, *, thrust_scale: float = 1.0, engine_lag_scale: float = 1.0, payout_scale: float = 1.0,
               bridle_stop_m: float | None = None) -> None:
        """The hardware changes mid-flight (plant/faults.py): delivered thrust and propellant flow
        scaled (engines out), the engines' lag, the BUD brake's speed, where the bridles stop (a
        snag; never shorter than what is already out). Each call starts from the scenario's
        parameters, so retune() with no arguments restores them."""
        p = self.params
        stop = p.bridle.length_m if bridle_stop_m is None else max(bridle_stop_m, self._x[BRIDLE_LENGTH])
        faulty = replace(p, engine=replace(p.engine, thrust_bias=p.engine.thrust_bias * thrust_scale,
                                           time_constant_s=p.engine.time_constant_s * engine_lag_scale),
                         bridle=replace(p.bridle, payout_rate_mps=p.bridle.payout_rate_mps * payout_scale,
                                        spool_damping_n_s_per_m=p.bridle.spool_damping_n_s_per_m / payout_scale,
                                        length_m=stop))
        self._c = dynamics.constants(faulty)
        self._k = actuators.actuator_constants(faulty)

    def hold_throttle(self, held: bool) -> None:
        """A stuck throttle: the engines keep the command they track now until released."""
        self._throttle_held = held
        if held:
            self._delayed.clear()

    def fail_cut(self, failed: bool) -> None:
        """A cut pyro that does not fire: the cut command does nothing while failed."""
        self._cut_works = not failed

    def _separate(self) -> None:
        # The rover starts exactly where the rigid attachment held it, with no bridle out.
        x = self._x
        dynamics.mirror_rover(x, self._c)
        x[BRIDLE_LENGTH] = 0.0
        self._mode = HANGING
        self._record(events.ROVER_SEPARATION, {"ds_z": x[DS_Z], "ds_vz": x[DS_VZ]})

    def _cut(self) -> None:
        self._mode = FREE
        self._record(events.BRIDLE_CUT, {"ds_z": self._x[DS_Z], "rover_z": self._x[ROVER_Z]})

    def _record(self, name: str, data: dict) -> None:
        self.events.append(Event(name, self.t, data))

    # ----------------------------------------------------------------- time

    def advance(self, duration_s: float) -> None:
        """Run round(duration_s * substep_hz) substeps, stopping early once ended."""
        if not (math.isfinite(duration_s) and duration_s >= 0.0):
            raise ValueError(f"duration_s must be finite and >= 0, got {duration_s!r}")
        end = self._steps + round(duration_s * self._hz)
        while self._steps < end and not self.ended:
            due = min(self._next_radar, self._next_wind,
                      self._delayed[0][0] if self._delayed else NEVER)
            if due > self._steps:
                self._run(min(end, due))
            if self._steps >= due and not self.ended:
                self._discrete()

    def _discrete(self) -> None:
        """Work due at this substep count: radar measurement, gust update, delayed throttle."""
        steps = self._steps
        while self._delayed and self._delayed[0][0] <= steps:
            self._throttle_cmd = self._delayed.popleft()[1]
        if steps >= self._next_radar:
            x, act = self._x, self._act
            thrusting = self._throttle_cmd > 0.0 and act[3] > 0.0
            self._radar.measure(steps, (x[DS_X], x[DS_Y], x[DS_Z]), (x[DS_VX], x[DS_VY], x[DS_VZ]),
                                act[1], act[2], thrusting)
            self._next_radar += self._radar.every
        if steps >= self._next_wind:
            self._wind.update()
            self._next_wind += self._wind.every

    def _run(self, stop: int) -> None:
        """Substeps up to count `stop` with commands, mode and wind fixed: the hot loop."""
        mode = self._mode
        mech, size = MECHANICS[mode], MODE_SIZE[mode]
        c, k, dt = self._c, self._k, self._k.dt
        act, x = self._act, self._x
        xs = x[:size]
        carried = k.rover_mass if mode == ATTACHED else 0.0
        throttle, tilt_x, tilt_y = self._throttle_cmd, self._tilt_x_cmd, self._tilt_y_cmd
        wind = self._wind.velocity
        f0 = actuators.forcing(act[0], act[1], act[2], act[3], carried, k)
        z0, grad_x, grad_y, cos_s = c.ground_z0, c.grad_x, c.grad_y, c.cos_slope
        # Where the wheels are in xs: under the DS while attached, else the rover's own entries.
        wheel, lift = (0, c.deck_height) if mode == ATTACHED else (6, 0.0)
        watch_contact = self.first_contact is None
        watch_bridle = mode == HANGING and not self._bridles_full
        watch_propellant = not self._propellant_out
        length_max = c.length_max
        steps = self._steps
        while steps < stop:
            f_mid, f1 = propagate(act, throttle, tilt_x, tilt_y, carried, k)
            before = xs
            xs = rk4_forced(mech, xs, dt, f0, f_mid, f1, wind, c)
            steps += 1
            # Discrete checks between substeps, in a fixed order; events carry the substep's end.
            if watch_propellant and act[3] <= 0.0:
                act[3] = 0.0
                watch_propellant = False
                self._propellant_out = True
                self._event_at(steps, events.PROPELLANT_OUT, {"ds_z": xs[DS_Z]})
            if watch_bridle and xs[BRIDLE_LENGTH] >= length_max:
                xs[BRIDLE_LENGTH] = length_max
                watch_bridle = False
                self._bridles_full = True
                self._event_at(steps, events.BRIDLES_FULL,
                               {"ds_z": xs[DS_Z], "rover_z": xs[ROVER_Z]})
            if watch_contact and (z0 + grad_x * xs[wheel] + grad_y * xs[wheel + 1]
                                  - xs[wheel + 2] + lift) > 0.0:
                watch_contact = False
                self._first_contact(steps, before, f0, wind, wheel, lift)
            if xs[DS_Z] - z0 - grad_x * xs[DS_X] - grad_y * xs[DS_Y] <= 0.0:
                self.ended = True
                self._event_at(steps, events.DS_GROUND_CONTACT,
                               {"vx": xs[DS_VX], "vy": xs[DS_VY], "vz": xs[DS_VZ]})
                break
            f0 = f1
        x[:size] = xs
        if mode == ATTACHED:
            dynamics.mirror_rover(x, c)
        self._steps = steps
        self.t = steps / self._hz  # from the count, so t does not drift over a run

    def _event_at(self, steps: int, name: str, data: dict) -> None:
        self.t = steps / self._hz
        self._record(name, data)

    def _first_contact(self, steps: int, before: list[float], f0: actuators.Forcing,
                       wind: tuple[float, float], wheel: int, lift: float) -> None:
        """Record the rover's velocity at the instant its wheel point reached the terrain plane.

        The contact damper already brakes the rover inside the detecting substep, so its end
        velocity would understate the touchdown speed. Extrapolate instead from the contact-free
        state before the substep at constant acceleration, along the terrain normal."""
        c = self._c
        accel = MECHANICS[self._mode](before, f0, wind, c)
        nz = c.cos_slope
        n = (-c.grad_x * nz, -c.grad_y * nz, nz)
        px, py, pz = before[wheel], before[wheel + 1], before[wheel + 2] - lift
        v = before[wheel + 3:wheel + 6]
        a = accel[wheel + 3:wheel + 6]
        gap = (pz - c.ground_z0 - c.grad_x * px - c.grad_y * py) * nz  # > 0: above the plane
        vn = sum(ni * vi for ni, vi in zip(n, v))
        an = sum(ni * ai for ni, ai in zip(n, a))
        # First root of gap + vn s + an s^2 / 2 = 0, in the cancellation-free form.
        disc = vn * vn - 2.0 * an * gap
        denom = -vn + math.sqrt(disc) if disc >= 0.0 else 0.0
        s = 2.0 * gap / denom if denom > 0.0 and gap > 0.0 else 0.0
        s = min(s, self._k.dt)
        vx, vy, vz = (vi + ai * s for vi, ai in zip(v, a))
        self.t = steps / self._hz
        self.first_contact = {"t": self.t, "vx": vx, "vy": vy, "vz": vz}
        self._record(events.ROVER_CONTACT, {"vx": vx, "vy": vy, "vz": vz})

    # ----------------------------------------------------------------- outputs

    @property
    def mode(self) -> int:
        """dynamics.ATTACHED, HANGING or FREE."""
        return self._mode

    def height(self) -> float:
        """The descent stage's height above the terrain under it (truth().ds_height_m, cheaply)."""
        x = self._x
        return x[DS_Z] - height_at(self._plane, x[DS_X], x[DS_Y])

    def state(self) -> tuple[float, ...]:
        """The full state in dynamics.STATE_NAMES order (for reference integrators and tests)."""
        return tuple(self._x) + tuple(self._act)

    def inputs(self) -> dynamics.Inputs:
        """The commands, configuration and wind the next substep will use."""
        wx, wy = self._wind.velocity
        return dynamics.Inputs(self._throttle_cmd, self._tilt_x_cmd, self._tilt_y_cmd,
                               self._mode, wx, wy)

    def truth(self) -> Truth:
        """Snapshot of the true state and loads now."""
        x, act, c = self._x, self._act, self._c
        (ds_x, ds_y, ds_z, ds_vx, ds_vy, ds_vz, rover_x, rover_y, rover_z,
         rover_vx, rover_vy, rover_vz, length) = x
        throttle, tilt_x, tilt_y, propellant = act
        thrust = self._k.full_thrust * throttle if propellant > 0.0 else 0.0
        propellant = max(0.0, propellant)
        tension = dynamics.bridle_tension(x, c) if self._mode == HANGING else 0.0
        normal = dynamics.normal_force(dynamics.rover_depth(x, c), rover_vx, rover_vy, rover_vz, c)
        wind_x, wind_y = self._wind.velocity
        return Truth(
            t=self.t,
            ds_x=ds_x, ds_y=ds_y, ds_z=ds_z, ds_vx=ds_vx, ds_vy=ds_vy, ds_vz=ds_vz,
            rover_x=rover_x, rover_y=rover_y, rover_z=rover_z,
            rover_vx=rover_vx, rover_vy=rover_vy, rover_vz=rover_vz,
            tilt_x_rad=tilt_x, tilt_y_rad=tilt_y, throttle_actual=throttle, thrust_n=thrust,
            propellant_kg=propellant, ds_mass_kg=self._k.dry_mass + propellant,
            bridle_length_m=length, bridle_tension_n=tension, rover_normal_force_n=normal,
            ground_z_rover=height_at(self._plane, rover_x, rover_y),
            ds_height_m=ds_z - height_at(self._plane, ds_x, ds_y),
            wind_x=wind_x, wind_y=wind_y,
            separated=self._mode != ATTACHED, cut=self._mode == FREE,
        )

    def sense(self) -> SensorFrame:
        """Sensor readings now: the newest delivered radar measurement, the IMU mean since the
        previous call (draws three normals), the BUD encoder and the latched discretes."""
        radar = self._radar
        radar.deliver(self._steps)
        x = self._x
        imu_valid, fx, fy, fz = self._imu.read(self.t, (x[DS_VX], x[DS_VY], x[DS_VZ]))
        return SensorFrame(
            t=self.t,
            radar_valid=radar.valid, radar_seq=radar.seq, altitude_m=radar.altitude_m,
            vx_mps=radar.vx_mps, vy_mps=radar.vy_mps, vz_mps=radar.vz_mps,
            imu_valid=imu_valid, imu_fx=fx, imu_fy=fy, imu_fz=fz,
            bridle_length_m=x[BRIDLE_LENGTH],
            separated=self._mode != ATTACHED, cut=self._mode == FREE,
        )

    def event_time(self, name: str) -> float | None:
        """Time of the named event, or None if it has not happened."""
        for event in self.events:
            if event.name == name:
                return event.t
        return None
