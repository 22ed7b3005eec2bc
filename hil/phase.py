"""When to send a real-time frame so it reaches the device just before the device's own step.

The device steps on its own timer; the host samples and sends on its own. Left alone, the two
drift into the same phase now and then: a frame that arrives just after a step waits a whole
period for the next one, and its command is two periods old when it is applied (measured: 35 of
2,990 commands in a 60 s SIL landing at 50 Hz, p99 41 ms). The host already knows the device
clock from every reply (read_tick_us against its own send and receive times) and the device's
schedule (step_tick_us, every period), so it makes each frame reach the device before its step.
The first frame is held back by the margin, which puts every device step a margin after a
control tick: frames are then sampled on the plant's control grid, as in lockstep, each step
uses the frame sampled a margin before it, and the command is applied one period plus the
reply's trip later. If the device's clock drifts so that a control tick would reach it less
than half the margin before its step, that frame goes out early instead, at the last physics
tick that leaves the whole margin.

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

    def due(self, now_ns: int, on_grid: bool = False, next_grid_ns: int | None = None) -> bool:
        """Whether to send the frame for the device's next step now (once per step).

        A control tick (`on_grid`) serves the step if the step falls at least half the margin
        after it and half the margin before the next control tick (whose exchange reads the
        step's command): frames then stay on the plant's control grid. When no control tick
        serves the step (the device's clock has drifted close to the grid), the frame goes out
        at the last physics tick that still leaves the whole margin."""
        if not self.active:
            return False
        device_now = self._device_us(now_ns)
        since_anchor = _signed(device_now + self._reach_us() - self._anchor_us)
        steps_ahead = -(-since_anchor // self.period_us)          # ceil: the next step a frame can reach
        next_step = (self._anchor_us + steps_ahead * self.period_us) % WRAP
        if self._sent_for is not None and abs(_signed(next_step - self._sent_for)) < self.period_us // 2:
            return False           # already sent for this step (the anchor moves by the step's own jitter)
        lead = _signed(next_step - device_now)
        if on_grid and self._serves(lead):
            self._sent_for = next_step
            return True
        grid_will_serve = next_grid_ns is not None and self._serves(_signed(next_step - self._device_us(next_grid_ns)))
        if not grid_will_serve and lead < self.margin_us + self.tick_us:
            self._sent_for = next_step
            return True
        return False

    def _reach_us(self) -> int:
        """How long before a step a frame must leave to be used by it with room to spare: half
        the margin, and never less than the request's own trip (half the round trip). The same
        bound decides which step is next and whether a control tick serves it, so a tick the
        aligner waits for is never one it then finds too late."""
        return max(self.margin_us // 2, self.margin_us - self.base_margin_us)

    def _serves(self, lead_us: int) -> bool:
        """A frame sent this long before the step lands safely between two exchanges."""
        reach = self._reach_us()
        return reach <= lead_us <= self.period_us - reach

    def _device_us(self, host_ns: int) -> int:
        return (host_ns // 1000 + self._offset_us) % WRAP
