"""Campaigns on a real Dask cluster on 127.0.0.1: a scheduler and two worker processes started
with the `dask` command, one advertising a SIL resource. A worker killed mid-campaign loses no
case; cases that need the resource go only to the worker that has it; a worker that cannot read
the rig file stops the campaign before any case flies."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from hil.campaign import fly_campaign
from hil.campaign.store import DB_FILE
from tests.conftest import HIL, ROOT
from tests.test_campaign import _count

pytestmark = pytest.mark.timeout(240)

DASK = [str(Path(sys.executable).with_name("dask"))]
SHORT = "terminal-descent"


class Cluster:
    """`dask scheduler` and `dask worker` processes; workers run in their own folder (not the
    repository), as workers on other hosts would."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.file = tmp / "scheduler.json"
        self.procs = []
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.env = env
        self.scheduler = self._start([*DASK, "scheduler", "--scheduler-file", str(self.file), "--port", "0",
                                      "--no-dashboard", "--host", "127.0.0.1"])
        deadline = time.monotonic() + 60
        while not self.file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        self.address = json.loads(self.file.read_text())["address"]

    def _start(self, argv, cwd=None):
        proc = subprocess.Popen(argv, cwd=cwd or self.tmp, env=self.env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
        self.procs.append(proc)
        return proc

    def worker(self, name: str, resources: str = "") -> subprocess.Popen:
        folder = self.tmp / name
        folder.mkdir()
        argv = [*DASK, "worker", "--scheduler-file", str(self.file), "--nthreads", "1", "--no-nanny",
                "--no-dashboard", "--name", name, "--host", "127.0.0.1", "--local-directory", str(folder)]
        if resources:
            argv += ["--resources", resources]
        return self._start(argv, cwd=folder)

    def wait_for_workers(self, count: int) -> dict:
        from distributed import Client
        with Client(self.address, timeout="20s") as client:
            client.wait_for_workers(count, timeout=60)
            return {w["name"]: addr for addr, w in client.scheduler_info()["workers"].items()}

    def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = Cluster(tmp_path_factory.mktemp("dask"))
    try:
        c.plain = c.worker("plain")
        c.sil = c.worker("sil-host", resources="sil=1")
        c.names = c.wait_for_workers(2)
        yield c
    finally:
        c.stop()


def test_sil_cases_go_only_to_the_worker_with_the_resource(cluster, tmp_path):
    rig = ROOT / "rigs" / "sil.toml"          # absolute: every worker reads the same file
    result = fly_campaign(SHORT, runs=3, rig=rig, scheduler=cluster.address, resource="sil", out=tmp_path / "c",
                          target=0.3, quiet=True)
    s = result.summary
    assert s["verdict"] == "PASS", s["why"]
    assert s["engine"] == "dask" and s["completeness"]["ok"]
    assert {row["worker"] for row in result.cases} == {cluster.names["sil-host"]}
    assert s["readback"]["mismatch_count"] == 0


def test_a_worker_killed_mid_campaign_loses_no_case(cluster, tmp_path):
    out = tmp_path / "c"
    killed = []

    def kill_plain_worker():
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if (out / DB_FILE).exists() and _count(out / DB_FILE) >= 4:
                os.killpg(cluster.plain.pid, signal.SIGKILL)
                killed.append(time.monotonic())
                return
            time.sleep(0.05)

    killer = threading.Thread(target=kill_plain_worker)
    killer.start()
    result = fly_campaign(SHORT, runs=14, rig="mil", scheduler=cluster.address, out=out, target=0.5, quiet=True)
    killer.join()
    assert killed, "the campaign ended before a worker could be killed"
    s = result.summary
    assert s["completeness"]["ok"] and s["completeness"]["results"] == 14, s["why"]
    assert s["verdict"] == "PASS", s["why"]
    with sqlite3.connect(out / DB_FILE) as db:       # exactly one result per case id
        assert db.execute("SELECT COUNT(*), COUNT(DISTINCT id) FROM results").fetchone() == (14, 14)
    workers = {row["worker"] for row in result.cases}
    assert cluster.names["sil-host"] in workers


def test_a_worker_without_the_rig_file_stops_the_campaign_before_any_case_flies(cluster, tmp_path):
    # "rigs/sil.toml" is found from the repository (where the coordinator runs) but not from the
    # workers' folders: the campaign must say which worker cannot read it, and fly nothing.
    out = tmp_path / "c"
    proc = subprocess.run([*HIL, "campaign", "--scenario", SHORT, "--runs", "2", "--rig", "rigs/sil.toml",
                           "--scheduler", cluster.address, "--out", str(out)], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("hil: error:")]
    assert len(errors) == 1 and "worker tcp://127.0.0.1" in errors[0] and "sil.toml" in errors[0], proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (out / DB_FILE).exists()

