"""Lockstep executive: the plant drives time; one FC23 exchange per control cycle."""

from __future__ import annotations

import time
from collections.abc import Callable

from hil import icd
from hil.errors import FrameError
from hil.icd import Discretes, SensorFlags

CycleObserver = Callable[[int, object, object, tuple], None]  # frame, truth, sensors, command record


class LockstepExecutive:
    """Sample sensors, exchange one frame, apply the commands, integrate to the next cycle.

    Deterministic: nothing here reads the wall clock except to measure the link, so the same
    scenario and seed give the same landing at any link speed.
    """

    def __init__(self, plant, link, control_rate_hz: float, observers: list[CycleObserver]) -> None:
        self.plant = plant
        self.link = link
        self.dt = 1.0 / control_rate_hz
        self.observers = observers
        self.cycles = 0  # completed cycles; the frame in flight is cycles + 1
        self.round_trips_us: list[float] = []
        self.device_step_us: list[int] = []  # the control step's duration as the device measured it

    def run(self, max_time_s: float) -> str:
        """Fly until the descent stage is on the ground or the time limit; returns why it stopped."""
        plant, link = self.plant, self.link
        write_base, read_base, read_len = icd.SENSORS.base, icd.COMMANDS.base, icd.COMMANDS.length
        while not plant.ended:
            if plant.t >= max_time_s - 1e-9:
                return f"time limit {max_time_s:g} s"
            frame = self.cycles + 1
            sensors = plant.sense()
            registers = icd.SENSORS.encode(sensor_block(frame, sensors))
            started = time.perf_counter()
            reply = link.read_write(write_base, registers, read_base, read_len, frame=frame)
            self.round_trips_us.append((time.perf_counter() - started) * 1e6)
            command = icd.COMMANDS.decode_record(reply)
            if command.frame != frame:
                raise FrameError(f"device answered frame {command.frame} to frame {frame}",
                                 port=link.port, frame=frame)
            self.device_step_us.append(command.step_time_us)
            truth = plant.truth()
            plant.apply(command.throttle, command.tilt_x_rad, command.tilt_y_rad,
                        bool(command.discretes & Discretes.SEPARATE), bool(command.discretes & Discretes.CUT))
            for observe in self.observers:
                observe(frame, truth, sensors, command)
            self.cycles = frame  # completed and recorded
            # Advance to the cycle's nominal end, not by a fixed dt: when the substep rate is not a
            # multiple of the control rate, the plant's rounding to whole substeps cannot drift.
            plant.advance(max(0.0, frame * self.dt - plant.t))
        return "descent stage on the ground"


def sensor_block(frame: int, s) -> tuple:
    """A plant SensorFrame as the ICD sensor block's field values, in order."""
    flags = ((SensorFlags.RADAR_VALID if s.radar_valid else 0)
             | (SensorFlags.SEPARATED if s.separated else 0)
             | (SensorFlags.CUT if s.cut else 0)
             | (SensorFlags.IMU_VALID if s.imu_valid else 0))
    return (frame, round(s.t * 1e6), s.radar_seq & 0xFFFF, s.altitude_m, s.vx_mps, s.vy_mps, s.vz_mps,
            s.imu_fx, s.imu_fy, s.imu_fz, s.bridle_length_m, int(flags))
