"""SIL device: the firmware core built for the host, serving Modbus RTU on a pty it creates."""

from __future__ import annotations

import os
import select
import subprocess
import tempfile
import time
from pathlib import Path

from hil.errors import HilError

START_TIMEOUT_S = 5.0     # from exec to the "PTY <path>" line
STOP_TIMEOUT_S = 3.0      # SIGTERM, then SIGKILL
BUILD_TIMEOUT_S = 300.0


class SilDevice:
    """Builds the firmware if needed, starts it, and always stops it again.

    The process's stderr goes to a temporary file: a sanitizer report or a crash becomes
    part of the error the run reports, and `failure()` tells the run the firmware died.
    """

    def __init__(self, firmware_dir: Path, make_target: str, executable: str) -> None:
        self.firmware_dir = firmware_dir
        self.make_target = make_target
        self.executable = firmware_dir / executable
        self._process: subprocess.Popen | None = None
        self._stderr = None
        self._stopping = False

    def build(self) -> None:
        """`make -C firmware <target>`: a no-op when the build is up to date."""
        if not (self.firmware_dir / "Makefile").exists():
            raise HilError(f"no firmware Makefile in {self.firmware_dir} (rig firmware_dir)")
        try:
            done = subprocess.run(["make", "-s", "-C", str(self.firmware_dir), self.make_target],
                                  capture_output=True, text=True, timeout=BUILD_TIMEOUT_S)
        except FileNotFoundError:
            raise HilError("cannot build the SIL firmware: `make` is not installed") from None
        if done.returncode != 0:
            lines = (done.stderr or done.stdout).strip().splitlines() or ["(no output)"]
            raise HilError(f"firmware build failed (make -C {self.firmware_dir} {self.make_target}): {lines[-1]}")

    def start(self) -> str:
        self.build()
        self._stderr = tempfile.TemporaryFile()
        try:
            self._process = subprocess.Popen([str(self.executable)], stdout=subprocess.PIPE,
                                             stderr=self._stderr, stdin=subprocess.DEVNULL)
        except OSError as exc:
            raise HilError(f"cannot start the SIL firmware {self.executable}: {exc.strerror}") from None
        return self._read_pty_line()

    def _read_pty_line(self) -> str:
        process = self._process
        deadline = time.monotonic() + START_TIMEOUT_S
        line = b""
        while not line.endswith(b"\n"):
            remaining = deadline - time.monotonic()
            if remaining <= 0 or process.poll() is not None:
                self.stop()
                raise HilError(f"SIL firmware {self.executable} did not announce its pty within "
                               f"{START_TIMEOUT_S:g} s{self._stderr_tail()}")
            if select.select([process.stdout], [], [], remaining)[0]:
                chunk = os.read(process.stdout.fileno(), 256)
                if not chunk:
                    continue
                line += chunk
        text = line.decode(errors="replace").strip()
        if not text.startswith("PTY "):
            self.stop()
            raise HilError(f"SIL firmware printed {text!r}, expected 'PTY <path>'")
        return text[4:]

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        self._stopping = True
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.returncode = process.returncode
        process.stdout.close()

    def failure(self) -> str | None:
        """After stop(): why the firmware ended badly (a sanitizer report, a crash), or None."""
        code = getattr(self, "returncode", 0)
        if code in (0, -15):  # clean exit, or our SIGTERM
            return None
        return f"SIL firmware exited with code {code}{self._stderr_tail()}"

    def _stderr_tail(self) -> str:
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        lines = [ln for ln in self._stderr.read().decode(errors="replace").splitlines() if ln.strip()]
        interesting = [ln for ln in lines if "ERROR" in ln or "runtime error" in ln] or lines[-1:]
        return f": {interesting[0].strip()}" if interesting else ""
