"""Monte Carlo campaigns on a local pool: the case table, one result per case, read-back,
verdicts that pass a sound controller and fail a broken one, re-flying a case alone, resuming
after Ctrl-C or a dead worker, and one-line refusals of bad input before anything flies."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time

import pytest

from hil.campaign import fly_campaign, plan_campaign, resume_campaign
from hil.campaign.plan import cases
from hil.campaign.store import DB_FILE
from hil.cli import main
from tests.conftest import HIL, ROOT, write_rig
from tests.test_cli import assert_one_line_error

pytestmark = pytest.mark.timeout(120)

SHORT = "terminal-descent"     # a dispersed scenario that lands in a fraction of the nominal's time


def hil(*args, timeout=90):
    return subprocess.run([*HIL, *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT)


# -- the plan ----------------------------------------------------------------------------------

def test_case_table_is_generated_from_the_campaign_seed_alone():
    plan = plan_campaign("nominal", runs=5, seed=3, sweeps=["kp_vz=2:4:3"])
    table = cases(plan)
    assert len(table) == 15 and [c.index for c in table] == list(range(15))
    again = cases(plan_campaign("nominal", runs=5, seed=3, sweeps=["kp_vz=2:4:3"]))
    assert table == again                                   # same seed, same table
    other = cases(plan_campaign("nominal", runs=5, seed=4, sweeps=["kp_vz=2:4:3"]))
    assert [c.seed for c in other] != [c.seed for c in table]
    # every dispersed parameter and the swept register in every row
    dispersed = set(plan.scenario.dispersions)
    assert all(set(dict(c.inputs)) == dispersed | {"controller.kp_vz"} for c in table)
    # common random numbers: each sweep point flies the same draws, differing only in kp_vz
    by_point = [[c for c in table if c.point == p] for p in range(3)]
    for a, b in zip(by_point[0], by_point[1]):
        assert a.seed == b.seed and {k: v for k, v in a.inputs if k in dispersed} == \
            {k: v for k, v in b.inputs if k in dispersed}
    assert sorted({c.value("controller.kp_vz") for c in table}) == [2.0, 3.0, 4.0]
    # the dispersions are really drawn: the values spread
    assert len({c.value("initial.vz_mps") for c in by_point[0]}) == 5


def test_dry_run_writes_the_table_and_flies_nothing(tmp_path):
    proc = hil("campaign", "--scenario", "nominal", "--runs", "4", "--sweep", "kp_vz=2,3", "--out",
               str(tmp_path / "c"), "--dry-run")
    assert proc.returncode == 0, proc.stderr
    db = sqlite3.connect(tmp_path / "c" / DB_FILE)
    assert db.execute("SELECT COUNT(*) FROM cases").fetchone()[0] == 8
    assert db.execute("SELECT COUNT(*) FROM results").fetchone()[0] == 0
    header = (tmp_path / "c" / "cases.csv").read_text().splitlines()[0].split(",")
    assert "controller.kp_vz" in header and "initial.vz_mps" in header and "seed" in header
    assert "299 runs with no failure are needed" in proc.stdout


# -- flying --------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def flown(tmp_path_factory):
    """A small campaign of a sound controller on the in-process rig, two workers."""
    out = tmp_path_factory.mktemp("campaign") / "good"
    return fly_campaign(SHORT, runs=8, rig="mil", workers=2, seed=11, out=out, target=0.6, quiet=True)


def test_a_sound_controller_passes_with_one_result_per_case(flown):
    s = flown.summary
    assert s["verdict"] == "PASS", s["why"]
    assert s["passes"] == 8 and s["failures"] == 0 and s["completeness"]["ok"]
    assert s["completeness"]["cases"] == s["completeness"]["results"] == 8
    assert 0.6 < s["lower_bound"] < 0.8                   # 8 of 8 at 95 %: 0.05 ** (1 / 8) = 0.688
    assert s["readback"]["checked"] == 8 * len(s["dispersions"]) and s["readback"]["mismatch_count"] == 0
    assert {row["attempts"] for row in flown.cases} == {1}
    assert len({row["worker"] for row in flown.cases}) == 2   # both workers flew
    files = {p.name for p in flown.folder.iterdir()}
    assert {"campaign.json", "cases.csv", "report.html", DB_FILE} <= files
    assert not (flown.folder / "cases").exists()          # no run folder for a passed case
    saved = json.loads((flown.folder / "campaign.json").read_text())
    assert saved["verdict"] == "PASS" and saved["passes"] == 8


def test_a_case_flies_again_alone_and_gives_the_same_landing(flown, tmp_path):
    row = flown.cases[5]
    assert row["replay"] == f"hil land --campaign {flown.folder} --case 5"
    out = tmp_path / "again"
    assert main(["land", "--campaign", str(flown.folder), "--case", "5", "--out", str(out), "--quiet"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["seed"] == row["seed"]
    for name, value in row["metrics"].items():
        assert summary["metrics"][name] == value, name


def test_a_broken_controller_fails_and_its_failed_cases_keep_run_folders(tmp_path):
    result = fly_campaign(SHORT, runs=2, rig="mil", workers=2, out=tmp_path / "c", target=0.6,
                          controller={"td_enable": 0}, quiet=True)
    s = result.summary
    assert s["verdict"] == "FAIL" and s["failures"] == 2, s["why"]
    assert all("td_latency_s" in row["failed"] and row["attempts"] == 1 for row in result.cases)  # never retried
    for row in result.cases:
        folder = result.folder / "cases" / f"case-{row['case']:05d}"
        assert row["folder"] == str(folder) and (folder / "report.html").is_file()
        assert not (folder / "REPLAY-DIFFERS.txt").exists()
    assert [w["verdict"] for w in s["worst"]] == ["FAIL", "FAIL"]


def test_a_value_that_does_not_reach_the_plant_fails_the_campaign(tmp_path):
    # The rig pins the physics rate, so a sweep over the plant's substep rate never reaches it;
    # the swept gain does reach the device's config block.
    rig = write_rig(tmp_path, 'name = "pinned"\nkind = "mil"\nphysics_rate_hz = 500.0\n')
    result = fly_campaign(SHORT, runs=1, rig=rig, workers=2, out=tmp_path / "c", target=0.5,
                          sweeps=["plant.substep_hz=1000,1500", "kp_vz=2.5,3.5"], quiet=True)
    s = result.summary
    assert s["verdict"] == "ERROR"
    assert "plant.substep_hz" in s["why"] and "did not reach the plant" in s["why"]
    assert s["readback"]["mismatch_count"] == 4
    assert {m["input"] for m in s["readback"]["mismatches"]} == {"plant.substep_hz"}
    assert sorted(row["readback"]["controller.kp_vz"] for row in result.cases) == [2.5, 2.5, 3.5, 3.5]


def test_the_sequential_test_stops_the_campaign_once_it_has_decided(tmp_path):
    from hil.campaign.stats import Sprt
    needed = Sprt(0.5, 0.95).passes_needed()
    result = fly_campaign(SHORT, runs=needed + 6, rig="mil", workers=2, out=tmp_path / "c", target=0.5,
                          sprt=True, quiet=True)
    s = result.summary
    assert s["verdict"] == "PASS" and s["sprt"]["decision"] == "PASS", s["why"]
    assert s["sprt"]["n_used"] == needed and s["completeness"]["ok"] and s["completeness"]["needed"] == needed
    assert needed <= s["flown"] < needed + 6          # the cases after the decision were not all flown


# -- losing nothing --------------------------------------------------------------------------------

def test_ctrl_c_leaves_a_campaign_that_resume_finishes_without_flying_a_case_twice(tmp_path):
    out = tmp_path / "c"
    proc = subprocess.Popen([*HIL, "campaign", "--scenario", SHORT, "--runs", "8", "--workers", "2", "--out",
                             str(out), "--target", "0.5", "--quiet"], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    db_path = out / DB_FILE
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if db_path.exists() and _count(db_path) >= 3:
            break
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 128 + signal.SIGINT, err
    before = _finished(db_path)
    assert 3 <= len(before) < 8
    result = resume_campaign(out, workers=2, quiet=True)
    assert result.summary["verdict"] == "PASS" and result.summary["completeness"]["ok"]
    after = _finished(db_path)
    assert len(after) == 8 and all(after[c] == before[c] for c in before)   # not flown again
    assert result.summary["flown_now"] == 8 - len(before)


def test_a_killed_worker_process_loses_no_case(tmp_path):
    import multiprocessing
    killed = []

    def kill_one_when_started():
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not killed:
            db = tmp_path / "c" / DB_FILE
            children = multiprocessing.active_children()
            if db.exists() and _count(db) >= 2 and children:
                os.kill(children[0].pid, signal.SIGKILL)
                killed.append(children[0].pid)
            time.sleep(0.05)

    killer = threading.Thread(target=kill_one_when_started)
    killer.start()
    result = fly_campaign(SHORT, runs=6, rig="mil", workers=2, out=tmp_path / "c", target=0.5, quiet=True)
    killer.join()
    assert killed
    s = result.summary
    assert s["completeness"]["ok"] and s["completeness"]["results"] == 6, s["why"]
    assert s["verdict"] == "PASS"
    assert any("worker failed" in r["error"] for r in s["retries"])   # the lost cases were noted, then flown


def test_a_rig_error_is_retried_on_a_fresh_device(tmp_path):
    """The SIL firmware dies mid-flight the first time a worker starts it (the second start: the
    campaign starts the rig once itself before flying): the case is flown again on a fresh
    process and the attempt is recorded."""
    starts = tmp_path / "starts"
    wrapper = tmp_path / "sil-dies-once.sh"
    program = ROOT / "firmware" / "build" / "host" / "skycrane-sil"
    wrapper.write_text(f'#!/bin/sh\necho x >> "{starts}"\n'
                       f'if [ "$(wc -l < "{starts}")" -eq 2 ]; then exec timeout -s KILL 0.3 "{program}"; fi\n'
                       f'exec "{program}"\n')
    wrapper.chmod(0o755)
    rig = write_rig(tmp_path, f'name = "flaky-sil"\nkind = "sil"\nfirmware_dir = "{ROOT / "firmware"}"\n'
                              f'make = ["host"]\ncommand = ["{wrapper}"]\nimage = "{program}"\n')
    result = fly_campaign(SHORT, runs=1, rig=rig, workers=1, out=tmp_path / "c", target=0.01, quiet=True)
    row = result.cases[0]
    assert row["verdict"] == "PASS" and row["attempts"] == 2, row
    assert result.summary["retries"] and "-9" in result.summary["retries"][0]["error"]


# -- bad input: one line, exit 2, nothing flown ------------------------------------------------

@pytest.mark.parametrize("args, fragment", [
    (["--sweep", "kp_zz=1:2:3"], "'kp_zz' is no controller config register"),
    (["--sweep", "plant.engine.nothing=1:2:3"], "plant.engine.nothing is unknown"),
    (["--sweep", "kp_vz=6:2:5"], "the range is empty"),
    (["--sweep", "kp_vz=2:6:0"], "the range is empty"),
    (["--sweep", "kp_vz=-5:1:3"], "kp_vz"),
    (["--sweep", "plant.descent_stage.dry_mass_kg=-10,100"], "out of range"),
    (["--target", "1.5"], "target must be a probability strictly between 0 and 1"),
    (["--target", "0"], "target must be a probability"),
    (["--confidence", "1"], "confidence must be a probability"),
    (["--rig", "rigs/nope.toml"], "rigs/nope.toml"),
    (["--scheduler", "tcp://127.0.0.1:1"], "scheduler tcp://127.0.0.1:1: unreachable"),
])
def test_bad_input_is_one_line_and_flies_nothing(tmp_path, capsys, monkeypatch, args, fragment):
    monkeypatch.chdir(ROOT)
    out = tmp_path / "c"
    code = main(["campaign", "--runs", "3", "--out", str(out), *args])
    captured = capsys.readouterr()
    assert_one_line_error(subprocess.CompletedProcess([], code, captured.out, captured.err), fragment)
    assert not (out / DB_FILE).exists()


def test_a_rig_that_does_not_start_is_one_line_before_anything_is_written(tmp_path, capsys):
    rig = write_rig(tmp_path, 'name = "b"\nkind = "serial"\nport = "/dev/ttyNOPE0"\ntimeout_s = 0.2\n')
    code = main(["campaign", "--runs", "3", "--rig", str(rig), "--workers", "1", "--out", str(tmp_path / "c")])
    captured = capsys.readouterr()
    assert_one_line_error(subprocess.CompletedProcess([], code, captured.out, captured.err), "/dev/ttyNOPE0")
    assert not (tmp_path / "c").exists()


def test_a_dispersion_naming_no_parameter_is_refused(tmp_path):
    table = tmp_path / "d.toml"
    table.write_text('[dispersions]\n"plant.engine.no_such" = { dist = "normal", sigma = 1.0 }\n')
    proc = hil("campaign", "--runs", "3", "--out", str(tmp_path / "c"), "--dispersions", str(table))
    assert_one_line_error(proc, "plant.engine.no_such")
    table.write_text('[dispersions]\n"initial.vz_mps" = { dist = "uniform", low = -70.0, high = -90.0 }\n')
    proc = hil("campaign", "--runs", "3", "--out", str(tmp_path / "c"), "--dispersions", str(table))
    assert_one_line_error(proc, "must be >= low")
    assert not (tmp_path / "c").exists()


def _count(db_path) -> int:
    try:
        with sqlite3.connect(db_path, timeout=5) as db:
            return db.execute("SELECT COUNT(*) FROM results").fetchone()[0]
    except sqlite3.Error:
        return 0


def _finished(db_path) -> dict:
    with sqlite3.connect(db_path) as db:
        return dict(db.execute("SELECT id, finished || verdict || metrics FROM results"))


if sys.platform != "linux":  # pragma: no cover
    pytest.skip("campaign tests use Linux process control", allow_module_level=True)
