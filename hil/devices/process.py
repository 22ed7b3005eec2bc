"""Process device: a controller that runs as a program on this computer and announces a pty.

The SIL firmware, the simavr runner and QEMU all work this way: build with make, start a
command, read the pty path from its output, fly, and always stop the process again.

The program runs in its own process group (a Ctrl-C at the terminal reaches the host, which
stops it in order, not the device mid-flight), is told by the kernel to die with the host
(PR_SET_PDEATHSIG, so even a SIGKILLed host leaves no orphan holding a pty), and is stopped
with SIGTERM to its group, then SIGKILL after a short grace. Builds of one firmware tree are
serialised with a lock file, so two runs starting at once do not race in make.
"""

from __future__ import annotations

import collections
import ctypes
import fcntl
import os
import re
import signal
import subprocess
import threading
from pathlib import Path

from hil.errors import HilError

START_TIMEOUT_S = 10.0    # from exec to the line that names the pty
STOP_TIMEOUT_S = 3.0      # SIGTERM, then SIGKILL
BUILD_TIMEOUT_S = 600.0
_TAIL_LINES = 40
_PR_SET_PDEATHSIG = 1
BUILD_LOCK = "build/.hil-build.lock"


class ProcessDevice:
    """Builds (make is a no-op when up to date), starts, finds the pty, and stops a program.

    stdout and stderr are drained by a thread into a short tail: the line naming the pty is
    found there, the pipe never fills, and a sanitizer report or crash message becomes part of
    `failure()` after the run.
    """

    def __init__(self, firmware_dir: Path, make_args: list[str], command: list[str], pty_pattern: str) -> None:
        self.firmware_dir = firmware_dir
        self.make_args = make_args
        self.command = [part.replace("{firmware}", str(firmware_dir)) for part in command]
        self.pty_pattern = re.compile(pty_pattern)
        self._process: subprocess.Popen | None = None
        self._tail: collections.deque[str] = collections.deque(maxlen=_TAIL_LINES)
        self._pty: str | None = None
        self._announced = threading.Event()
        self.returncode: int | None = None
        self.killed = False          # it ignored SIGTERM and was killed by us (not a crash)

    def build(self) -> None:
        if self.make_args:
            build_firmware(self.firmware_dir, self.make_args)

    def start(self) -> str:
        self.build()
        try:
            self._process = subprocess.Popen(self.command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                             stdin=subprocess.DEVNULL, text=True, errors="replace",
                                             start_new_session=True, preexec_fn=_die_with_parent)
        except OSError as exc:
            raise HilError(f"cannot start {self.command[0]}: {exc.strerror}") from None
        threading.Thread(target=self._drain, name="device-output", daemon=True).start()
        if not self._announced.wait(START_TIMEOUT_S) or self._pty is None:
            self.stop()
            raise HilError(f"{Path(self.command[0]).name} did not name its pty within {START_TIMEOUT_S:g} s"
                           f"{self._last_words()}")
        return self._pty

    def _drain(self) -> None:
        for line in self._process.stdout:
            self._tail.append(line.rstrip())
            if self._pty is None and (match := self.pty_pattern.search(line)):
                self._pty = match.group(1)
                self._announced.set()
        self._announced.set()  # output ended: the process is gone

    def stop(self) -> None:
        """SIGTERM to the program's group, SIGKILL after STOP_TIMEOUT_S (a hung or stopped
        program); idempotent."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            _signal_group(process, signal.SIGTERM)
            try:
                process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                _signal_group(process, signal.SIGKILL)
                process.wait()
                self.killed = True
        _signal_group(process, signal.SIGKILL)   # anything it started and left behind
        self.returncode = process.returncode

    def failure(self) -> str | None:
        """Why the program ended badly on its own (sanitizer, crash), or None; while it runs too."""
        if self._process is not None and self._process.poll() is not None:
            self.returncode = self._process.returncode
        if self.returncode in (None, 0, -15) or self.killed:  # not run or running, clean, or stopped by us
            return None
        return f"{Path(self.command[0]).name} exited with code {self.returncode}{self._last_words()}"

    def _last_words(self) -> str:
        lines = [ln for ln in self._tail if ln.strip()]
        telling = [ln for ln in lines if "ERROR" in ln or "runtime error" in ln or "error" in ln.lower()]
        chosen = telling[:1] or lines[-1:]
        return f": {chosen[0].strip()}" if chosen else ""


def build_firmware(firmware_dir: Path, make_args: list[str]) -> None:
    """make -C firmware_dir make_args, one build of a tree at a time; HilError with the first
    compiler error when it fails."""
    if not (firmware_dir / "Makefile").exists():
        raise HilError(f"no firmware Makefile in {firmware_dir} (rig firmware_dir)")
    lock_path = firmware_dir / BUILD_LOCK
    try:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        lock = lock_path.open("w")
    except OSError as exc:
        raise HilError(f"cannot build the firmware: {lock_path}: {exc.strerror}") from None
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)   # another run building this tree finishes first
        done = subprocess.run(["make", "-s", "-C", str(firmware_dir), *make_args],
                              capture_output=True, text=True, timeout=BUILD_TIMEOUT_S)
    except FileNotFoundError:
        raise HilError("cannot build the firmware: `make` is not installed") from None
    except subprocess.TimeoutExpired:
        raise HilError(f"firmware build took longer than {BUILD_TIMEOUT_S:g} s "
                       f"(make -C {firmware_dir} {' '.join(make_args)})") from None
    finally:
        lock.close()
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines() or ["(no output)"]
        # The compiler's first error says more than make's closing "*** Error 1".
        errors = [ln for ln in lines if "error" in ln.lower() and not ln.startswith("make")]
        raise HilError(f"firmware build failed (make -C {firmware_dir} {' '.join(make_args)}): "
                       f"{(errors or lines)[0 if errors else -1].strip()}")


def _die_with_parent() -> None:
    """In the child before exec: the kernel sends SIGKILL when the host process dies."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass  # not Linux: the process group and stop() still apply


def _signal_group(process: subprocess.Popen, signum: int) -> None:
    try:
        os.killpg(process.pid, signum)
    except (ProcessLookupError, PermissionError):
        pass
