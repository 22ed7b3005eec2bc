"""Wall-clock pacing for the real-time loop: wait for each deadline, measure lateness, apply the overrun policy.

Waiting is a hybrid: sleep until shortly before the deadline (the OS wakes a sleeper some tens
of microseconds late), then spin on the monotonic clock for the rest. Lateness is how far after
its deadline a physics step started; an overrun is a step later than `overrun_ms`.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from hil.errors import HilError

SPIN_NS = 300_000  # the last 0.3 ms before a deadline is spun, not slept
MAX_EVENTS = 200     # overruns kept with their cause (all are counted)
IDLE_SLICE_NS = 200_000  # while something is awaited, sleep at most this long between looks


class OverrunAbort(HilError):
    """The overrun policy ended the run: too many overruns, or one too late."""


@dataclass(frozen=True)
class OverrunPolicy:
    overrun_ms: float = 1.0           # a step later than this is an overrun
    action: str = "warn"              # warn: count and carry on; abort: end the run at a limit
    abort_after: int = 0              # abort at this many overruns (0: no count limit)
    abort_lateness_ms: float = 0.0    # abort at a step this late (0: no lateness limit)
    grace_s: float = 0.5              # start-up: lateness before this plant time is not judged


class Pacer:
    """Paces plant time to the monotonic clock from start() on; collects lateness after the grace."""

    def __init__(self, policy: OverrunPolicy, warn=None) -> None:
        self.policy = policy
        self.warn = warn or (lambda message: None)
        self.t0_ns = 0
        self.lateness_us: list[float] = []
        self.overruns = 0
        self.largest_overrun_us = 0.0
        self.first_overrun_t: float | None = None
        self.overrun_events: list[dict] = []  # the first MAX_EVENTS overruns, each with its likely cause
        self.overruns_own = 0                 # overruns after a tick whose own work ran past the deadline
        self.overruns_wakeup = 0              # overruns of a loop that woke up late (the machine's stall)
        self._overrun_ns = int(policy.overrun_ms * 1e6)
        self._period_ns = 0
        self._work = ("nothing yet", 0)   # what the loop did after the previous deadline, and for how long

    def note_work(self, what: str, took_ns: int, period_ns: int) -> None:
        """The loop reports what it did between the previous deadline and this wait (to attribute overruns)."""
        self._work = (what, took_ns)
        self._period_ns = period_ns

    def start(self) -> int:
        self.t0_ns = time.monotonic_ns()
        return self.t0_ns

    def wall_ns(self, plant_t: float) -> int:
        """The monotonic time at which plant time `plant_t` is due."""
        return self.t0_ns + round(plant_t * 1e9)

    def wait(self, plant_t: float, idle=None) -> int:
        """Return once plant time `plant_t` is due; judges and returns the lateness in ns.

        `idle`, if given, is called about every IDLE_SLICE_NS while waiting (the loop collects a
        reply with it, so its arrival time is known to a fraction of a physics step)."""
        deadline = self.wall_ns(plant_t)
        now = time.monotonic_ns()
        while deadline - now > SPIN_NS:
            nap = deadline - now - SPIN_NS
            if idle is not None:
                nap = min(nap, IDLE_SLICE_NS)
            time.sleep(nap * 1e-9)
            if idle is not None:
                idle()
            now = time.monotonic_ns()
        while now < deadline:
            if idle is not None:
                idle()
            now = time.monotonic_ns()
        late = now - deadline
        if plant_t >= self.policy.grace_s:
            self._judge(plant_t, late)
        return late

    def _own_work(self) -> bool:
        """Whether the previous tick's own work ran past its period (else the thread woke up late:
        OS or hypervisor scheduling, the machine's stall)."""
        return bool(self._period_ns) and self._work[1] > self._period_ns

    def _event(self, plant_t: float, late_ns: int, own: bool) -> dict:
        """An overrun and where it came from."""
        what, took_ns = self._work
        return {"t": plant_t, "late_us": late_ns * 1e-3, "previous_tick": what, "previous_tick_us": took_ns * 1e-3,
                "cause": f"the loop: {what} took {took_ns / 1e6:.2f} ms" if own else "late wake-up (OS scheduling)"}

    def _judge(self, plant_t: float, late_ns: int) -> None:
        self.lateness_us.append(late_ns * 1e-3)
        if late_ns <= self._overrun_ns:
            return
        self.overruns += 1
        own = self._own_work()
        if own:
            self.overruns_own += 1
        else:
            self.overruns_wakeup += 1
        self.largest_overrun_us = max(self.largest_overrun_us, late_ns * 1e-3)
        if len(self.overrun_events) < MAX_EVENTS:
            self.overrun_events.append(self._event(plant_t, late_ns, own))
        p = self.policy
        if self.first_overrun_t is None:
            self.first_overrun_t = plant_t
            self.warn(f"overrun at t={plant_t:.3f} s: physics step {late_ns / 1e6:.2f} ms late "
                      f"(limit {p.overrun_ms:g} ms); counting further ones")
        if p.action != "abort":
            return
        if p.abort_after and self.overruns >= p.abort_after:
            raise OverrunAbort(f"aborted after {self.overruns} overruns (abort_after_overruns = {p.abort_after}); "
                               f"largest {self.largest_overrun_us / 1e3:.2f} ms, last at t={plant_t:.3f} s")
        if p.abort_lateness_ms and late_ns > p.abort_lateness_ms * 1e6:
            raise OverrunAbort(f"aborted at t={plant_t:.3f} s: physics step {late_ns / 1e6:.2f} ms late "
                               f"(abort_lateness_ms = {p.abort_lateness_ms:g})")


class Scheduling:
    """Raise the loop's thread to SCHED_FIFO and pin it to one CPU where the OS allows; undo on exit.

    Applies to the calling thread only (Linux sched_* with pid 0), so a device thread in the same
    process keeps the other CPUs. Where not permitted it says so once and carries on.
    """

    def __init__(self, priority: int, cpu: int, warn=None) -> None:
        self.priority = priority
        self.cpu = cpu
        self.warn = warn or (lambda message: None)
        self.description = "normal scheduling"
        self._old_policy = None
        self._old_affinity = None

    def __enter__(self) -> Scheduling:
        if self.priority <= 0:
            self.description = "normal scheduling (rt_priority = 0)"
            return self
        notes = []
        if hasattr(os, "sched_setaffinity"):
            allowed = sorted(os.sched_getaffinity(0))
            cpu = allowed[-1] if self.cpu < 0 else self.cpu
            try:
                os.sched_setaffinity(0, {cpu})
                self._old_affinity = set(allowed)
                notes.append(f"pinned to CPU {cpu}")
            except OSError as exc:
                notes.append(f"not pinned ({exc.strerror})")
        try:
            old = (os.sched_getscheduler(0), os.sched_getparam(0))
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(self.priority))
            self._old_policy = old
            notes.insert(0, f"SCHED_FIFO priority {self.priority}")
        except (OSError, AttributeError) as exc:
            reason = getattr(exc, "strerror", None) or "not available on this OS"
            notes.insert(0, f"normal scheduling (SCHED_FIFO refused: {reason})")
            self.warn(f"real-time priority not granted ({reason}); running at normal priority")
        self.description = ", ".join(notes)
        return self

    def __exit__(self, *exc) -> None:
        if self._old_policy is not None:
            policy, param = self._old_policy
            try:
                os.sched_setscheduler(0, policy, param)
            except OSError:
                pass
        if self._old_affinity is not None:
            try:
                os.sched_setaffinity(0, self._old_affinity)
            except OSError:
                pass
