"""What a campaign worker does with one case: fly it on its own rig instance, read the flown
values back, retry a rig error on a fresh device, and keep a run folder for a failed landing.

The same function runs in a local pool process and in a Dask worker. Each worker process (each
thread, in a Dask worker with several) keeps one Session per rig, so a SIL or emulator worker
starts its process once and owns its pty; a bench worker owns its board.
"""

from __future__ import annotations

import math
import os
import shutil
import socket
import threading
from dataclasses import dataclass, replace
from pathlib import Path

from hil.campaign.plan import read_back
from hil.errors import HilError
from hil.rig import Rig, resolve_rig
from hil.run import ERROR, FAIL, PASS, Outputs, Run
from hil.session import Session

FULL = Outputs()     # a kept case: telemetry, summary, plots, report


@dataclass(frozen=True)
class Job:
    """One case for a worker. `rig` is a Rig, or a rig reference resolved on the worker (a Dask
    worker on a bench host reads its own rig file, which names its own port)."""

    case: int
    run: Run
    rig: Rig | str
    paths: tuple[str, ...]      # the dispersed and swept values to read back from the flown landing
    retries: int = 2            # rig errors tried again on a fresh device
    folder: str | None = None   # the case's run folder, written for a failed landing
    keep: bool = False          # write the folder whatever the verdict


_sessions: dict[tuple, Session] = {}
_lock = threading.Lock()


def worker_name() -> str:
    try:
        from distributed import get_worker
        return get_worker().address
    except (ImportError, ValueError):
        return f"{socket.gethostname()}:{os.getpid()}"


def session_for(rig: Rig | str) -> Session:
    """This worker's session on that rig (one per thread), made on first use."""
    key = (repr(rig), threading.get_ident())      # a Rig holds a dict: not hashable itself
    with _lock:
        session = _sessions.get(key)
        if session is None:
            session = _sessions[key] = Session(rig if isinstance(rig, Rig) else resolve_rig(rig))
    return session


def close_sessions() -> None:
    """Stop every device this worker started (at the worker's exit)."""
    with _lock:
        sessions = list(_sessions.values())
        _sessions.clear()
    for session in sessions:
        try:
            session.close()
        except Exception:  # noqa: BLE001 - exiting: close the rest
            pass


def fly_case(job: Job) -> dict:
    """Fly a case; a rig error (the device died, no reply, the build failed, the run was not a
    valid test) is tried again on a fresh device up to job.retries times. A landing that failed
    its criteria is never flown again to get another answer."""
    session = session_for(job.rig)
    worker = worker_name()
    tries: list[tuple[str, str]] = []      # (what spoiled the try, where)
    realtime = False
    result = None
    for attempt in range(job.retries + 1):
        if attempt:
            session.close()              # a fresh device for the next try
        try:
            realtime = job.run.rig_for(session.rig).timing == "realtime"
            # Real time does not repeat itself: write the folder while flying, drop it on a pass.
            outputs = replace(FULL, folder=Path(job.folder), replace=True) if realtime and job.folder else job.run.outputs
            result = session.fly(replace(job.run, outputs=outputs))
        except HilError as exc:
            result = None
            tries.append((str(exc), worker))
            continue
        if result.verdict in (PASS, FAIL):
            break
        tries.append((result.error or result.invalid or result.verdict, worker))
        if result.interrupted:
            break
    if result is None or result.verdict not in (PASS, FAIL):
        verdict = ERROR if result is None else result.verdict
        return _outcome(job, verdict, {}, [], tries[-1][0], {}, len(tries), worker, 0.0, None, tries[:-1])
    outcome = _outcome(job, result.verdict, result.metrics, [row["metric"] for row in result.failed_criteria()],
                       None, {p: read_back(result, p) for p in job.paths}, len(tries) + 1, worker,
                       result.summary.get("wall_time_s", 0.0), None, tries)
    if job.folder:
        outcome["folder"] = _keep_folder(job, session, result, realtime)
    return outcome


def _keep_folder(job: Job, session: Session, result, realtime: bool) -> str | None:
    """The case's run folder for a failed landing (or any, with keep). Lockstep: flown again with
    every output (the same case gives the same landing; a difference is reported, not hidden)."""
    folder = Path(job.folder)
    wanted = job.keep or result.verdict == FAIL
    if realtime:
        if not wanted:
            shutil.rmtree(folder, ignore_errors=True)
            return None
        return str(folder)
    if not wanted:
        return None
    again = session.fly(replace(job.run, outputs=replace(FULL, folder=folder, replace=True)))
    if not same_metrics(again.metrics, result.metrics):
        (folder / "REPLAY-DIFFERS.txt").write_text(
            "this case flown again for its run folder gave other metrics than in the campaign:\n"
            f"campaign: {result.metrics}\nhere: {again.metrics}\n")
    return str(folder)


def same_metrics(a: dict, b: dict) -> bool:
    if a.keys() != b.keys():
        return False
    return all(x == y or (isinstance(x, float) and isinstance(y, float) and math.isnan(x) and math.isnan(y))
               for x, y in ((a[k], b[k]) for k in a))


def _outcome(job, verdict, metrics, failed, error, readback, attempts, worker, wall_s, folder, retried) -> dict:
    return {"case": job.case, "verdict": verdict, "metrics": {k: _plain(v) for k, v in metrics.items()},
            "failed": failed, "error": error, "readback": readback, "attempts": attempts, "worker": worker,
            "wall_s": wall_s, "folder": folder, "retried": retried}


def _plain(value):
    """A metric as a JSON-able number (numpy scalars and bools included)."""
    if isinstance(value, bool) or value is None:
        return value
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)

