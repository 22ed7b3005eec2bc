"""The firmware core built for the host (ASan/UBSan), reached as a real Modbus RTU device.

Back-to-back tolerances (loopback reference in float64 against the C core in float32):
- commanded throttle and tilts within 0.01 wherever both are in the same state: float32 carries
  about 7 significant digits, and the integrators accumulate rounding over ~4000 cycles, which
  stays orders of magnitude below 0.01; a real porting error (a wrong clamp, an operation out of
  order) shows up as 0.05 or more;
- each state transition within one cycle: a threshold crossed by a float32 value a rounding
  error away may fall one cycle later;
- rover touchdown velocity within 0.02 m/s: one cycle (20 ms) of offset at 0.75 m/s changes
  the plant's contact instant, not the velocity, by much less than that.
"""

import os
import shutil
import signal
import subprocess
import time

import pytest
import serial

from hil import icd
from hil.api import land
from hil.compare import Tolerances, compare_runs
from hil.devices import device_for
from hil.link.rtu_frame import with_crc
from hil.rig import Rig, load_rig
from plant.scenario import load_scenario
from tests.conftest import HIL, ROOT, write_rig

pytestmark = [pytest.mark.timeout(180),
              pytest.mark.skipif(shutil.which("make") is None or shutil.which("gcc") is None,
                                 reason="needs make and gcc")]
SIL_RIG = ROOT / "rigs/sil.toml"


@pytest.fixture
def sil():
    device = device_for(load_rig(SIL_RIG))
    path = device.start()
    yield path, device
    device.stop()
    assert device.failure() is None  # no sanitizer report, no crash


@pytest.fixture(scope="module")
def nominal_pair(tmp_path_factory):
    scenario = load_scenario("nominal")
    out = tmp_path_factory.mktemp("b2b")
    return (land(scenario, rig=Rig(), out=out / "loopback"),
            land(scenario, rig=load_rig(SIL_RIG), out=out / "sil"))


def test_sil_landing_passes(nominal_pair):
    _, sil_run = nominal_pair
    assert sil_run.error is None and sil_run.passed, sil_run.checks
    assert sil_run.summary["device"]["device_kind_name"] == "SIL"


def test_sil_flies_back_to_back_with_the_reference(nominal_pair):
    report = compare_runs(*nominal_pair, Tolerances(command=0.01, cycles=1, velocity_mps=0.02))
    assert report["checks"] == {"commands": True, "transitions": True, "touchdown_velocity": True}, report


def test_compare_fails_a_detuned_controller(tmp_path, nominal_pair):
    detuned = write_rig(tmp_path, SIL_RIG.read_text().replace('"../firmware"', f'"{ROOT / "firmware"}"')
                        + '[controller]\nkp_vz = 3.0\n')
    other = land(load_scenario("nominal"), rig=load_rig(detuned), out=tmp_path / "detuned")
    report = compare_runs(nominal_pair[0], other, Tolerances())
    assert not report["same"] and not report["checks"]["commands"]


def _pymodbus(path):
    from pymodbus.client import ModbusSerialClient
    client = ModbusSerialClient(path, baudrate=115200, timeout=1, retries=0)
    assert client.connect()
    return client


