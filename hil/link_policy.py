"""What a failed exchange after the handshake does to a run (docs/architecture.md, "Link policy").

A real serial line drops or garbles a byte now and then. One bad frame must not end a landing:

- lockstep: the exchange is retried within the frozen cycle (plant time does not move, and the
  device answers a repeated sensor frame from its command block without stepping again, so the
  physics and the controller are exactly as if nothing had happened), up to `retries` times;
- real time: the plant keeps the last applied command, the miss is counted, the next frame goes
  out on schedule; the device's watchdog decides when the link is lost.

The run ends only after `retries + 1` failures of one lockstep exchange, `max_misses`
consecutive real-time misses, or a tripped device watchdog; that run was not a valid test of
the controller (INCONCLUSIVE). A reply that fails its CRC or names the wrong frame is never
applied: it is a failure like a missing one. An I/O error of the port itself (the device's pty
closed, a USB adapter unplugged) is not a line fault and ends the run at once.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from hil.errors import CrcError, FrameError, LinkLost, LinkTimeout


class LinkGaveUp(LinkLost):
    """The link policy ended the run: too many failed exchanges in a row (not the controller's fault)."""


class DeviceWatchdog(LinkLost):
    """The device reported LINK_LOST: its watchdog saw no sensor frame for watchdog_s."""


@dataclass(frozen=True)
class LinkPolicy:
    retries: int = 3          # lockstep: extra attempts of one failed exchange
    max_misses: int = 50      # real time: consecutive failed exchanges that end the run


def failure_kind(exc: Exception) -> str:
    if isinstance(exc, CrcError):
        return "crc"
    if isinstance(exc, FrameError):
        return "frame"
    if isinstance(exc, LinkTimeout):
        return "timeout"
    return "io"


@dataclass
class LinkTally:
    """Failed exchanges of one run: per kind, in a row, and since the last recorded cycle."""

    kinds: Counter = field(default_factory=Counter)
    consecutive: int = 0
    most_consecutive: int = 0
    since_cycle: int = 0       # failures since the previous recorded cycle (its retries or misses)
    last_error: str = ""

    @property
    def total(self) -> int:
        return sum(self.kinds.values())

    def failed(self, exc: Exception) -> None:
        self.kinds[failure_kind(exc)] += 1
        self.consecutive += 1
        self.most_consecutive = max(self.most_consecutive, self.consecutive)
        self.since_cycle += 1
        self.last_error = str(exc)

    def succeeded(self) -> int:
        """An exchange went through: returns the failures since the previous recorded cycle."""
        self.consecutive = 0
        failures, self.since_cycle = self.since_cycle, 0
        return failures

    def summary(self) -> dict:
        return {"failures": self.total, "by_kind": dict(self.kinds), "most_in_a_row": self.most_consecutive,
                "last_error": self.last_error or None}
