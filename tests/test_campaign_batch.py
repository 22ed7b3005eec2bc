"""`hil campaign --engine batch`: cases flown in chunks (hil.batch.fly_chunk) on the local pool.
The same campaign gives the same verdicts and metrics on either engine; every case has one
result; a chunk handed out is taken back whole when its worker is lost; a resumed campaign keeps
the engine it was planned with; and a case the batch engine cannot fly is one line before
anything is written."""

import json
import os
import shutil
import signal
import sqlite3
import subprocess
from concurrent import futures as cf
from concurrent.futures.process import BrokenProcessPool
from types import SimpleNamespace

import pytest

from hil.batch.flight import METRIC_TOLERANCE
from hil.campaign import fly_campaign, resume_campaign, stats
from hil.campaign.execute import Progress, RigBroken, execute
from hil.campaign.outcome import JSON_FILE, case_rows
from hil.campaign.store import DB_FILE, Store
from hil.campaign.worker import Job
from hil.cli import main
from hil.errors import ConfigError
from tests.conftest import ROOT
from tests.test_campaign import hil
from tests.test_cli import assert_one_line_error

pytestmark = pytest.mark.timeout(90)

RUNS, SEED, CHUNK = 4, 11, 2   # two chunks on two workers, both in flight at once
SHORT = str(ROOT / "tests/scenarios/short-descent.toml")   # a 44 s landing: a chunk's cost is per substep


def fly(out, engine, **kwargs):
    kwargs.setdefault("chunk", CHUNK if engine == "batch" else None)
    return fly_campaign(SHORT, runs=RUNS, rig="mil", workers=2, seed=SEED, out=out, target=0.4, quiet=True,
                        engine=engine, **kwargs)


@pytest.fixture(scope="module")
def flown(tmp_path_factory):
    """The same small campaign on both engines."""
    root = tmp_path_factory.mktemp("engines")
    return SimpleNamespace(batch=fly(root / "batch", "batch"), case=fly(root / "case", "case"))


def assert_same_landings(rows, expected):
    assert [r["case"] for r in rows] == [r["case"] for r in expected] == list(range(RUNS))
    for row, want in zip(rows, expected):
        assert (row["verdict"], row["failed"], row["readback"], row["seed"]) == \
            (want["verdict"], want["failed"], want["readback"], want["seed"]), row["case"]
        assert row["metrics"].keys() == want["metrics"].keys()
        for name, value in row["metrics"].items():
            if isinstance(value, float) and isinstance(want["metrics"][name], float):
                assert value == pytest.approx(want["metrics"][name], abs=METRIC_TOLERANCE, nan_ok=True), name
            else:
                assert value == want["metrics"][name], name


def assert_refused(capsys, argv, fragment):
    """`hil` with these arguments: one error line holding the fragment, exit 2."""
    code = main(argv)
    captured = capsys.readouterr()
    assert_one_line_error(subprocess.CompletedProcess([], code, captured.out, captured.err), fragment)


def one_result_per_case(folder) -> bool:
    with sqlite3.connect(folder / DB_FILE) as db:
        return db.execute("SELECT COUNT(*), COUNT(DISTINCT id) FROM results").fetchone() == (RUNS, RUNS)


# -- the engine flies what the case engine flies ----------------------------------------------

def test_a_batch_campaign_gives_the_case_engines_verdicts_and_metrics(flown):
    s = flown.batch.summary
    assert s["verdict"] == flown.case.summary["verdict"] == "PASS", s["why"]
    assert s["completeness"]["ok"] and s["completeness"]["results"] == RUNS and one_result_per_case(flown.batch.folder)
    assert s["readback"]["mismatch_count"] == 0 and s["readback"]["checked"] == RUNS * len(s["dispersions"])
    assert s["engine"] == f"local, batch chunks of {CHUNK}" and s["workers"] == 2
    assert flown.case.summary["engine"] == "local"
    # a chunk flies in one worker: cases 0-1 and 2-3 each came back together
    workers = [row["worker"] for row in flown.batch.cases]
    assert all(workers[i] == workers[i + 1] for i in range(0, RUNS, CHUNK)), workers
    assert_same_landings(flown.batch.cases, flown.case.cases)


