"""When to send a real-time frame so it reaches the device just before the device's own step.

The device steps on its own timer; the host samples and sends on its own. Left alone, the two
drift into the same phase now and then: a frame that arrives just after a step waits a whole
period for the next one, and its command is two periods old when it is applied (measured: 35 of
2,990 commands in a 60 s SIL landing at 50 Hz, p99 41 ms). The host already knows the device
clock from every reply (read_tick_us against its own send and receive times) and the device's
schedule (step_tick_us, every period), so it sends each frame `margin` before the device's next
step: the step always uses a frame that is margin old, and the command is applied one period
plus the reply's trip later.

The offset of the device clock is the median of the last OFFSET_WINDOW exchanges (robust to one
slow reply; it follows a drifting clock, a QEMU guest's included). Until the first reply the
host sends on its plain schedule.
"""

from __future__ import annotations

import statistics
from collections import deque

WRAP = 1 << 32
OFFSET_WINDOW = 16


def _signed(d: int) -> int:
    """A difference of two wrapping u32 microsecond ticks, as a signed number."""
    d %= WRAP
    return d - WRAP if d >= WRAP // 2 else d


class PhaseAligner:
    """Decides, at each physics tick, whether the frame for the device's next step is due."""

    def __init__(self, period_us: int, margin_us: int, tick_us: int) -> None:
        self.period_us = period_us
        self.base_margin_us = margin_us        # plus half the median round trip: the request's way there
        self.margin_us = margin_us
        self.tick_us = tick_us                 # the physics tick: sends happen on ticks only
        self._offsets: deque[int] = deque(maxlen=OFFSET_WINDOW)
        self._round_trips: deque[int] = deque(maxlen=OFFSET_WINDOW)
        self._offset_us: int | None = None     # device clock minus host clock, mod 2^32
        self._anchor_us: int | None = None     # a device step time (device clock)
        self._sent_for: int | None = None      # the device step the last frame was sent for

    @property
    def active(self) -> bool:
        return self._offset_us is not None and self._anchor_us is not None

    def observe(self, sent_ns: int, received_ns: int, read_tick_us: int, step_tick_us: int, fresh: bool) -> None:
        """A reply: pair the device clock with the host's, and note the device's schedule."""
        host_mid_us = (sent_ns + received_ns) // 2000
        self._round_trips.append((received_ns - sent_ns) // 1000)
        self.margin_us = self.base_margin_us + int(statistics.median(self._round_trips)) // 2
        self._offsets.append((read_tick_us - host_mid_us) % WRAP)
        base = self._offsets[0]  # the median of values close to each other, taken around one of them
        self._offset_us = (base + round(statistics.median(_signed(o - base) for o in self._offsets))) % WRAP
        if fresh and step_tick_us:
            self._anchor_us = step_tick_us

    def due(self, now_ns: int) -> bool:
        """True at the last physics tick that still leaves `margin` before the device's next step
        (once per step)."""
        if not self.active:
            return False
        device_now = (now_ns // 1000 + self._offset_us) % WRAP
        since_anchor = _signed(device_now + self.margin_us - self._anchor_us)
        steps_ahead = -(-since_anchor // self.period_us)          # ceil: the next step at least margin away
        next_step = (self._anchor_us + steps_ahead * self.period_us) % WRAP
        if next_step == self._sent_for:
            return False
        if _signed(next_step - device_now) < self.margin_us + self.tick_us:
            self._sent_for = next_step
            return True
        return False
