"""The loopback device's register bank, over real Modbus RTU on a pty: what a board must also do."""

import pytest

from hil import icd
from hil.errors import ModbusExceptionReply
from hil.link.rtu_client import RtuClient

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def link(served_controller):
    path, registers, _ = served_controller
    with RtuClient(path, timeout_s=0.5) as client:
        yield client, registers


def sensor_frame(frame, t_us, altitude=1500.0, vz=-70.0, flags=icd.SensorFlags.RADAR_VALID):
    return icd.SENSORS.encode([frame, t_us, 1, altitude, 0.0, 0.0, vz, 0.0, 0.0, 3.711, 0.0, int(flags), 0, 1.0])


def test_identity_block_names_the_icd(link):
    client, _ = link
    ident = icd.IDENTITY.decode_map(client.read_holding(icd.IDENTITY.base, icd.IDENTITY.length))
    assert ident["icd_version"] == icd.ICD_VERSION and ident["layout_hash"] == icd.LAYOUT_HASH


def test_fc23_runs_one_control_step_and_echoes_the_frame(link):
    client, registers = link
    reply = client.read_write(icd.SENSORS.base, sensor_frame(5, 100_000), icd.COMMANDS.base, icd.COMMANDS.length)
    command = icd.COMMANDS.decode_map(reply)
    assert command["frame"] == 5 and command["state"] == icd.ControllerState.POWERED_DESCENT
    assert 0.0 < command["throttle"] <= 1.0 and registers.step_count == 1
    assert command["step_count"] == 1 and command["frame_rx_tick_us"] == command["step_tick_us"]


def test_a_config_write_starts_a_new_run(link):
    client, registers = link
    client.read_write(icd.SENSORS.base, sensor_frame(1, 20_000), icd.COMMANDS.base, icd.COMMANDS.length)
    client.write_registers(icd.CONFIG.base, icd.encode_config(registers.controller.config))
    command = icd.COMMANDS.decode_map(client.read_holding(icd.COMMANDS.base, icd.COMMANDS.length))
    assert (command["state"], command["step_count"], command["frame"]) == (icd.ControllerState.STANDBY, 0, 0)
    assert command["td_time_us"] == icd.TD_NOT_DECLARED and registers.step_count == 0


def test_config_write_in_range_takes_effect(link):
    client, registers = link
    address = icd.CONFIG.address_of("kp_vz")
    client.write_registers(address, icd.Block("x", 0, "w", "", (icd.CONFIG.field_named("kp_vz"),)).encode([2.5]))
    assert registers.controller.config["kp_vz"] == 2.5
    assert icd.CONFIG.decode_map(client.read_holding(icd.CONFIG.base, icd.CONFIG.length))["kp_vz"] == 2.5


def test_out_of_range_config_gets_exception_03_and_keeps_the_old_value(link):
    client, registers = link
    values = dict(registers.controller.config, td_drop_frac=0.95)
    with pytest.raises(ModbusExceptionReply) as err:
        client.write_registers(icd.CONFIG.base, icd.encode_config(values))
    assert err.value.code == 3
    assert registers.controller.config["td_drop_frac"] == icd.CONFIG.field_named("td_drop_frac").default


def test_write_that_splits_a_float_gets_exception_02(link):
    client, _ = link
    with pytest.raises(ModbusExceptionReply) as err:
        client.write_register(icd.CONFIG.address_of("kp_vz") + 1, 0)
    assert err.value.code == 2


@pytest.mark.parametrize("address,count", [(icd.IDENTITY.base, icd.IDENTITY.length + 1), (0x0030, 1),
                                           (icd.COMMANDS.base + icd.COMMANDS.length - 1, 2)])
def test_reads_outside_one_block_get_exception_02(link, address, count):
    client, _ = link
    with pytest.raises(ModbusExceptionReply) as err:
        client.read_holding(address, count)
    assert err.value.code == 2


def test_read_only_blocks_and_partial_sensor_frames_are_refused(link):
    client, registers = link
    for address in (icd.IDENTITY.base, icd.COMMANDS.base, icd.SENSORS.base):
        with pytest.raises(ModbusExceptionReply) as err:
            client.write_register(address, 1)
        assert err.value.code == 2
    assert registers.step_count == 0


def test_a_limit_value_is_accepted_although_its_float32_lies_above_it(link):
    client, registers = link
    values = dict(registers.controller.config, tilt_max_rad=0.8, flyaway_tilt_rad=1.2)  # f32(0.8) > 0.8
    client.write_registers(icd.CONFIG.base, icd.encode_config(values))
    assert registers.controller.config["tilt_max_rad"] == pytest.approx(0.8)
