"""The process device wrapper (SIL, simavr, QEMU): pty discovery, stopping, and a crash's last words."""

import sys

import pytest

from hil.devices import process
from hil.devices.process import ProcessDevice
from hil.errors import HilError
from hil.rig import load_rig
from tests.conftest import write_rig

pytestmark = pytest.mark.timeout(30)

# A stand-in program: opens a real pty, announces it, then either serves nothing or dies.
ANNOUNCE = ("import os, sys, time, tty; m, s = os.openpty(); print('noise'); print('PTY', os.ttyname(s), "
            "flush=True); ")


def device(tmp_path, body):
    return ProcessDevice(tmp_path, [], [sys.executable, "-c", ANNOUNCE + body], r"^PTY (\S+)")


def test_finds_the_pty_among_other_output_and_stops_the_process(tmp_path):
    dev = device(tmp_path, "time.sleep(60)")
    path = dev.start()
    assert path.startswith("/dev/pts/")
    dev.stop()
    assert dev.returncode == -15 and dev.failure() is None


def test_a_program_that_dies_reports_its_error_line(tmp_path):
    dev = device(tmp_path, "print('==1==ERROR: AddressSanitizer: heap-buffer-overflow', flush=True); sys.exit(1)")
    dev.start()
    dev._process.wait(5)
    dev.stop()
    assert "exited with code 1" in dev.failure() and "AddressSanitizer" in dev.failure()


def test_a_program_that_never_names_a_pty_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setattr(process, "START_TIMEOUT_S", 0.5)
    dev = ProcessDevice(tmp_path, [], [sys.executable, "-c", "import time; print('hello'); time.sleep(60)"],
                        r"^PTY (\S+)")
    with pytest.raises(HilError, match="did not name its pty"):
        dev.start()
    assert dev._process is None  # stopped


def test_a_failed_build_is_one_line(tmp_path):
    (tmp_path / "Makefile").write_text("broken:\n\t@echo 'cc: error: no such file' >&2; exit 1\n")
    dev = ProcessDevice(tmp_path, ["broken"], ["true"], r"^PTY (\S+)")
    with pytest.raises(HilError, match="firmware build failed .*no such file"):
        dev.start()


def test_emulator_rig_needs_a_command(tmp_path):
    from hil.errors import ConfigError
    rig = write_rig(tmp_path, 'kind = "emulator"\nfirmware_dir = "."\n')
    with pytest.raises(ConfigError, match="command is required"):
        load_rig(rig)


def test_builds_of_one_firmware_tree_wait_for_each_other(tmp_path):
    """Two runs starting at once used to race in make ("Permission denied" starting the binary)."""
    import fcntl
    import threading
    import time
    (tmp_path / "Makefile").write_text("all:\n\t@echo built >> log\n")
    dev = ProcessDevice(tmp_path, ["all"], ["true"], r"^PTY (\S+)")
    lock_path = tmp_path / process.BUILD_LOCK
    lock_path.parent.mkdir(parents=True)
    with lock_path.open("w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)             # another run is building this tree
        builder = threading.Thread(target=dev.build)
        builder.start()
        time.sleep(0.5)
        assert builder.is_alive() and not (tmp_path / "log").exists()
    builder.join(timeout=10)
    assert not builder.is_alive() and (tmp_path / "log").read_text() == "built\n"


def test_a_program_that_ignores_sigterm_is_killed_and_not_called_a_crash(tmp_path, monkeypatch):
    monkeypatch.setattr(process, "STOP_TIMEOUT_S", 0.5)
    ignore_first = "import signal; signal.signal(signal.SIGTERM, signal.SIG_IGN); "   # before it names its pty
    dev = ProcessDevice(tmp_path, [], [sys.executable, "-c", ignore_first + ANNOUNCE + "time.sleep(60)"],
                        r"^PTY (\S+)")
    dev.start()
    dev.stop()
    assert dev.killed and dev.returncode == -9 and dev.failure() is None
