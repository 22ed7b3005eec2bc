"""The register map: encode/decode round trips, float edge cases, generated files, layout hash."""

import dataclasses
import enum
import math
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from hil import icd, icd_codegen

pytestmark = pytest.mark.timeout(30)
ROOT = Path(__file__).resolve().parents[1]


def test_blocks_do_not_overlap_and_fit_one_fc23():
    spans = sorted((b.base, b.base + b.length, b.name) for b in icd.BLOCKS)
    for (_, end, name), (start, _, other) in zip(spans, spans[1:]):
        assert end <= start, f"{name} overlaps {other}"
    assert icd.SENSORS.length <= 121 and icd.COMMANDS.length <= 125  # FC23 write/read limits


def test_f32_and_u32_take_two_registers_high_word_first():
    block = icd.Block("t", 0, "r", "test", (icd.Field("a", "u32", "-", ""), icd.Field("b", "f32", "-", "")))
    assert block.encode([0x12345678, 1.0]) == [0x1234, 0x5678, 0x3F80, 0x0000]


def sensor_values(altitude=0.0, frame=1, flags=0):
    return [frame, 2, 3, altitude, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, flags, 0, 1.0]


@pytest.mark.parametrize("value", [0.0, -0.0, 1.5, -2.75, 1e-30, -1e-30, 1e-45, 3.4e38, -123456.789,
                                   math.inf, -math.inf])
def test_f32_round_trip_equals_float32_of_the_value(value):
    regs = icd.SENSORS.encode(sensor_values(value))
    decoded = icd.SENSORS.decode_map(regs)["altitude_m"]
    expected = struct.unpack(">f", struct.pack(">f", value))[0]
    assert decoded == expected and math.copysign(1, decoded) == math.copysign(1, expected)


def test_nan_travels_as_quiet_nan_and_stays_nan():
    regs = icd.SENSORS.encode(sensor_values(math.nan))
    offset = icd.SENSORS.address_of("altitude_m") - icd.SENSORS.base
    assert regs[offset:offset + 2] == [0x7FC0, 0x0000]
    assert math.isnan(icd.SENSORS.decode_map(regs)["altitude_m"])


@pytest.mark.parametrize("values", [sensor_values(1e39), sensor_values(frame=-1), sensor_values(frame=2**32),
                                    sensor_values(flags=70000)])
def test_out_of_range_values_are_refused_naming_the_block(values):
    with pytest.raises(ValueError, match="sensors"):
        icd.SENSORS.encode(values)


def test_u32_and_u16_extremes_round_trip():
    values = (0xFFFFFFFF, 0, 0xFFFF, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0xFFFF, 0xFFFF, 0.0)
    assert icd.SENSORS.decode(icd.SENSORS.encode(values)) == values


def test_config_defaults_are_inside_their_limits():
    for f in icd.CONFIG.fields:
        assert f.minimum <= f.default <= f.maximum, f.name
        assert icd.check_config_value(f.name, f.default) == f.default


def test_config_limits_are_enforced():
    with pytest.raises(ValueError, match="outside"):
        icd.check_config_value("td_drop_frac", 0.95)
    with pytest.raises(ValueError, match="whole number"):
        icd.check_config_value("td_enable", 0.5)
    with pytest.raises(ValueError, match="must be a number"):
        icd.check_config_value("kp_vz", "fast")
    with pytest.raises(KeyError):
        icd.check_config_value("no_such_gain", 1.0)


def test_layout_hash_changes_with_the_layout(monkeypatch):
    before = icd.layout_text()
    moved = icd.Block("sensors", 0x0101, "w", icd.SENSORS.meaning, icd.SENSORS.fields)
    monkeypatch.setattr(icd, "BLOCKS", (icd.IDENTITY, icd.CONFIG, moved, icd.COMMANDS))
    assert icd.layout_text() != before


def _with_kind_added(name="RISCV", value=5):
    """The ENUMS with DeviceKind extended by one member, as a new board's commit would do."""
    kinds = [(m.name, m.value) for m in icd.DeviceKind] + [(name, value)]
    extended = enum.IntEnum("DeviceKind", kinds)
    return tuple(extended if e is icd.DeviceKind else e for e in icd.ENUMS), extended


def test_adding_a_device_kind_keeps_the_layout_hash():
    enums, extended = _with_kind_added()
    assert extended.RISCV == 5 and extended in enums and icd.DeviceKind not in enums
    assert icd.layout_hash(enums=enums) == icd.LAYOUT_HASH
    # the same change to an enum that is hashed does change it: the seam really takes `enums`
    assert "DeviceKind" in icd.UNHASHED_ENUMS
    moved = enum.IntEnum("DeviceKnd", [(m.name, m.value) for m in extended])
    assert icd.layout_hash(enums=(*icd.ENUMS, moved)) != icd.LAYOUT_HASH


def test_device_kind_and_build_stay_readable_in_the_identity_block():
    assert icd.IDENTITY.names == ("icd_version", "layout_hash", "device_kind", "build_id")
    assert [e.__name__ for e in icd.ENUMS].count("DeviceKind") == 1  # still generated into icd.h
    assert "ICD_DEVICE_KIND_STM32 = 4," in icd_codegen.render_c_header()


