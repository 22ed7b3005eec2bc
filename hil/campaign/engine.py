"""Where a campaign's cases fly: a local process pool, or a Dask cluster (dask.distributed).

Both give futures of `fly_case(job)`; the coordinator (hil/campaign/execute.py) needs only
submit, wait and close. A local pool's worker processes each own their rig instance; a Dask
worker is told apart by its resources: a case that needs a board goes only to a worker that
advertises it (`dask worker ... --resources "bench-uno=1" --nthreads 1`), so each board flies one
landing at a time.
"""

from __future__ import annotations

import multiprocessing
import signal
import weakref
import time
from concurrent import futures as cf
from concurrent.futures.process import BrokenProcessPool

from hil.campaign.worker import Job, close_sessions, fly_case
from hil.errors import ConfigError

CONNECT_TIMEOUT_S = 3


def _local_worker_start() -> None:
    """A pool process leaves Ctrl-C to the coordinator, and stops its devices when it exits."""
    from multiprocessing import util
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    util.Finalize(None, close_sessions, exitpriority=10)


class LocalPool:
    """K worker processes on this machine (spawned: a clean interpreter each, no inherited locks)."""

    name = "local"

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.slots = workers
        self._pool = self._new_pool()
        self._pool_of = weakref.WeakKeyDictionary()   # future -> the pool it was submitted to

    def _new_pool(self) -> cf.ProcessPoolExecutor:
        return cf.ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                      initializer=_local_worker_start)

    def submit(self, job: Job, attempt: int):
        future = self._pool.submit(fly_case, job)
        self._pool_of[future] = self._pool
        return future

    def wait(self, pending, timeout: float):
        done, _ = cf.wait(pending, timeout=timeout, return_when=cf.FIRST_COMPLETED)
        return done

    def lost(self, future, exc: BaseException) -> bool:
        """A worker process died: every case in flight on that pool is lost, and the pool is made
        again once (the other futures of the broken pool report the same death later)."""
        if isinstance(exc, BrokenProcessPool) and self._pool_of.get(future) is self._pool:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = self._new_pool()
            return True
        return False

    def describe(self) -> str:
        return f"local pool, {self.workers} worker process{'es' if self.workers != 1 else ''}"

    def close(self, cancel: bool = False) -> None:
        self._pool.shutdown(wait=not cancel, cancel_futures=cancel)
        if cancel:
            for child in multiprocessing.active_children():
                child.terminate()     # a landing in flight is flown again on --resume


class DaskCluster:
    """A dask.distributed scheduler's workers. `resource`: the worker resource each case needs
    ('' for none)."""

    name = "dask"

    def __init__(self, address: str, resource: str = "") -> None:
        try:
            from distributed import Client
        except ImportError:
            raise ConfigError("--scheduler needs dask.distributed (pip install 'distributed')") from None
        self.address = address
        self.resource = resource
        try:
            self.client = Client(address, timeout=f"{CONNECT_TIMEOUT_S}s", set_as_default=False)
        except (OSError, TimeoutError, ValueError) as exc:
            raise ConfigError(f"scheduler {address}: unreachable ({_first_line(exc)})") from None
        workers = self.client.scheduler_info()["workers"]
        self.eligible = [addr for addr, w in workers.items()
                         if not resource or w.get("resources", {}).get(resource, 0) >= 1]
        if not workers:
            self.client.close()
            raise ConfigError(f"scheduler {address}: no worker is connected")
        if not self.eligible:
            self.client.close()
            raise ConfigError(f"scheduler {address}: no worker advertises the resource {resource!r} "
                              f"(start one with: dask worker {address} --resources \"{resource}=1\" --nthreads 1)")
        if resource:
            self.slots = sum(int(workers[a].get("resources", {}).get(resource, 0)) for a in self.eligible)
        else:
            self.slots = sum(workers[a].get("nthreads", 1) for a in self.eligible)

    def check_rig(self, rig_ref: str) -> None:
        """Every worker that may take a case can read the rig (its own file, its own port)."""
        answers = self.client.run(probe_rig, rig_ref, workers=self.eligible)
        for address, problem in sorted(answers.items()):
            if problem:
                raise ConfigError(f"worker {address}: {problem}")

    def submit(self, job: Job, attempt: int):
        return self.client.submit(fly_case, job, key=f"case-{job.case}-try{attempt}-{id(job):x}", pure=False,
                                  resources={self.resource: 1} if self.resource else None)

    def wait(self, pending, timeout: float):
        # distributed.wait() only knows the default client; this one is private to the campaign.
        deadline = time.monotonic() + timeout
        while True:
            done = {f for f in pending if f.done()}
            if done or time.monotonic() >= deadline:
                return done
            time.sleep(0.01)

    def lost(self, future, exc: BaseException) -> bool:
        return False     # the scheduler already re-ran the case elsewhere as long as it could

    def describe(self) -> str:
        need = f", cases need resource {self.resource!r}" if self.resource else ""
        return f"Dask scheduler {self.address}, {len(self.eligible)} worker(s), {self.slots} slot(s){need}"

    def close(self, cancel: bool = False) -> None:
        try:
            alive = [a for a in self.eligible if a in self.client.scheduler_info()["workers"]]
            self.client.run(close_sessions, workers=alive, on_error="ignore")
        except Exception:  # noqa: BLE001 - closing: a worker that went away has nothing to stop
            pass
        self.client.close()


def probe_rig(rig_ref: str) -> str | None:
    """Run on a Dask worker before any case flies: None, or why this worker cannot fly the rig
    (its rig file, its firmware build, its port and device)."""
    from hil.errors import HilError
    from hil.rig import resolve_rig
    try:
        start_once(resolve_rig(rig_ref))
    except HilError as exc:
        return str(exc)
    return None


def start_once(rig) -> None:
    """Start the rig's device once and identify it before any case flies (its firmware built on
    the way), so a build that fails, a missing port or a silent or foreign device is one error
    before the campaign rather than a rig error in every case."""
    from hil.session import Session
    with Session(rig):
        pass


def _first_line(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0]
