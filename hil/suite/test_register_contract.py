"""The device's side of the register map on this rig's wire, beyond what a landing sends.

A landing writes the whole config block, then one well-formed sensor frame per cycle. These
checks send what a landing never does, and which docs/icd.md still promises an answer to: a
single-register write (FC06), the exceptions for a value out of range, a read outside every
block, a write to a read-only block, a partial sensor frame and an f32 field split in two; a
repeated frame (the lockstep retry) answered without a second control step; a frame that skips
a number and goes back in time flagged; and a broadcast, acted on by nobody. Measured on the
coverage SIL, landings alone left these paths of firmware/core unreached (docs/coverage.md).
"""

import pytest

from hil import icd
from hil.errors import ModbusExceptionReply

ILLEGAL_ADDRESS, ILLEGAL_VALUE = 2, 3
CONFIG = dict(icd.config_defaults(), timing_mode=int(icd.TimingMode.LOCKSTEP))


def _frame(number: int, t_us: int) -> list[int]:
    """A hovering sensor frame: radar and IMU valid, 100 m up, at rest."""
    values = {f.name: 0.0 if f.type == "f32" else 0 for f in icd.SENSORS.fields}
    values.update(frame=number, t_us=t_us, radar_seq=number, altitude_m=100.0, imu_fz=3.71,
                  flags=int(icd.SensorFlags.RADAR_VALID | icd.SensorFlags.IMU_VALID), thrust_avail=1.0)
    return icd.SENSORS.encode_map(values)


def _step(link, frame: list[int]):
    registers = link.read_write(icd.SENSORS.base, frame, icd.COMMANDS.base, icd.COMMANDS.length)
    return icd.COMMANDS.decode_record(registers)


def _refused(code: int, action, *args) -> None:
    with pytest.raises(ModbusExceptionReply) as caught:
        action(*args)
    assert caught.value.code == code, str(caught.value)


@pytest.mark.requirement("CTRL-ICD-001", "CTRL-CFG-001", "CTRL-LINK-003")
@pytest.mark.needs("wire")
def test_the_device_answers_what_a_landing_never_sends(hil_session, hil_rig):
    link = hil_session.link
    link.write_registers(icd.CONFIG.base, icd.encode_config(CONFIG))      # a new run on the device
    td_enable = icd.CONFIG.address_of("td_enable")
    link.write_register(td_enable, 0)                                     # FC06, echoed
    assert link.read_holding(td_enable, 1) == [0]
    _refused(ILLEGAL_VALUE, link.write_register, td_enable, 2)            # outside 0..1
    kp_vz = icd.CONFIG.address_of("kp_vz")
    too_high = icd.encode_config({**CONFIG, "kp_vz": 25.0})[kp_vz - icd.CONFIG.base:][:2]   # max 20
    _refused(ILLEGAL_VALUE, link.write_registers, kp_vz, too_high)
    _refused(ILLEGAL_ADDRESS, link.write_registers, kp_vz + 1, [0])      # half of an f32 field
    _refused(ILLEGAL_ADDRESS, link.read_holding, icd.COMMANDS.base + icd.COMMANDS.length, 1)   # no block there
    _refused(ILLEGAL_ADDRESS, link.write_registers, icd.COMMANDS.base, [0])                   # read-only block
    _refused(ILLEGAL_ADDRESS, link.write_registers, icd.SENSORS.base, [0])                    # part of a frame

    first = _step(link, _frame(1, 20_000))
    assert link.read_holding(icd.SENSORS.base, icd.SENSORS.length) == _frame(1, 20_000)
    again = _step(link, _frame(1, 20_000))            # the lockstep retry of a lost reply
    assert again.step_count == first.step_count == 1, "a repeated frame must not step the controller again"
    assert again == first._replace(read_tick_us=again.read_tick_us)
    skipped_back = _step(link, _frame(3, 10_000))      # frame 2 missing, clock 10 ms back
    assert skipped_back.step_count == 2
    assert skipped_back.faults & icd.Faults.FRAME_SKIP and skipped_back.faults & icd.Faults.CLOCK_BACKWARDS

    link.unit = 0                                     # a broadcast: no reply, and no unit acts on it
    try:
        link.write_register(td_enable, 1)
    finally:
        link.unit = hil_rig.unit
    assert link.read_holding(td_enable, 1) == [0]