def test_hil_campaign_resume_flies_only_the_missing_cases_on_the_campaigns_engine(flown, tmp_path):
    folder = shutil.copytree(flown.batch.folder, tmp_path / "batch")
    with sqlite3.connect(folder / DB_FILE) as db:       # as Ctrl-C leaves it: two cases without a result
        db.execute("DELETE FROM results WHERE id IN (0, 3)")
        kept = dict(db.execute("SELECT id, finished FROM results"))
    with pytest.raises(ConfigError, match="planned for --engine batch"):
        resume_campaign(folder, workers=2, engine="case", quiet=True)
    proc = hil("campaign", "--resume", str(folder), "--workers", "2")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"local pool, 2 worker processes, batch chunks of {CHUNK}" in proc.stdout      # its stored chunk
    assert "CAMPAIGN PASS" in proc.stdout
    s = json.loads((folder / JSON_FILE).read_text())
    assert s["engine"] == f"local, batch chunks of {CHUNK}" and s["flown_now"] == 2
    assert s["completeness"]["ok"] and one_result_per_case(folder)
    with sqlite3.connect(folder / DB_FILE) as db:
        assert {i: f for i, f in db.execute("SELECT id, finished FROM results") if i in kept} == kept  # not flown again
    store = Store(folder)
    assert_same_landings(case_rows(store, folder), flown.case.cases)
    store.close()


def test_a_campaign_from_before_the_engine_option_resumes_on_the_case_engine(flown, tmp_path):
    folder = shutil.copytree(flown.case.folder, tmp_path / "old")
    with sqlite3.connect(folder / DB_FILE) as db:
        db.execute("DELETE FROM meta WHERE key IN ('engine', 'chunk')")
        db.execute("DELETE FROM results WHERE id = 3")
    s = resume_campaign(folder, workers=2, quiet=True).summary
    assert s["engine"] == "local" and s["flown_now"] == 1 and s["completeness"]["ok"]


# -- losing nothing ------------------------------------------------------------------------------

class DiesOnce:
    """A job whose worker process dies (SIGKILL) as it unpacks it, the first time only."""

    def __init__(self, job: Job, marker) -> None:
        self.job, self.marker = job, str(marker)

    def __reduce__(self):
        return _die_once_then, (self.job, self.marker)


def _die_once_then(job: Job, marker: str) -> Job:
    if not os.path.exists(marker):
        open(marker, "w").close()
        os.kill(os.getpid(), signal.SIGKILL)
    return job


def test_a_chunk_whose_worker_dies_is_flown_again_and_no_case_is_lost_or_doubled(flown, tmp_path, monkeypatch):
    marker = tmp_path / "died"

    def job(case, *rest):
        return DiesOnce(Job(case, *rest), marker) if case == 2 else Job(case, *rest)

    monkeypatch.setattr("hil.campaign.Job", job)
    result = fly(tmp_path / "c", "batch")
    assert marker.exists()
    s = result.summary
    assert s["completeness"]["ok"] and one_result_per_case(result.folder), s["why"]
    lost = {r["case"] for r in s["retries"] if r["error"].startswith("worker failed: BrokenProcessPool")}
    assert {2, 3} <= lost          # the whole chunk went back (and whatever else was in flight on that pool)
    assert s["verdict"] == "PASS"
    assert_same_landings(result.cases, flown.case.cases)


class FakeEngine:
    """An engine in this process that records the chunks it is given. A task holding a case of
    `lose` loses its worker the first `times` times that chunk is handed out; the others come
    back with `verdict`."""

    slots, chunk = 2, 3

    def __init__(self, lose=(), times=0, verdict="PASS") -> None:
        self.lose, self.times, self.verdict = set(lose), times, verdict
        self.submitted = []

    def submit(self, jobs):
        cases = [job.case for job in jobs]
        self.submitted.append(cases)
        future = cf.Future()
        if self.lose & set(cases) and self.submitted.count(cases) <= self.times:
            future.set_exception(BrokenProcessPool("a worker process died"))
        else:
            error = None if self.verdict == "PASS" else "the rig spoiled it"
            future.set_result([{"verdict": self.verdict, "metrics": {}, "failed": [], "error": error, "readback": {},
                                "attempts": 1, "worker": "w", "wall_s": 0.0, "folder": None} for _ in cases])
        return future

    def wait(self, pending, timeout):
        return [f for f in pending if f.done()]

    def lost(self, future, exc):
        return False

    def close(self, cancel=False):
        pass


def run_fake(tmp_path, engine, count, **kwargs):
    store = Store(tmp_path)
    table = [SimpleNamespace(index=i, point=0, draw=i, seed=i, inputs=()) for i in range(count)]
    store.write_plan({"campaign": {}}, table)
    jobs = {i: SimpleNamespace(case=i) for i in range(count)}
    decision = execute(store, jobs, engine, max_attempts=2, progress=Progress(count, 0, quiet=True), **kwargs)
    return store, decision


