"""The in-process MIL rig: the same landing as the pty loopback, without the pty, the thread or the bytes."""

import math

import numpy as np
import pytest

from hil import icd
from hil.api import NO_FILES, Run, Session, land
from hil.errors import ConfigError, ModbusExceptionReply
from hil.record import COLUMNS

pytestmark = pytest.mark.timeout(120)

# The device's own clock readings are wall-clock measurements; everything else must be identical.
DEVICE_CLOCK = {"cmd_step_time_us", "cmd_frame_rx_tick_us", "cmd_step_tick_us", "cmd_read_tick_us"}


@pytest.mark.parametrize("scenario, seed", [("nominal", 1), ("gusty", 5), ("radar-dust", 2)])
def test_in_process_gives_the_same_telemetry_as_the_pty_loopback(scenario, seed):
    mil = land(scenario, rig="mil", seed=seed, outputs=NO_FILES)
    pty = land(scenario, rig="loopback", seed=seed, outputs=NO_FILES)
    assert mil.verdict == pty.verdict == "PASS"
    assert len(mil.record) == len(pty.record) > 1000
    for name in COLUMNS:
        if name in DEVICE_CLOCK:
            continue
        np.testing.assert_array_equal(mil.record[name], pty.record[name], err_msg=name)
    assert mil.metrics.keys() == pty.metrics.keys()
    for name, value in mil.metrics.items():
        other = pty.metrics[name]
        assert value == other or (math.isnan(value) and math.isnan(other)), name
    assert mil.identity["device_kind_name"] == pty.identity["device_kind_name"] == "REFERENCE"


def test_the_comparison_above_can_fail():
    """Another seed changes the trajectory, so the column-by-column check has teeth."""
    a = land("gusty", rig="mil", seed=5, outputs=NO_FILES)
    b = land("gusty", rig="mil", seed=6, outputs=NO_FILES)
    assert not np.array_equal(a.record["truth_rover_x"], b.record["truth_rover_x"])


def test_a_broken_controller_fails_on_the_in_process_rig():
    result = land("nominal", rig="mil", controller={"td_enable": 0}, outputs=NO_FILES)
    assert result.verdict == "FAIL"
    assert any("touchdown declared" in line for line in result.failure_lines())


def test_out_of_range_config_is_refused_as_a_modbus_exception():
    with Session("mil") as session:
        with pytest.raises(ModbusExceptionReply, match="exception 03"):
            session.link.write_registers(icd.CONFIG.address_of("throttle_min"), [0x7F80, 0])  # +inf


def test_real_time_on_the_in_process_rig_is_refused_in_one_line():
    with Session("mil") as session, pytest.raises(ConfigError, match="lockstep only"):
        session.fly(Run.create("nominal", timing="realtime", outputs=NO_FILES))
