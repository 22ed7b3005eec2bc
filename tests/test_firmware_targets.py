"""Firmware build targets a bench engineer and CI rely on: flash commands and the Arduino sketch."""

import shutil
import subprocess

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.timeout(300)
FIRMWARE = str(ROOT / "firmware")


def dry_run(*args):
    """`make -n`: the commands a target would run, without a board attached."""
    return subprocess.run(["make", "-n", "-C", FIRMWARE, *args], capture_output=True, text=True)


@pytest.mark.skipif(shutil.which("avr-gcc") is None, reason="needs gcc-avr")
@pytest.mark.parametrize("board,part", [("uno", "m328p"), ("mega", "m2560")])
def test_avr_flash_runs_avrdude_on_the_given_port(board, part):
    proc = dry_run("flash", f"BOARD={board}", "PORT=/dev/ttyACM7")
    assert proc.returncode == 0, proc.stderr
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("avrdude"))
    assert f"-p {part}" in line and "-P /dev/ttyACM7" in line and f"avr-{board}/skycrane.hex" in line


@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None, reason="needs gcc-arm-none-eabi")
def test_nucleo_flash_runs_openocd():
    proc = dry_run("flash", "BOARD=nucleo-f446re")
    assert proc.returncode == 0, proc.stderr
    line = next(ln for ln in proc.stdout.splitlines() if "openocd" in ln)
    assert "stm32f4x.cfg" in line and "stm32-nucleo-f446re/skycrane.elf" in line


@pytest.mark.skipif(not (ROOT / "firmware/arduino").exists() or shutil.which("avr-gcc") is None
                    or not __import__("os").path.exists("/usr/share/arduino/Arduino.mk"),
                    reason="needs arduino-mk and arduino-core-avr")
def test_arduino_sketch_compiles():
    proc = subprocess.run(["make", "-s", "-C", FIRMWARE, "arduino"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
