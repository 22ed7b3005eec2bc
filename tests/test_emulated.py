"""The firmware on emulated microcontrollers: Arduino Uno and Mega in simavr, STM32F405 in QEMU.

Back-to-back tolerances against the float64 reference are the SIL ones (tests/test_sil.py):
the AVR has no FPU and avr-libc's soft-float sqrtf/tanf round differently from glibc's, but it
is still IEEE single precision, so differences stay far below 0.01 in the commands.
"""

import re
import shutil
import subprocess

import pytest

from hil.api import land
from hil.compare import Tolerances, compare_runs
from hil.devices.process import build_firmware
from hil.rig import Rig, load_rig
from plant.scenario import load_scenario
from tests.conftest import ROOT

pytestmark = pytest.mark.timeout(600)

HAVE_AVR = all(shutil.which(t) for t in ("avr-gcc", "avr-size", "make")) and \
    (shutil.which("simavr") is not None)
HAVE_STM32 = all(shutil.which(t) for t in ("arm-none-eabi-gcc", "qemu-system-arm", "make"))
needs_avr = pytest.mark.skipif(not HAVE_AVR, reason="needs gcc-avr, avr-libc, simavr, libsimavr-dev")
needs_stm32 = pytest.mark.skipif(not HAVE_STM32, reason="needs gcc-arm-none-eabi, qemu-system-arm")
UNO_RAM_BYTES = 2048


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    return land(load_scenario("nominal"), rig=Rig(), out=tmp_path_factory.mktemp("reference"))


def _fly_and_compare(rig_name, reference, tmp_path, kind_name):
    result = land(load_scenario("nominal"), rig=load_rig(ROOT / "rigs" / rig_name), out=tmp_path)
    assert result.error is None and result.passed, (result.error, result.checks)
    assert result.summary["device"]["device_kind_name"] == kind_name
    assert result.summary["device_step_time_us"]["max"] > 0  # the MCU timed its own step
    report = compare_runs(reference, result, Tolerances(command=0.01, cycles=1, velocity_mps=0.02))
    assert report["same"], report
    return result


@needs_avr
def test_uno_in_simavr_lands_back_to_back_with_the_reference(reference, tmp_path):
    _fly_and_compare("emu-uno.toml", reference, tmp_path, "AVR")


@needs_avr
def test_mega_in_simavr_lands_back_to_back_with_the_reference(reference, tmp_path):
    _fly_and_compare("emu-mega.toml", reference, tmp_path, "AVR")


@needs_stm32
def test_stm32_in_qemu_lands_back_to_back_with_the_reference(reference, tmp_path):
    _fly_and_compare("emu-stm32.toml", reference, tmp_path, "STM32")


def avr_build(baud: int) -> str:
    """The build folder (under firmware/) of the Uno image at a baud rate other than the rigs':
    its own, so that it never replaces the image another test is about to fly."""
    return f"build/baud-{baud}"


@needs_avr
def test_uno_at_one_megabaud_lands(reference, tmp_path):
    rig = (ROOT / "rigs/emu-uno.toml").read_text().replace('"../firmware"', f'"{ROOT / "firmware"}"')
    rig = rig.replace('"BOARD=uno"', f'"BOARD=uno", "BAUD=1000000", "BUILD={avr_build(1000000)}"')
    rig = rig.replace("{firmware}/build/", f"{{firmware}}/{avr_build(1000000)}/")   # its runner and image
    rig = rig.replace("baudrate = 115200", "baudrate = 1000000")
    path = tmp_path / "emu-uno-1M.toml"
    path.write_text(rig)
    result = land(load_scenario("nominal"), rig=load_rig(path), out=tmp_path / "run")
    assert result.error is None and result.passed, (result.error, result.checks)


@needs_avr
@pytest.mark.parametrize("baud", [115200, 1000000])
def test_uno_image_leaves_a_quarter_of_its_ram_free(baud):
    build_firmware(ROOT / "firmware", ["avr", "BOARD=uno", f"BAUD={baud}", f"BUILD={avr_build(baud)}"])
    out = subprocess.run(["avr-size", "-A", str(ROOT / "firmware" / avr_build(baud) / "avr-uno/skycrane.elf")],
                         capture_output=True, text=True, check=True).stdout
    sections = {m.group(1): int(m.group(2)) for m in re.finditer(r"^\.(\w+)\s+(\d+)", out, re.M)}
    static_ram = sections.get("data", 0) + sections.get("bss", 0)
    assert static_ram <= 0.75 * UNO_RAM_BYTES, f"{static_ram} B of {UNO_RAM_BYTES} B static RAM"
