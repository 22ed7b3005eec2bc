"""Process device: a controller that runs as a program on this computer and announces a pty.

The SIL firmware, the simavr runner and QEMU all work this way: build with make, start a
command, read the pty path from its output, fly, and always stop the process again.

The program runs in its own process group (a Ctrl-C at the terminal reaches the host, which
stops it in order, not the device mid-flight), is told by the kernel to die with the host
(PR_SET_PDEATHSIG, so even a SIGKILLed host leaves no orphan holding a pty), and is stopped
with SIGTERM to its group, then SIGKILL after a short grace. Builds of one firmware tree are
serialised with a lock file, so two runs starting at once do not race in make.

Device faults (docs/device-control.md): a reset mid-flight restarts the program (a new pty),
signals the simavr runner to reset its AVR core, or sends QEMU's monitor `system_reset` on the
unix socket that a `{monitor}` placeholder in the command names (both keep the pty); the SIL's
control step is slowed through its control pipe on stdin (`step-delay-us N`).
"""

from __future__ import annotations

import collections
import ctypes
import fcntl
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from hil.errors import HilError
from hil.rig import derived_reset

START_TIMEOUT_S = 10.0    # from exec to the line that names the pty
STOP_TIMEOUT_S = 3.0      # SIGTERM, then SIGKILL
BUILD_TIMEOUT_S = 600.0
_TAIL_LINES = 40
_PR_SET_PDEATHSIG = 1
BUILD_LOCK = "build/.hil-build.lock"
CONTROL_TIMEOUT_S = 5.0   # a control line, a reset signal or a monitor command is answered within this
MAX_STEP_DELAY_US = 1_000_000          # the SIL's limit
RESETS = {"process": "process restart", "simavr": "simavr core reset", "qemu": "QEMU system_reset"}
SLOW = "SIL step delay (control pipe)"
# What the programs answer on stdout: the SIL's control lines, the simavr runner's resets.
_ANSWER = re.compile(r"^(control: |RESET \d+)")
_QEMU_PROMPT = b"(qemu) "


