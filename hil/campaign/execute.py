"""The coordinator: hand out the cases that have no result yet, store each as it comes back.

A task flies one case (the case engine) or a chunk of cases (the batch engine). A few more
tasks than workers are in flight at a time, so Ctrl-C or a sequential-test decision wastes
little. The cases of a task whose worker was lost (a dead process, a task that raised) are handed
out again up to the attempt limit and then recorded as ERROR results, so the campaign still ends
with one result per case; a landing that came back is never flown again.
"""

from __future__ import annotations

import sys
import time
from collections import deque

from hil.campaign import stats
from hil.campaign.store import Store
from hil.campaign.worker import Job
from hil.errors import HilError
from hil.run import ERROR, FAIL, PASS

IN_FLIGHT_PER_SLOT = 2
POLL_S = 0.5
RIG_BROKEN_AFTER = 5     # cases in a row that ended in rig errors: stop, the rig is broken


class RigBroken(HilError):
    """Case after case could not be flown: the campaign stops (resumable) instead of burning through."""


def execute(store: Store, jobs: dict[int, Job], engine, *, max_attempts: int, progress,
            sprt: stats.Sprt | None = None) -> tuple[str | None, int] | None:
    """Fly every job without a result, up to engine.chunk cases per task (in case order).
    Returns the SPRT decision (verdict, cases used) when the sequential test stopped the campaign
    early, else None. The engine is closed when all are flown; on an exception the caller
    closes it."""
    verdicts = {case: r["verdict"] for case, r in store.results().items()}
    pending = deque(sorted(set(jobs) - set(verdicts)))
    attempts: dict[int, int] = {}
    inflight: dict = {}        # future -> the cases it flies
    rig_errors_in_row = 0
    decision = _sprt_decision(verdicts, sprt, len(jobs)) if sprt else None
    while (pending or inflight) and not (decision and decision[0]):
        while pending and len(inflight) < engine.slots * IN_FLIGHT_PER_SLOT:
            chunk = [pending.popleft() for _ in range(min(engine.chunk, len(pending)))]
            for case in chunk:
                attempts[case] = attempts.get(case, 0) + 1
            inflight[engine.submit([jobs[case] for case in chunk])] = chunk
        for future in engine.wait(list(inflight), POLL_S):
            chunk = inflight.pop(future)
            try:
                returned = list(zip(chunk, future.result(), strict=True))
            except KeyboardInterrupt:
                raise
            except BaseException as exc:  # noqa: BLE001 - a lost worker or a crash in it: recorded
                line = f"worker failed: {_first_line(exc)}"
                engine.lost(future, exc)
                again = [case for case in chunk if attempts[case] < max_attempts]
                for case in again:
                    store.note_attempt(case, attempts[case], line, None)
                pending.extendleft(reversed(again))       # first again, in case order
                returned = [(case, _given_up(line, attempts[case])) for case in chunk
                            if attempts[case] >= max_attempts]
            for case, outcome in returned:
                if store.record(case, outcome):
                    verdicts[case] = outcome["verdict"]
                progress.update(outcome)
                rig_errors_in_row = 0 if outcome["verdict"] in (PASS, FAIL) else rig_errors_in_row + 1
            if rig_errors_in_row >= RIG_BROKEN_AFTER:     # checked once all that came back is stored
                raise RigBroken(f"{rig_errors_in_row} cases in a row could not be flown (last: "
                                f"{returned[-1][1]['error']}); fix the rig, then resume")
        if sprt:
            decision = _sprt_decision(verdicts, sprt, len(jobs))
    engine.close(cancel=bool(inflight))
    return decision if sprt else None


def _given_up(line: str, attempts: int) -> dict:
    """The ERROR result of a case whose worker was lost on every attempt."""
    return {"verdict": ERROR, "metrics": {}, "failed": [], "error": line, "readback": {}, "attempts": attempts,
            "worker": None, "wall_s": 0.0, "folder": None}


def _sprt_decision(verdicts: dict[int, str], sprt: stats.Sprt, total: int) -> tuple[str | None, int]:
    """Wald's test over the longest run of finished cases from case 0 (in case order, whatever
    order they finished in: that keeps the test valid). Invalid cases stop the prefix."""
    outcomes = []
    for case in range(total):
        verdict = verdicts.get(case)
        if verdict not in (PASS, FAIL):
            break
        outcomes.append(verdict == PASS)
    return sprt.decide(outcomes)


class Progress:
    """Cases done and failed, and an ETA: a tqdm bar on a terminal, a line per tenth otherwise."""

    def __init__(self, total: int, already: int, *, quiet: bool = False, stream=sys.stderr) -> None:
        self.total, self.done, self.failed, self.invalid = total, already, 0, 0
        self.quiet = quiet
        self.stream = stream
        self.started = time.monotonic()
        self.flown = 0
        self.next_line = already + max(1, total // 10)
        self.bar = None
        if not quiet and stream.isatty():
            from tqdm import tqdm
            self.bar = tqdm(total=total, initial=already, unit="case", file=stream, dynamic_ncols=True,
                            desc="campaign")

    def update(self, outcome: dict) -> None:
        self.done += 1
        self.flown += 1
        self.failed += outcome["verdict"] == FAIL
        self.invalid += outcome["verdict"] not in (PASS, FAIL)
        if self.bar is not None:
            self.bar.set_postfix(failed=self.failed, invalid=self.invalid, refresh=False)
            self.bar.update(1)
        elif not self.quiet and (self.done >= self.next_line or self.done == self.total):
            self.next_line = self.done + max(1, self.total // 10)
            print(f"  {self.done}/{self.total} cases, {self.failed} failed, {self.invalid} invalid, "
                  f"ETA {self.eta()}", file=self.stream, flush=True)

    def eta(self) -> str:
        if not self.flown:
            return "unknown"
        left = (time.monotonic() - self.started) / self.flown * (self.total - self.done)
        return f"{left:.0f} s" if left < 120 else f"{left / 60:.1f} min"

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _first_line(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if not isinstance(exc, HilError) else text.splitlines()[0]
