"""The device side of the ICD: a register bank that runs one control step per sensor frame.

This is what the firmware's application glue does in C: identity and command blocks are
read-only, config writes are range-checked (exception 03 leaves the old value), and a write
of the whole sensor block runs the controller, whose answer the same FC23 then reads back.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from hil import icd
from hil.devices.rtu_server import IllegalAddress, IllegalValue
from hil.reference import ReferenceController, SensorInput


class ControllerRegisters:
    """Modbus register handler around a ReferenceController (the loopback device's brain)."""

    def __init__(self, controller: ReferenceController, *, device_kind: int, build_id: int) -> None:
        self.controller = controller
        self._identity = icd.IDENTITY.encode([icd.ICD_VERSION, icd.LAYOUT_HASH, device_kind, build_id])
        self._config = icd.encode_config(controller.config)
        self._sensors = [0] * icd.SENSORS.length
        self._commands = icd.COMMANDS.encode([0, 0, 0.0, 0.0, 0.0, 0, icd.TD_NOT_DECLARED, 0, 0])
        self.steps = 0

    def _bank(self, address: int, count: int) -> tuple[icd.Block, list[int]]:
        for block, regs in ((icd.IDENTITY, self._identity), (icd.CONFIG, self._config),
                            (icd.SENSORS, self._sensors), (icd.COMMANDS, self._commands)):
            if block.base <= address and address + count <= block.base + block.length:
                return block, regs
        raise IllegalAddress(f"registers 0x{address:04X}+{count} are not inside one block")

    def read(self, address: int, count: int) -> list[int]:
        block, regs = self._bank(address, count)
        offset = address - block.base
        return regs[offset:offset + count]

    def write(self, address: int, values: Sequence[int]) -> None:
        block, _ = self._bank(address, len(values))
        if block is icd.CONFIG:
            self._write_config(address, values)
        elif block is icd.SENSORS:
            if address != block.base or len(values) != block.length:
                raise IllegalAddress("a sensor frame must be written as the whole block")
            self._sensors = list(values)
            self._step()
        else:
            raise IllegalAddress(f"the {block.name} block is read-only")

    def _write_config(self, address: int, values: Sequence[int]) -> None:
        """Apply a config write only if it covers whole fields and every value is in range."""
        candidate = list(self._config)
        offset = address - icd.CONFIG.base
        candidate[offset:offset + len(values)] = values
        decoded = icd.CONFIG.decode_map(candidate)
        touched = [(a, f) for a, f in icd.CONFIG.addresses()
                   if a < address + len(values) and address < a + f.words]
        changed = {}
        for field_address, f in touched:
            if field_address < address or field_address + f.words > address + len(values):
                raise IllegalAddress(f"write splits the two registers of {f.name}")
            try:
                changed[f.name] = icd.check_config_value(f.name, decoded[f.name])
            except ValueError as exc:
                raise IllegalValue(str(exc)) from None
        self._config = candidate
        self.controller.config.update(changed)

    def _step(self) -> None:
        frame = SensorInput(*icd.SENSORS.decode(self._sensors))  # fields in ICD order
        started = time.perf_counter_ns()
        out = self.controller.step(frame)
        step_us = (time.perf_counter_ns() - started) // 1000
        self._commands = icd.COMMANDS.encode((out.frame, out.state, out.throttle, out.tilt_x_rad, out.tilt_y_rad,
                                              out.discretes, out.td_time_us, out.faults, step_us))
        self.steps += 1