@pytest.mark.parametrize("change", ["field name", "field type", "field address", "identity field type",
                                    "controller state added", "controller state renumbered", "fault bit"])
def test_a_real_layout_change_changes_the_layout_hash(change):
    blocks, enums = list(icd.BLOCKS), list(icd.ENUMS)

    def replace_field(block, field_name, **what):
        fields = tuple(dataclasses.replace(f, **what) if f.name == field_name else f for f in block.fields)
        return icd.Block(block.name, block.base, block.access, block.meaning, fields)

    if change == "field name":
        blocks[3] = replace_field(icd.COMMANDS, "throttle", name="throttle_cmd")
    elif change == "field type":
        blocks[2] = replace_field(icd.SENSORS, "radar_seq", type="u32")
    elif change == "field address":
        blocks[2] = icd.Block("sensors", icd.SENSORS.base + 1, "w", icd.SENSORS.meaning, icd.SENSORS.fields)
    elif change == "identity field type":
        blocks[0] = replace_field(icd.IDENTITY, "device_kind", type="u32")
    elif change == "controller state added":
        enums[0] = enum.IntEnum("ControllerState", [(m.name, m.value) for m in icd.ControllerState] + [("ABORT", 9)])
    elif change == "controller state renumbered":
        enums[0] = enum.IntEnum("ControllerState", [(m.name, m.value + 1) for m in icd.ControllerState])
    else:
        enums[5] = enum.IntFlag("Faults", [(m.name, m.value) for m in icd.Faults] + [("BROWNOUT", 128)])
    assert icd.layout_hash(blocks, enums) != icd.LAYOUT_HASH
    assert icd.layout_hash(icd.BLOCKS, icd.ENUMS) == icd.LAYOUT_HASH  # the seam's defaults are the ICD


def test_an_old_host_accepts_a_new_board_of_an_unknown_kind():
    from hil import handshake

    class Link:
        port = "fake"

        def drain(self):
            pass

        def read_holding(self, address, count):
            assert (address, count) == (icd.IDENTITY.base, icd.IDENTITY.length)
            return icd.IDENTITY.encode([icd.ICD_VERSION, icd.LAYOUT_HASH, 5, 0x010203])

    ident = handshake.identify(Link())
    assert (ident["device_kind"], ident["device_kind_name"], ident["build_id"]) == (5, "5", 0x010203)


def test_generated_files_are_not_stale():
    stale = icd_codegen.stale_files(ROOT)
    assert not stale, f"run `hil icd generate`: {stale}"


def test_staleness_is_detected(tmp_path):
    icd_codegen.write_all(tmp_path)
    assert icd_codegen.stale_files(tmp_path) == []
    header = tmp_path / icd_codegen.HEADER_PATH
    header.write_text(header.read_text().replace(f"ICD_VERSION {icd.ICD_VERSION}u", "ICD_VERSION 0u"))
    assert icd_codegen.stale_files(tmp_path) == [icd_codegen.HEADER_PATH]


@pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc not installed")
def test_generated_header_compiles_as_c99_and_agrees_with_python(tmp_path):
    program = tmp_path / "check.c"
    program.write_text(
        '#include <stdio.h>\n#include "icd.h"\n'
        'int main(void) { printf("%u %u %u %u %u\\n", (unsigned)ICD_LAYOUT_HASH, (unsigned)ICD_SENSORS_LEN,'
        ' (unsigned)ICD_COMMANDS_BASE, (unsigned)ICD_CONFIG_TD_DROP_FRAC, (unsigned)ICD_CONTROLLER_STATE_FLYAWAY);'
        ' return 0; }\n')
    exe = tmp_path / "check"
    subprocess.run(["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-I", str(ROOT / "firmware/core"),
                    str(program), "-o", str(exe)], check=True)
    out = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout.split()
    assert [int(v) for v in out] == [icd.LAYOUT_HASH, icd.SENSORS.length, icd.COMMANDS.base,
                                     icd.CONFIG.address_of("td_drop_frac"), icd.ControllerState.FLYAWAY]


def test_controller_records_match_the_block_layouts():
    from dataclasses import fields

    from hil.reference import CommandOutput, SensorInput
    assert tuple(f.name for f in fields(SensorInput)) == icd.SENSORS.names
    assert tuple(f.name for f in fields(CommandOutput)) + ("step_time_us", "step_count", "frame_rx_tick_us",
                                                          "step_tick_us", "read_tick_us") == icd.COMMANDS.names


def test_decode_record_names_the_fields():
    record = icd.COMMANDS.decode_record(icd.COMMANDS.encode([7, 3, 0.5, 0.0, 0.0, 1, 9, 0, 8, 42, 5, 100, 200, 300]))
    assert (record.frame, record.state, record.throttle, record.state_since_us, record.step_time_us) == (7, 3, 0.5, 8, 42)
    assert (record.step_count, record.frame_rx_tick_us, record.step_tick_us, record.read_tick_us) == (5, 100, 200, 300)
