"""A plausible wrong touchdown detector built into the C core is caught by the shipped fault
catalogue: `make host-td-fixed-level` compiles the detector with -DCTL_TD_FIXED_LEVEL, which
compares the throttle with a fixed level (throttle_init * (1 - td_drop_frac)) instead of its
filtered baseline. Flown on the SIL in lockstep, one process per build for every landing.

Which catalogue scenarios catch it: fault-thrust-kick-armed (the surge holds the throttle under
the fixed line for more than td_persist_s once the overshoot after it is counted: the bridles
are cut in the air) and fault-engines-strong (engines 30 % strong: the hover throttle itself sits
under the fixed line, so touchdown is declared in the air). Weak engines do not: with engines at
85 % or one of eight out the throttle still starts above the fixed line (0.245) before touchdown
and falls below it after, so the fixed level happens to sit between the two (fault-engines-weak
is flown as well: it passes the variant).
"""

import shutil

import pytest

from hil.api import NO_FILES, Run, Session, load_rig
from tests.conftest import ROOT, write_rig

pytestmark = [pytest.mark.timeout(240),
              pytest.mark.skipif(shutil.which("make") is None or shutil.which("gcc") is None,
                                 reason="needs make and gcc (the SIL firmware)")]

SIL_RIG = ROOT / "rigs/sil.toml"
CATCHES = ("fault-thrust-kick-armed", "fault-engines-strong")
SCENARIOS = (*CATCHES, "fault-engines-weak")


def variant_rig(tmp_path):
    """rigs/sil.toml with the variant's make target and program."""
    replaced = {"name": '"sil-td-fixed-level"', "make": '["host-td-fixed-level"]',
                "command": '["{firmware}/build/host-td-fixed-level/skycrane-sil"]'}
    lines = []
    for line in SIL_RIG.read_text().splitlines():
        key = line.split("=")[0].strip()
        lines.append(f"{key} = {replaced[key]}" if key in replaced else line)
    text = "\n".join(lines).replace('"../firmware"', f'"{ROOT / "firmware"}"')
    return write_rig(tmp_path, text + "\n", "sil-td-fixed-level.toml")


def fly_all(rig) -> dict:
    """Scenario -> (verdict, failed criteria), every landing on one device process."""
    out = {}
    with Session(load_rig(rig)) as session:
        for name in SCENARIOS:
            result = session.fly(Run.create(name, outputs=NO_FILES))
            assert result.error is None, (name, result.error)
            out[name] = (result.verdict, {r["metric"] for r in result.failed_criteria()})
        assert session.device.failure() is None          # no sanitizer report, no crash
    return out


def test_the_fault_catalogue_catches_a_fixed_level_touchdown_detector(tmp_path):
    correct, wrong = fly_all(SIL_RIG), fly_all(variant_rig(tmp_path))
    caught = {name for name in SCENARIOS if correct[name][0] == "PASS" and wrong[name][0] == "FAIL"}
    assert set(CATCHES) <= caught, (correct, wrong)
    for name in CATCHES:
        assert "cut_before_contact" in wrong[name][1]                  # the bridles cut in the air
