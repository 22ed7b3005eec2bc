"""Stopping on a signal the way Ctrl-C stops: SIGTERM (kill, a CI job's timeout, a supervisor)
and SIGHUP (a closed terminal or SSH session) end the run like SIGINT does.

The first signal raises Interrupted (a KeyboardInterrupt) in the main thread, so the run stops,
the device is stopped and everything recorded is written. Further signals while that cleanup
runs are noted and do not interrupt it (a second Ctrl-C used to leave the SIL, simavr or QEMU
running, holding a pty); a child that does not stop is killed after a short grace
(hil/devices/process.py). The process then exits with 128 + the first signal's number.
"""

from __future__ import annotations

import signal
import sys

HANDLED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Interrupted(KeyboardInterrupt):
    """A stop asked for by a signal; `signum` is which."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def name(self) -> str:
        return "Ctrl-C" if self.signum == signal.SIGINT else signal.Signals(self.signum).name


def describe(exc: KeyboardInterrupt) -> str:
    """'Ctrl-C', 'SIGTERM', ...: what stopped the run."""
    return exc.name if isinstance(exc, Interrupted) else "Ctrl-C"


def signal_number(exc: KeyboardInterrupt) -> int:
    return exc.signum if isinstance(exc, Interrupted) else int(signal.SIGINT)


def exit_code(exc: KeyboardInterrupt) -> int:
    return 128 + signal_number(exc)


class StopOnSignals:
    """Context manager for the CLI's main thread: install the handlers, restore them after."""

    def __init__(self) -> None:
        self.first: int | None = None
        self._previous: dict = {}

    def _handle(self, signum, frame) -> None:
        if self.first is None:
            self.first = signum
            raise Interrupted(signum)
        print(f"hil: {signal.Signals(signum).name} again: still stopping the device and writing what was "
              "recorded", file=sys.stderr, flush=True)

    def __enter__(self) -> StopOnSignals:
        for signum in HANDLED:
            try:
                self._previous[signum] = signal.signal(signum, self._handle)
            except (ValueError, OSError):  # not the main thread, or not on this OS
                pass
        return self

    def __exit__(self, *exc) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    @property
    def code(self) -> int | None:
        """128 + the first signal, or None when no signal came."""
        return None if self.first is None else 128 + self.first
