"""`hil compare`: the same scenario and seed against two controllers (here both loopback)."""

import json
import subprocess

import pytest

from tests.conftest import HIL, ROOT, write_rig

pytestmark = pytest.mark.timeout(120)


def compare(tmp_path, *rigs):
    args = [arg for rig in rigs for arg in ("--rig", str(rig))]
    return subprocess.run([*HIL, "compare", *args, "--out", str(tmp_path / "cmp")], cwd=ROOT,
                          capture_output=True, text=True, timeout=110)


def test_identical_controllers_compare_the_same(tmp_path):
    proc = compare(tmp_path, "loopback", ROOT / "rigs/loopback.toml")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads((tmp_path / "cmp/compare.json").read_text())
    assert report["same"] and report["cycles_with_different_state"] == 0
    assert all(row["offset"] == 0 for row in report["transitions"])
    assert (tmp_path / "cmp/compare.png").exists()


def test_a_detuned_controller_compares_different(tmp_path):
    detuned = write_rig(tmp_path, 'name = "detuned"\nkind = "loopback"\n[controller]\ntd_persist_s = 1.5\n')
    proc = compare(tmp_path, "loopback", detuned)
    assert proc.returncode == 1 and "DIFFERENT" in proc.stdout
    report = json.loads((tmp_path / "cmp/compare.json").read_text())
    assert not report["checks"]["transitions"]  # touchdown declared 25 cycles later


def test_compare_needs_two_rigs(tmp_path):
    proc = compare(tmp_path, "loopback")
    assert proc.returncode == 2 and "exactly two" in proc.stderr
