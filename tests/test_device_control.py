"""Device faults (docs/device-control.md): every device kind reset mid-flight comes back in its
power-up state, a slowed step is slow by the delay and back to speed after slow(0), and a rig
that cannot do either says so before the run.

Each device is real: the loopback server, the SIL process (through the link proxy, whose host
pty outlives the restart), the Uno firmware in the simavr runner, the STM32 firmware in QEMU, and
a bench rig whose board (a SIL process on a stable --link path, as a USB device node) is powered
through a relay module that pymodbus's own server stands in for. The one double: a pyserial port
whose DTR line is recorded, since a pty has no DTR.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
import serial

from hil import icd
from hil.devices import device_for
from hil.devices.inprocess import InProcessDevice
from hil.devices.loopback import LoopbackDevice
from hil.devices.process import ProcessDevice
from hil.devices.proxied import ProxiedDevice
from hil.devices.relay_standin import RelayStandIn
from hil.devices.relay_switch import RelaySwitch
from hil.devices.serial_port import SerialPortDevice
from hil.errors import ConfigError, HilError
from hil.handshake import configure, identify
from hil.link.rtu_client import RtuClient
from hil.rig import load_rig, resolve_rig
from tests.conftest import ROOT, write_rig

pytestmark = pytest.mark.timeout(300)

HAVE_SIL = shutil.which("make") is not None and shutil.which("gcc") is not None
HAVE_AVR = all(shutil.which(t) for t in ("avr-gcc", "make", "simavr"))
HAVE_STM32 = all(shutil.which(t) for t in ("arm-none-eabi-gcc", "qemu-system-arm", "make"))
needs_sil = pytest.mark.skipif(not HAVE_SIL, reason="needs make and gcc")
S = icd.ControllerState
FLAGS = int(icd.SensorFlags.RADAR_VALID | icd.SensorFlags.IMU_VALID)
SIL_RIG = ROOT / "rigs/sil.toml"
SIL = str(ROOT / "firmware/build/host/skycrane-sil")


def sensor_frame(k: int) -> list[int]:
    """Frame k of a powered descent at 1500 m (fields this test does not name: 0)."""
    values = dict.fromkeys(icd.SENSORS.names, 0)
    values.update(frame=k, t_us=20_000 * k, radar_seq=k, altitude_m=1500.0, vx_mps=2.0, vz_mps=-70.0,
                  imu_fz=3.711, flags=FLAGS)
    return icd.SENSORS.encode_map(values)


class Host:
    """The host's side of the wire: an RTU client on a port, flying lockstep frames."""

    def __init__(self, port: str, timeout_s: float = 0.5, boot_wait_s: float = 0.0) -> None:
        self.port = port
        self.boot_wait_s = boot_wait_s
        time.sleep(boot_wait_s)
        self.link = RtuClient(port, timeout_s=timeout_s)
        self.link.open()
        self.frame = 0

    def identify(self) -> dict:
        return identify(self.link)

    def configure(self, **values) -> None:
        configure(self.link, {**icd.config_defaults(), **values})

    def fly(self, frames: int):
        """Fly `frames` more lockstep frames; the last command block."""
        for _ in range(frames):
            self.frame += 1
            command = icd.COMMANDS.decode_record(self.link.read_write(
                icd.SENSORS.base, sensor_frame(self.frame), icd.COMMANDS.base, icd.COMMANDS.length))
        return command

    def commands(self):
        return icd.COMMANDS.decode_record(self.link.read_holding(icd.COMMANDS.base, icd.COMMANDS.length))

    def config(self) -> dict:
        return icd.CONFIG.decode_map(self.link.read_holding(icd.CONFIG.base, icd.CONFIG.length))

    def close(self) -> None:
        self.link.close()


def fly_reset_and_check(device, host: Host, expected_method: str, boot_wait_s: float = 0.0) -> dict:
    """Identify, configure (one value off its default), fly, reset; the device answers again in
    its power-up state: step count 0, STANDBY, the config at its defaults."""
    kind = host.identify()["device_kind"]
    host.configure(kp_vz=0.9)
    flown = host.fly(3)
    assert flown.step_count == 3 and flown.state != S.STANDBY
    report = device.reset()
    assert report["method"] == expected_method and report["took_s"] >= 0
    time.sleep(boot_wait_s)
    assert host.identify()["device_kind"] == kind
    after = host.commands()
    assert (after.step_count, after.state, after.frame) == (0, S.STANDBY, 0)
    assert host.config()["kp_vz"] == pytest.approx(icd.config_defaults()["kp_vz"])
    host.configure()
    host.frame = 0
    assert host.fly(2).step_count == 2                 # and flies again
    return report