def test_pymodbus_client_reads_identity_writes_config_and_exchanges_a_frame(sil):
    path, _ = sil
    client = _pymodbus(path)
    try:
        ident = client.read_holding_registers(icd.IDENTITY.base, count=icd.IDENTITY.length, device_id=1)
        assert not ident.isError()
        decoded = icd.IDENTITY.decode_map(ident.registers)
        assert (decoded["icd_version"], decoded["layout_hash"], decoded["device_kind"]) == \
            (icd.ICD_VERSION, icd.LAYOUT_HASH, icd.DeviceKind.SIL)
        address = icd.CONFIG.address_of("td_enable")
        assert not client.write_register(address, 0, device_id=1).isError()
        assert client.read_holding_registers(address, count=1, device_id=1).registers == [0]
        frame = icd.SENSORS.encode([1, 20_000, 1, 1500.0, 0.0, 0.0, -70.0, 0.0, 0.0, 3.711, 0.0,
                                    int(icd.SensorFlags.RADAR_VALID | icd.SensorFlags.IMU_VALID), 0, 1.0])
        reply = client.readwrite_registers(read_address=icd.COMMANDS.base, read_count=icd.COMMANDS.length,
                                           write_address=icd.SENSORS.base, values=frame, device_id=1)
        assert not reply.isError()
        command = icd.COMMANDS.decode_record(reply.registers)
        assert command.frame == 1 and command.state == icd.ControllerState.POWERED_DESCENT
        assert 0.0 < command.throttle <= 1.0
    finally:
        client.close()


def test_exception_codes(sil):
    path, _ = sil
    client = _pymodbus(path)
    try:
        assert client.read_holding_registers(0x0030, count=1, device_id=1).exception_code == 2
        address = icd.CONFIG.address_of("td_enable")
        assert client.write_register(address, 7, device_id=1).exception_code == 3
        assert client.read_holding_registers(address, count=1, device_id=1).registers == [1]  # kept
    finally:
        client.close()
    with serial.serial_for_url(path, baudrate=115200, timeout=1) as port:  # FC04: not implemented
        port.write(with_crc(bytes([1, 4, 0, 0, 0, 1])))
        reply = port.read(5)
    assert reply[:3] == bytes([1, 0x84, 1]) and reply == with_crc(reply[:3])


def test_survives_garbage_truncation_and_bad_crc(sil):
    import random
    path, _ = sil
    rng = random.Random(5)
    identity = with_crc(bytes([1, 3, 0, 0, 0, icd.IDENTITY.length]))
    with serial.serial_for_url(path, baudrate=115200, timeout=0.3) as port:
        for _ in range(20):
            port.write(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 60))))  # random bytes
            port.write(identity[:rng.randrange(1, len(identity))])                      # truncated
            bad = bytearray(identity)
            bad[-1] ^= 0xFF
            port.write(bytes(bad))                                                      # bad CRC
            time.sleep(0.01)
            port.reset_input_buffer()
            port.write(identity)
            reply = port.read(5 + 2 * icd.IDENTITY.length)
            if reply != with_crc(reply[:-2]) or reply[:2] != bytes([1, 3]):
                # Garbage may have swallowed the request's first bytes: one retry must work.
                port.reset_input_buffer()
                port.write(identity)
                reply = port.read(5 + 2 * icd.IDENTITY.length)
            assert reply[:3] == bytes([1, 3, 2 * icd.IDENTITY.length]) and reply == with_crc(reply[:-2])


def _sil_processes() -> set[int]:
    # Only this checkout's firmware: another checkout's tests may be running beside us.
    out = subprocess.run(["pgrep", "-f", str(ROOT / "firmware/build/host/skycrane-sil")],
                         capture_output=True, text=True).stdout
    return {int(p) for p in out.split()}


def test_process_is_stopped_after_a_failed_run_and_on_ctrl_c(tmp_path):
    before = _sil_processes()
    broken = write_rig(tmp_path, SIL_RIG.read_text().replace('"../firmware"', f'"{ROOT / "firmware"}"')
                       + '[controller]\ntd_enable = 0\n')
    failed = land(load_scenario("nominal"), rig=load_rig(broken), out=tmp_path / "failed")
    assert not failed.passed and _sil_processes() == before

    proc = subprocess.Popen([*HIL, "land", "--rig", str(SIL_RIG), "--out", str(tmp_path / "int")], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    telemetry = tmp_path / "int/telemetry.csv"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not telemetry.exists() or telemetry.stat().st_size < 20_000):
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGINT)
    proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert _sil_processes() == before