def test_the_coordinator_hands_out_chunks_in_case_order_and_takes_a_lost_one_back_whole(tmp_path):
    engine = FakeEngine(lose={4}, times=1)
    store, _ = run_fake(tmp_path, engine, 7)
    assert engine.submitted == [[0, 1, 2], [3, 4, 5], [6], [3, 4, 5]]
    assert sorted(store.results()) == list(range(7))
    assert [(r["case"], r["attempt"]) for r in store.attempts()] == [(3, 1), (4, 1), (5, 1)]


def test_a_chunk_lost_on_every_attempt_is_an_error_result_per_case(tmp_path):
    engine = FakeEngine(lose={4}, times=2)
    store, _ = run_fake(tmp_path, engine, 7)
    results = store.results()
    assert sorted(results) == list(range(7))
    assert {c for c, r in results.items() if r["verdict"] == "ERROR"} == {3, 4, 5}
    assert all(results[c]["attempts"] == 2 and "worker failed" in results[c]["error"] for c in (3, 4, 5))


def test_a_broken_rig_stops_the_campaign_once_the_chunk_that_showed_it_is_stored(tmp_path):
    engine = FakeEngine(verdict="ERROR")
    with pytest.raises(RigBroken, match="6 cases in a row could not be flown"):
        run_fake(tmp_path, engine, 9)
    assert sorted(Store(tmp_path).results()) == [0, 1, 2, 3, 4, 5]     # the second chunk's three too


def test_the_sequential_test_decides_between_chunks(tmp_path):
    needed = stats.Sprt(0.5, 0.95).passes_needed()
    engine = FakeEngine()
    engine.slots = 1
    store, decision = run_fake(tmp_path, engine, needed + 20, sprt=stats.Sprt(0.5, 0.95))
    assert decision == ("PASS", needed)
    assert len(store.results()) < needed + 20 and all(len(c) == 3 for c in engine.submitted)


# -- the command line ------------------------------------------------------------------------------

def test_a_dry_run_plans_a_batch_campaign_and_stores_its_engine(tmp_path):
    out = tmp_path / "c"
    proc = hil("campaign", "--scenario", SHORT, "--runs", "2", "--engine", "batch", "--workers", "2",
               "--out", str(out), "--dry-run")
    assert proc.returncode == 0, proc.stderr
    assert "local pool, 2 worker processes, batch chunks of 1" in proc.stdout     # default: 2 cases over 2 workers
    with sqlite3.connect(out / DB_FILE) as db:
        assert dict(db.execute("SELECT key, value FROM meta WHERE key IN ('engine', 'chunk')")) == \
            {"engine": '"batch"', "chunk": "null"}
        assert db.execute("SELECT COUNT(*) FROM results").fetchone()[0] == 0


@pytest.mark.parametrize("args, fragment", [
    (["--engine", "batch", "--rig", "loopback"], "--engine batch flies the in-process MIL rig only"),
    (["--engine", "batch", "--scenario", "fault-engine-out"], "fault"),
    (["--chunk", "5"], "--chunk is the batch engine's"),
])
def test_what_the_batch_engine_cannot_fly_is_one_line_before_anything_is_written(tmp_path, capsys, monkeypatch,
                                                                                args, fragment):
    monkeypatch.chdir(ROOT)
    out = tmp_path / "c"
    assert_refused(capsys, ["campaign", "--runs", "3", "--out", str(out), *args], fragment)
    assert not out.exists()


def test_bad_engine_options_are_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        main(["campaign", "--runs", "3", "--out", str(tmp_path / "c"), "--engine", "batch", "--chunk", "0"])
    assert stop.value.code == 2
    assert "argument --chunk: '0' is not a whole number above 0" in capsys.readouterr().err.strip().splitlines()[-1]
    # An unknown engine is checked against hil.campaign.ENGINES, the one list of them
    assert_refused(capsys, ["campaign", "--runs", "3", "--out", str(tmp_path / "c"), "--engine", "warp"],
                   "engine must be one of case, batch, got 'warp'")
    assert not (tmp_path / "c").exists()


def test_resuming_on_another_engine_is_one_line(flown, capsys):
    assert_refused(capsys, ["campaign", "--resume", str(flown.case.folder), "--engine", "batch"],
                   "planned for --engine case")