def step_time_us(host: Host) -> int:
    return host.fly(1).step_time_us


# -- loopback ------------------------------------------------------------------------------------

def test_loopback_reset_is_a_power_up_on_the_same_pty():
    device = LoopbackDevice()
    port = device.start()
    host = Host(port)
    try:
        fly_reset_and_check(device, host, "register bank power-up")
        assert device.url == port
    finally:
        host.close()
        device.stop()


def test_loopback_slowed_step_lasts_the_delay_and_outlasts_a_reset():
    device = LoopbackDevice()
    host = Host(device.start())
    try:
        assert device.slow_method() == "step delay in the register bank"
        host.configure()
        normal = step_time_us(host)
        device.slow(5000)
        assert 5000 <= step_time_us(host) < 5000 + 20_000
        device.reset()                                   # the fault goes on: still slow after it
        host.configure()
        host.frame = 0
        assert step_time_us(host) >= 5000
        device.slow(0)
        assert step_time_us(host) < max(3000, 3 * normal)
        with pytest.raises(HilError, match="outside 0..1000000"):
            device.slow(2_000_000)
    finally:
        host.close()
        device.stop()


# -- SIL: a process restart behind the link proxy ------------------------------------------------------

@needs_sil
def test_sil_restart_behind_the_proxy_keeps_the_hosts_pty():
    device = device_for(load_rig(SIL_RIG), proxy=True)
    assert isinstance(device, ProxiedDevice) and device.reset_method() == "process restart"
    port = device.start()
    host = Host(port)
    try:
        pid = device.inner._process.pid
        fly_reset_and_check(device, host, "process restart")
        assert host.link.port == port == device.proxy.host_path   # the host never reopened
        assert device.inner._process.pid != pid                    # a new SIL (on a new pty)
        counters = device.proxy.counters()
        assert counters.reconnects == 1 and device.proxy.failure() is None
        assert [e.action for e in device.proxy.events()] == ["detach", "reconnect"]
    finally:
        host.close()
        device.stop()
    assert device.failure() is None                      # no sanitizer report from either process


@needs_sil
def test_sil_step_is_slowed_through_its_control_pipe_and_restored():
    device = device_for(load_rig(SIL_RIG))
    assert device.slow_method() == "SIL step delay (control pipe)"
    host = Host(device.start())
    try:
        host.configure()
        assert step_time_us(host) < 5000
        device.slow(5000)
        assert 5000 <= step_time_us(host) < 5000 + 20_000
        host.close()
        device.reset()                                   # the restarted SIL is slowed again
        host = Host(device.url)
        host.configure()
        assert step_time_us(host) >= 5000
        device.slow(0)
        assert step_time_us(host) < 5000
    finally:
        host.close()
        device.stop()
    assert device.failure() is None


@needs_sil
def test_a_sil_in_stdio_mode_keeps_stdin_for_modbus():
    """--stdio: stdin is the Modbus line, never a control channel (the line is not answered)."""
    import subprocess

    from hil.devices.process import build_firmware
    from hil.link.rtu_frame import with_crc
    build_firmware(ROOT / "firmware", ["host"])
    request = with_crc(bytes([1, 3, icd.IDENTITY.base >> 8, icd.IDENTITY.base & 0xFF, 0, 1]))
    done = subprocess.run([SIL, "--stdio"], input=b"step-delay-us 5\n" + request, capture_output=True, timeout=10)
    assert b"control:" not in done.stdout and done.stdout.endswith(with_crc(bytes([1, 3, 2, 0, icd.ICD_VERSION])))


# -- emulators: the pty stays ----------------------------------------------------------------------------

@pytest.mark.skipif(not HAVE_AVR, reason="needs gcc-avr, avr-libc, simavr, libsimavr-dev")
def test_uno_in_simavr_resets_its_core_on_the_same_pty():
    rig = load_rig(ROOT / "rigs/emu-uno.toml")
    device = device_for(rig)
    assert device.reset_method() == "simavr core reset" and device.slow_method() is None
    port = device.start()
    host = Host(port, timeout_s=rig.timeout_s, boot_wait_s=rig.boot_wait_s)
    try:
        fly_reset_and_check(device, host, "simavr core reset", boot_wait_s=rig.boot_wait_s)
        fly_reset_and_check(device, host, "simavr core reset", boot_wait_s=rig.boot_wait_s)  # and again
        assert device.url == port
        with pytest.raises(HilError, match="cannot be slowed"):
            device.slow(1000)
    finally:
        host.close()
        device.stop()
    assert device.failure() is None


