"""A session: one started device, its open link and identity, flying as many runs as asked.

Since ICD v3 a config write starts a run on the device, so a session does not restart the
device between landings: a SIL process, an emulator or a board stays up, which saves its start
(build check, process start, boot wait, identify) on every landing after the first. After a run
that ended in a link error the next run first checks the device still answers (drain and
identify); a device that died, or that does not answer, is started again. `reset()` restarts it
on request (the pytest plugin's --hil-reset). A coverage recorder (hil/coverage/), when given,
is told every start and landing and tells a process device where to write its counts.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

from hil.devices import device_for
from hil.errors import ConfigError, HilError
from hil.fault_injection import check_rig_can_apply, rig_fault_kinds
from hil.flight import Progress, fly_landing
from hil.handshake import identify, wait_for_boot
from hil.link.rtu_client import RtuClient
from hil.rig import Rig, resolve_rig
from hil.run import Run, RunResult


class Session:
    """Use as a context manager, or call start() and close(). Not thread-safe: one run at a time."""

    def __init__(self, rig: Rig | str | Path = "loopback", *, coverage=None) -> None:
        """`coverage`: a recorder from hil.coverage.recorder_for (begun), or None."""
        self.rig = rig if isinstance(rig, Rig) else resolve_rig(rig)
        self.coverage = coverage
        self.device = None
        self.link = None
        self.identity: dict = {}
        self.starts = 0              # device starts so far (1 + restarts)
        self.start_s = 0.0           # wall time of the last start: build check, start, boot wait, identify
        self.runs = 0
        self._check_before_next = False
        self._proxied = False        # the device sits behind the link proxy (a run had link or device faults)

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> Session:
        """Start the device, open the link, wait for boot and identify it (refusing a foreign ICD).
        A HilError names what could not be reached, built or identified; nothing is left running."""
        if self.device is not None:
            return self
        rig = self.rig
        started = time.perf_counter()
        device = device_for(rig, proxy=self._proxied,
                            env=self.coverage.device_env() if self.coverage is not None else None)
        link = None
        try:
            endpoint = device.start()
            link = endpoint if not isinstance(endpoint, str) else RtuClient(
                endpoint, baudrate=rig.baudrate, timeout_s=rig.timeout_s, unit=rig.unit)
            link.open()
            wait_for_boot(rig.boot_wait_s)
            identity = identify(link)
            if self.coverage is not None:
                self.coverage.device_started()     # a build without coverage is refused here
        except BaseException as exc:
            if link is not None:
                link.close()
            device.stop()
            died = device.failure()
            if died and isinstance(exc, HilError):
                raise HilError(f"rig {rig.name}: {died}") from None
            raise
        identity["port"] = link.port        # where it was reached (a pty, a board's port, a URL)
        image = firmware_image(rig)
        if image is not None and image.is_file():
            identity["image"] = str(image)
            identity["image_sha256"] = hashlib.sha256(image.read_bytes()).hexdigest()
        self.device, self.link, self.identity = device, link, identity
        self.starts += 1
        self.start_s = time.perf_counter() - started
        self._check_before_next = False
        return self

    def close(self) -> None:
        """Close the link and stop the device (idempotent)."""
        link, device, self.link, self.device = self.link, self.device, None, None
        try:
            if link is not None:
                link.close()
        finally:
            if device is not None:
                device.stop()

    def reset(self) -> None:
        """Restart the device: stop it, start it, identify it again."""
        self.close()
        self.start()

    def __enter__(self) -> Session:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    # -- flying -------------------------------------------------------------------------------

    def fly(self, run: Run, *, progress: Progress | None = None) -> RunResult:
        """Fly one landing. A link error or Ctrl-C ends the run with everything recorded so far
        (verdict ERROR); a programming error is re-raised once the outputs are written."""
        rig = run.rig_for(self.rig)
        if rig.kind == "mil" and rig.timing != "lockstep":
            raise ConfigError(f"rig {rig.name}: the in-process MIL rig runs lockstep only (its controller has "
                              "no clock of its own); use --rig loopback for real time")
        on_rig = rig_fault_kinds(run.scenario.faults + run.faults)
        if on_rig:
            check_rig_can_apply(on_rig, rig, self.device or device_for(rig))
            if self.device is not None and not self._proxied:
                self.close()             # link and device faults act behind the link proxy
            self._proxied = True
        self._ready()
        result, crash = fly_landing(self.link, rig, dict(self.identity), run, progress=progress, device=self.device)
        self.runs += 1
        if self.coverage is not None:
            self.coverage.landed()
        if result.error:
            self._check_before_next = True
        if crash is not None:
            raise crash
        return result

    def _ready(self) -> None:
        """Started, and still answering if the previous run ended in an error."""
        if self.device is not None and self.device.failure():
            self.close()                 # died: start it again
        if self.device is None:
            self.start()
            return
        if self._check_before_next:
            try:
                self.link.drain()
                identify(self.link)
                self._check_before_next = False
            except HilError:
                self.reset()


def firmware_image(rig: Rig) -> Path | None:
    """The firmware image a process rig runs, to fingerprint: the rig's `image`, else the SIL
    program itself, else an emulator command's last .elf/.hex/.bin argument."""
    def expand(part: str) -> Path:
        return Path(part.replace("{firmware}", rig.firmware_dir))
    if rig.image:
        return expand(rig.image)
    if rig.kind == "sil" and rig.command:
        return expand(rig.command[0])
    if rig.kind == "emulator":
        images = [p for p in rig.command if p.endswith((".elf", ".hex", ".bin"))]
        return expand(images[-1]) if images else None
    return None
