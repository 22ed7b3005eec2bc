"""Where a campaign's cases fly: a local process pool, or a Dask cluster (dask.distributed).

Both give futures of a task that flies a list of jobs and returns their outcomes: one case per
task on the scalar path (`fly_cases`, the case engine), or `chunk` cases per task on the
vectorised batch engine (`hil.batch.fly_chunk`, docs/batch.md). The coordinator
(hil/campaign/execute.py) needs only chunk, slots, submit, wait, lost and close. A local pool's
worker processes each own their rig instance; a Dask worker is told apart by its resources: a
task that needs a board goes only to a worker that advertises it (`dask worker ...
--resources "bench-uno=1" --nthreads 1`), so each board flies one landing at a time.
"""

from __future__ import annotations

import math
import multiprocessing
import signal
import time
import uuid
import weakref
from concurrent import futures as cf
from concurrent.futures.process import BrokenProcessPool

from hil.campaign.worker import Job, close_sessions, fly_case
from hil.errors import ConfigError

CONNECT_TIMEOUT_S = 3


def fly_cases(jobs: list[Job]) -> list[dict]:
    """The case engine's task: each job flown alone (a list of one, as the coordinator hands out)."""
    return [fly_case(job) for job in jobs]


# The batch engine's cases per task when --chunk is not given: enough that every slot gets a
# chunk (so a small campaign still uses every worker), at most MAX_CHUNK. A chunk is one set of
# numpy arrays, as wide as its cases: a wider one shares numpy's per-step overhead among more
# landings, but its memory grows with it, and Ctrl-C, progress and the sequential test act once a
# whole chunk is back.
MAX_CHUNK = 5000


def default_chunk(cases: int, slots: int) -> int:
    return max(1, min(MAX_CHUNK, math.ceil(cases / slots)))


class _Tasks:
    """What a task flies: one case on the scalar path (the case engine), or after batched(n) up
    to n cases at once on the batch engine."""

    where = ""
    batch = False
    chunk = 1
    task = staticmethod(fly_cases)

    def batched(self, chunk: int) -> None:
        from hil.batch import fly_chunk      # numpy's batch plant: imported only when used
        self.batch, self.chunk, self.task = True, chunk, fly_chunk

    @property
    def name(self) -> str:
        return self._named(self.where)

    def _named(self, text: str) -> str:
        return f"{text}, batch chunks of {self.chunk}" if self.batch else text


def _local_worker_start() -> None:
    """A pool process leaves Ctrl-C to the coordinator, and stops its devices when it exits."""
    from multiprocessing import util
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    util.Finalize(None, close_sessions, exitpriority=10)


class LocalPool(_Tasks):
    """K worker processes on this machine (spawned: a clean interpreter each, no inherited locks)."""

    where = "local"

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.slots = workers
        self._pool = self._new_pool()
        self._pool_of = weakref.WeakKeyDictionary()   # future -> the pool it was submitted to

    def _new_pool(self) -> cf.ProcessPoolExecutor:
        return cf.ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                      initializer=_local_worker_start)

    def submit(self, jobs: list[Job]):
        future = self._pool.submit(self.task, jobs)
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
        return self._named(f"local pool, {self.workers} worker process{'es' if self.workers != 1 else ''}")

    def close(self, cancel: bool = False) -> None:
        self._pool.shutdown(wait=not cancel, cancel_futures=cancel)
        if cancel:
            for child in multiprocessing.active_children():
                child.terminate()     # a landing in flight is flown again on --resume


class DaskCluster(_Tasks):
    """A dask.distributed scheduler's workers. `resource`: the worker resource each task needs
    ('' for none)."""

    where = "dask"

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

    def submit(self, jobs: list[Job]):
        return self.client.submit(self.task, jobs, key=f"case-{jobs[0].case}-{uuid.uuid4().hex}", pure=False,
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
        return self._named(f"Dask scheduler {self.address}, {len(self.eligible)} worker(s), {self.slots} slot(s){need}")

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