@pytest.mark.skipif(not HAVE_STM32, reason="needs gcc-arm-none-eabi, qemu-system-arm")
def test_stm32_in_qemu_is_reset_through_its_monitor_on_the_same_pty():
    rig = load_rig(ROOT / "rigs/emu-stm32.toml")
    device = device_for(rig)
    assert not device.monitor                # no monitor socket unless a run may reset it
    device.monitor = True                    # as device_for(rig, proxy=True) does for device faults
    assert device.reset_method() == "QEMU system_reset" and device.slow_method() is None
    port = device.start()
    host = Host(port, timeout_s=rig.timeout_s, boot_wait_s=rig.boot_wait_s)
    try:
        monitor_dir = Path(device._monitor_path()).parent
        fly_reset_and_check(device, host, "QEMU system_reset", boot_wait_s=rig.boot_wait_s)
        assert device.url == port
    finally:
        host.close()
        device.stop()
    assert device.failure() is None and not monitor_dir.exists()   # the socket's folder is gone


# -- a bench board: DTR pulse -------------------------------------------------------------------------------

class DtrRecordingSerial(serial.Serial):
    """A real pyserial port on a pty, whose DTR line (which a pty lacks) is recorded; a falling
    edge resets `board` as an Uno's auto-reset capacitor does."""

    def __init__(self, *args, board=None, record=None, **kwargs) -> None:
        self.board, self.record = board, record
        super().__init__(*args, **kwargs)

    def _update_dtr_state(self) -> None:
        was = self.record[-1][1] if self.record else True
        self.record.append((time.monotonic(), self._dtr_state))
        if was and not self._dtr_state:
            self.board.reset()


def test_dtr_pulse_resets_a_board_behind_the_proxy():
    board = LoopbackDevice()                       # the MCU; its pty is the board's USB serial port
    record: list[tuple[float, bool]] = []
    opener = lambda url, **kw: DtrRecordingSerial(url, board=board, record=record, **kw)
    device = ProxiedDevice(SerialPortDevice(board.start(), reset="dtr", opener=opener))
    port = device.start()
    host = Host(port)
    try:
        fly_reset_and_check(device, host, "DTR pulse")
        assert [state for _, state in record] == [True, False, True]   # opened high, pulsed low, high
        assert record[2][0] - record[1][0] >= 0.05
        assert device.proxy.counters().reconnects == 0               # same device node: link kept
    finally:
        host.close()
        device.stop()
        board.stop()


def test_bench_rigs_name_their_reset():
    assert device_for(resolve_rig(ROOT / "rigs/bench-uno.toml")).reset_method() == "DTR pulse"
    nucleo = device_for(resolve_rig(ROOT / "rigs/bench-nucleo-f446re.toml"))
    assert nucleo.reset_method() is None and nucleo.slow_method() is None
    with pytest.raises(HilError, match='reset = "dtr" or "relay"'):
        nucleo.reset()


# -- a bench board: Modbus relay power cycle ------------------------------------------------------------------

class PoweredSil:
    """A SIL process standing in for a board on the relay's coil: off stops it (its --link node
    vanishes, as a USB board's does), on starts it at the same path."""

    def __init__(self, link: Path) -> None:
        self.link = link
        rig = load_rig(SIL_RIG)
        self.process = ProcessDevice(ROOT / "firmware", list(rig.make), [*rig.command, "--link", str(link)],
                                     rig.pty_pattern)
        self.powered_at: list[float] = []

    def switch(self, coil: int, on: bool) -> None:
        if on:
            self.process.start()
            self.powered_at.append(time.monotonic())
        else:
            self.process.stop()


@pytest.fixture
def relay_board(tmp_path):
    """(rig, board, relay stand-in): a bench rig whose board is powered through the relay."""
    if not HAVE_SIL:
        pytest.skip("needs make and gcc")
    board = PoweredSil(tmp_path / "ttyACM-board")
    board.switch(0, True)
    relay = RelayStandIn(board.switch)
    url = relay.start()
    rig = load_rig(write_rig(tmp_path, f'kind = "serial"\nport = "{board.link}"\nreset = "relay"\n'
                                       f'relay = "{url}"\nrelay_coil = 3\nrelay_off_s = 0.2\n'))
    yield rig, board, relay
    board.process.stop()     # first: the kernel kills a program when the thread that started it ends
    relay.stop()
    assert not relay.errors and board.process.failure() is None