class ProcessDevice:
    """Builds (make is a no-op when up to date), starts, finds the pty, and stops a program.

    stdout and stderr are drained by a thread into a short tail: the line naming the pty is
    found there, the pipe never fills, and a sanitizer report or crash message becomes part of
    `failure()` after the run.
    """

    def __init__(self, firmware_dir: Path, make_args: list[str], command: list[str], pty_pattern: str, *,
                 reset: str | None = None, step_control: bool | None = None, env: dict | None = None) -> None:
        """`reset`: process, simavr, qemu or none (None: what the command implies, as for a rig
        without a `reset` field); `step_control`: the program takes `step-delay-us N` on a pipe
        on stdin (None: when it is the SIL, skycrane-sil); `env`: variables added to the
        program's environment (a coverage build's GCOV_PREFIX, docs/coverage.md)."""
        self.firmware_dir = firmware_dir
        self.make_args = make_args
        self.command = [part.replace("{firmware}", str(firmware_dir)) for part in command]
        self.pty_pattern = re.compile(pty_pattern)
        self.reset_mode = reset or derived_reset("emulator", self.command)
        if self.reset_mode not in (*RESETS, "none"):
            raise ValueError(f"reset {self.reset_mode!r} is not one of {', '.join(RESETS)}, none")
        if step_control is None:
            step_control = bool(self.command) and Path(self.command[0]).name == "skycrane-sil"
        self.step_control = step_control
        self.env = dict(env or {})
        self.monitor = True          # fill {monitor}: QEMU opens its monitor socket (device_for: only for device faults)
        self._process: subprocess.Popen | None = None
        self._tail: collections.deque[str] = collections.deque(maxlen=_TAIL_LINES)
        self._answers: queue.SimpleQueue[str] = queue.SimpleQueue()
        self._pty: str | None = None
        self._monitor_dir: str | None = None
        self._built = False
        self._step_delay_us = 0
        self.returncode: int | None = None
        self.killed = False          # it ignored SIGTERM and was killed by us (not a crash)

    @property
    def url(self) -> str | None:
        """The pty the program serves now (a restart makes a new one)."""
        return self._pty

    def build(self) -> None:
        if self.make_args:
            build_firmware(self.firmware_dir, self.make_args)
        self._built = True

    def start(self) -> str:
        if not self._built:         # once per device: a restart or power-on does not build again
            self.build()
        return self._launch()

    def _launch(self) -> str:
        command = self.command
        if any("{monitor}" in part for part in command):
            if self.monitor:
                self._monitor_dir = tempfile.mkdtemp(prefix="hil-monitor-")
                command = [part.replace("{monitor}", self._monitor_path()) for part in command]
            else:
                # No reset asked for: no monitor. With its socket open QEMU held real time worse
                # (tests/test_realtime_landing.py's STM32 landing: 2 of 7 runs lost vs 0 of 4).
                command = ["none" if "{monitor}" in part else part for part in command]
        self._pty = None
        announced = threading.Event()
        try:
            # The SIL's control pipe on stdin; /dev/null for the others (the SIL then has none).
            self._process = process = subprocess.Popen(
                command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                stdin=subprocess.PIPE if self.step_control else subprocess.DEVNULL, text=True,
                errors="replace", start_new_session=True, preexec_fn=_die_with_parent,
                env={**os.environ, **self.env} if self.env else None)
        except OSError as exc:
            self._remove_monitor_dir()
            raise HilError(f"cannot start {self.command[0]}: {exc.strerror}") from None
        threading.Thread(target=self._drain, args=(process, announced), name="device-output", daemon=True).start()
        if not announced.wait(START_TIMEOUT_S) or self._pty is None:
            self.stop()
            raise HilError(f"{Path(self.command[0]).name} did not name its pty within {START_TIMEOUT_S:g} s"
                           f"{self._last_words()}")
        return self._pty

    def _drain(self, process: subprocess.Popen, announced: threading.Event) -> None:
        for line in process.stdout:
            line = line.rstrip()
            self._tail.append(line)
            if not announced.is_set():
                if match := self.pty_pattern.search(line):
                    self._pty = match.group(1)
                    announced.set()
            elif _ANSWER.match(line):
                self._answers.put(line)
        announced.set()  # output ended: the process is gone

    def stop(self) -> None:
        """SIGTERM to the program's group, SIGKILL after STOP_TIMEOUT_S (a hung or stopped
        program); idempotent."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.stdin is not None:
            try:
                process.stdin.close()          # the end of the control pipe
            except OSError:
                pass
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
        self._remove_monitor_dir()

    def failure(self) -> str | None:
        """Why the program ended badly on its own (sanitizer, crash), or None; while it runs too."""
        if self._process is not None and self._process.poll() is not None:
            self.returncode = self._process.returncode
        if self.returncode in (None, 0, -15) or self.killed:  # not run or running, clean, or stopped by us
            return None
        return f"{Path(self.command[0]).name} exited with code {self.returncode}{self._last_words()}"

    # -- device faults (docs/device-control.md) -----------------------------------------------

    def reset_method(self) -> str | None:
        return RESETS.get(self.reset_mode)

    def reset(self) -> dict:
        """Reset the running program's device now; returns once it restarts (it may still be
        booting). A process restart makes a new pty (`url`); the other resets keep it."""
        method = self.reset_method()
        if method is None:
            raise HilError(f"{Path(self.command[0]).name} cannot be reset (rig reset = \"none\")")
        if self._process is None:
            raise HilError(f"cannot reset {Path(self.command[0]).name}: it is not running")
        started = time.perf_counter()
        if self.reset_mode == "process":
            self.stop()
            self._launch()
            self.returncode, self.killed = None, False    # failure() is the new program's from now on
            if self._step_delay_us:
                self._control(f"step-delay-us {self._step_delay_us}")   # still slowed: the fault goes on
        elif self.reset_mode == "simavr":
            self._drop_answers()
            try:
                os.kill(self._process.pid, signal.SIGUSR1)
            except ProcessLookupError:
                raise HilError(f"cannot reset {Path(self.command[0]).name}: it has exited") from None
            self._answer("RESET", "a reset")
        else:
            self._monitor("system_reset")
        return {"method": method, "took_s": time.perf_counter() - started}

    def slow_method(self) -> str | None:
        return SLOW if self.step_control else None

    def slow(self, step_delay_us: int) -> None:
        """Every control step of the SIL takes at least step_delay_us from now on (0: restores)."""
        if not self.step_control:
            raise HilError(f"{Path(self.command[0]).name}'s control step cannot be slowed")
        if not 0 <= step_delay_us <= MAX_STEP_DELAY_US:
            raise HilError(f"step delay {step_delay_us} us is outside 0..{MAX_STEP_DELAY_US}")
        if self._process is not None:
            self._control(f"step-delay-us {int(step_delay_us)}")
        self._step_delay_us = int(step_delay_us)

    def _control(self, line: str) -> None:
        """Send one control line on the program's stdin and wait for its answer."""
        name = Path(self.command[0]).name
        self._drop_answers()
        try:
            self._process.stdin.write(line + "\n")
            self._process.stdin.flush()
        except (OSError, ValueError):          # a closed pipe: the program has exited
            raise HilError(f"cannot send {line!r} to {name}: it has exited{self._last_words()}") from None
        answer = self._answer("control: ", repr(line))
        if answer != f"control: ok {line}":
            raise HilError(f"{name} refused {line!r}: {answer}")

    def _drop_answers(self) -> None:
        while True:
            try:
                self._answers.get_nowait()
            except queue.Empty:
                return

    def _answer(self, prefix: str, what: str) -> str:
        try:
            while not (line := self._answers.get(timeout=CONTROL_TIMEOUT_S)).startswith(prefix):
                pass
        except queue.Empty:
            raise HilError(f"{Path(self.command[0]).name} did not answer {what} within "
                           f"{CONTROL_TIMEOUT_S:g} s{self._last_words()}") from None
        return line

    def _monitor_path(self) -> str:
        return os.path.join(self._monitor_dir, "monitor.sock")

    def _monitor(self, command: str) -> None:
        """One command on QEMU's human monitor: wait for its prompt, send, wait for the next."""
        if self._monitor_dir is None:
            raise HilError("QEMU has no monitor socket: put -monitor unix:{monitor},server=on,wait=off "
                           "in the rig's command")
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(CONTROL_TIMEOUT_S)
                sock.connect(self._monitor_path())
                _read_until(sock, _QEMU_PROMPT)
                sock.sendall(command.encode() + b"\n")
                _read_until(sock, _QEMU_PROMPT)
        except OSError as exc:
            raise HilError(f"QEMU monitor {command}: {exc.strerror or exc}") from None

    def _remove_monitor_dir(self) -> None:
        directory, self._monitor_dir = self._monitor_dir, None
        if directory is not None:
            shutil.rmtree(directory, ignore_errors=True)

    def _last_words(self) -> str:
        lines = [ln for ln in self._tail if ln.strip()]
        telling = [ln for ln in lines if "ERROR" in ln or "runtime error" in ln or "error" in ln.lower()]
        chosen = telling[:1] or lines[-1:]
        return f": {chosen[0].strip()}" if chosen else ""


def _read_until(sock: socket.socket, marker: bytes) -> bytes:
    data = b""
    while marker not in data:
        chunk = sock.recv(4096)
        if not chunk:
            raise OSError(0, "the monitor closed the connection")
        data += chunk
    return data


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
