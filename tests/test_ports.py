"""`hil ports`: lists what pyserial sees and guesses boards from USB IDs."""

import subprocess

import pytest

from hil.ports import describe_ports, guess_board
from tests.conftest import HIL, ROOT

pytestmark = pytest.mark.timeout(30)


def test_known_boards_are_guessed_and_unknown_ones_are_not():
    assert guess_board(0x2341, 0x0043) == "Arduino Uno R3"
    assert "Nucleo" in guess_board(0x0483, 0x374B)
    assert guess_board(0x1234, 0x5678) == "unknown USB serial device"
    assert guess_board(None, None) == "-"


def test_ports_command_lists_what_pyserial_finds():
    proc = subprocess.run([*HIL, "ports"], capture_output=True, text=True, cwd=ROOT, timeout=20)
    assert proc.returncode == 0
    for row in describe_ports():
        assert row["device"] in proc.stdout