def test_relay_power_cycle_restarts_the_board_behind_the_proxy(relay_board, record_property):
    rig, board, relay = relay_board
    device = device_for(rig, proxy=True)
    assert device.reset_method() == "Modbus relay power cycle" and "relay" in rig.capabilities
    port = device.start()
    host = Host(port)
    try:
        pid = board.process._process.pid
        report = fly_reset_and_check(device, host, "Modbus relay power cycle")
        assert board.process._process.pid != pid                       # powered off and on again
        assert [(coil, on) for _, coil, on in relay.switchings] == [(3, False), (3, True)]
        assert report["off_s"] == 0.2 and report["took_s"] >= 0.2
        assert 0 < report["off_latency_s"] < 0.5 and 0 < report["on_latency_s"] < 0.5
        assert host.link.port == port and device.proxy.counters().reconnects == 1
        off_at, on_at = relay.switchings[0][0], relay.switchings[1][0]
        assert on_at - off_at >= 0.2
        for name in ("off_latency_s", "on_latency_s", "took_s"):
            record_property(f"relay_{name[:-2]}_ms", round(report[name] * 1e3, 3))
        print(f"relay: off {report['off_latency_s'] * 1e3:.2f} ms, on {report['on_latency_s'] * 1e3:.2f} ms, "
              f"reset took {report['took_s'] * 1e3:.1f} ms")
    finally:
        host.close()
        device.stop()


def test_an_unreachable_relay_is_one_line(tmp_path):
    import socket
    with socket.create_server(("127.0.0.1", 0)) as probe:
        url = f"tcp://127.0.0.1:{probe.getsockname()[1]}"    # nobody listens once this closes
    switch = RelaySwitch(url, timeout_s=0.3)
    with pytest.raises(HilError) as caught:
        switch.switch(False)
    assert url in str(caught.value) and "\n" not in str(caught.value)
    switch.close()


def test_a_relay_refusing_the_write_is_one_line():
    with RelayStandIn(unit=1) as relay:
        switch = RelaySwitch(relay.url, unit=1, coil=500)       # no such coil
        with pytest.raises(HilError, match="coil 500 off: refused"):
            switch.switch(False)
        switch.close()


# -- what a rig cannot do: refused, in one line ------------------------------------------------------------------

def test_the_in_process_mil_device_can_neither_reset_nor_slow():
    device = InProcessDevice()
    assert device.reset_method() is None and device.slow_method() is None
    with pytest.raises(HilError, match="use the loopback rig"):
        device.reset()
    with pytest.raises(HilError, match="use the loopback rig"):
        device.slow(1000)


@pytest.mark.parametrize("body, complaint", [
    ('kind = "loopback"\nreset = "process"', "reset is for sil, emulator and serial rigs"),
    ('kind = "serial"\nport = "/dev/ttyACM0"\nreset = "qemu"', "reset 'qemu' is not one of dtr, relay, none"),
    ('kind = "serial"\nport = "/dev/ttyACM0"\nreset = "relay"', "relay is required for reset 'relay'"),
    ('kind = "serial"\nport = "/dev/ttyACM0"\nreset = "relay"\nrelay = "tcp://host"', "is not tcp://HOST:PORT"),
    ('kind = "serial"\nport = "/dev/ttyACM0"\nreset = "relay"\nrelay = "tcp://h:502"\nrelay_off_s = 0.0',
     "relay_off_s must be > 0"),
    ('kind = "serial"\nport = "/dev/ttyACM0"\nrelay_coil = 2', 'relay_coil is only used with reset = "relay"'),
    ('kind = "sil"\nfirmware_dir = "."\ncommand = ["x"]\nreset = "qemu"', "reset 'qemu' is not one of process, none"),
    ('kind = "emulator"\nfirmware_dir = "."\ncommand = ["qemu-system-arm", "-monitor", "none"]\nreset = "qemu"',
     "needs a monitor socket in command"),
    ('kind = "emulator"\nfirmware_dir = "."\ncommand = ["qemu-system-arm"]\nreset = "simavr"',
     "needs the simavr runner in command"),
])
def test_rig_reset_fields_are_checked(tmp_path, body, complaint):
    with pytest.raises(ConfigError, match=complaint.replace("(", r"\(").replace(")", r"\)")) as caught:
        load_rig(write_rig(tmp_path, body + "\n"))
    assert "\n" not in str(caught.value)


def test_the_reset_a_rig_gets_without_a_reset_field():
    assert [load_rig(ROOT / "rigs" / name).reset_mode for name in
            ("sil.toml", "emu-uno.toml", "emu-uno-realtime.toml", "emu-mega.toml", "emu-stm32.toml",
             "bench-uno.toml", "bench-nucleo-f446re.toml")] == \
        ["process", "simavr", "simavr", "simavr", "qemu", "dtr", "none"]
