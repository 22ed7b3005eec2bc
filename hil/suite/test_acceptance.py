"""The acceptance suite: every shipped scenario over a few seeds, and proof the harness can fail here.

`hil test --rig R` runs it against any rig (`--hil-seeds N` seeds per scenario, `--hil-scenario`
to pick scenarios). Each scenario lands as the catalogue expects (`expect` in its file). The
must-fail checks write a broken controller through the config registers of this very rig and
require the verdict to FAIL on the criterion the breakage violates, so a PASS from this rig
means something. On a real-time rig the landings are also judged on the timing criteria.

Each test names the requirements (docs/requirements.toml) it verifies: a landing names those of
the criteria it is judged on and its scenario's `requirements`.
"""

import math
from dataclasses import replace

import numpy as np
import pytest

from hil.devices import device_for
from hil.errors import ConfigError
from hil.fault_injection import check_rig_can_apply
from hil.metrics import TIMING_NAMES
from hil.pytest_plugin import rig_for, scenarios_for, seeds_for
from hil.run import criteria_for
from hil.verdict import Criterion, judge
from plant.scenario import load_scenario

# The requirement a default criterion verifies when a landing is judged on it and passes.
CRITERION_REQUIREMENTS = {
    "rover_vz_at_contact_mps": "CTRL-TD-001",
    "rover_vh_at_contact_mps": "CTRL-TD-002",
    "td_latency_s": "CTRL-TD-003",
    "cut_before_contact": "CTRL-TD-004",
    "min_clearance_m": "CTRL-DS-001",
    "flyaway_distance_m": "CTRL-FLY-001",
    "command_age_p99_ms": "CTRL-RT-001",
    "device_step_p99_ms": "CTRL-RT-001",
    "link_lost_after_s": "CTRL-LINK-001",
    "link_lost_left": "CTRL-LINK-001",
}


def landing_requirements(scenario, timing: str) -> list[str]:
    """What a landing that meets its scenario's expectation verifies: the requirements of the
    criteria it is judged on (none when a FAIL is expected; timing ones in real time only), then
    the scenario's own."""
    judged = [] if scenario.expected_verdict == "FAIL" else criteria_for(scenario)
    ids = [CRITERION_REQUIREMENTS[c.metric] for c in judged if c.metric in CRITERION_REQUIREMENTS
           and (timing == "realtime" or c.metric not in TIMING_NAMES)]
    return list(dict.fromkeys(ids + list(scenario.requirements)))


def pytest_generate_tests(metafunc):
    if "scenario_seed" in metafunc.fixturenames:
        cases = []
        rig = rig_for(metafunc.config)
        for name in scenarios_for(metafunc.config):
            scenario = load_scenario(name)
            ids = landing_requirements(scenario, scenario.timing or rig.timing)
            marks = [pytest.mark.requirement(*ids)] if ids else []
            cases += [pytest.param((name, seed), id=f"{scenario.name}-seed{seed}", marks=marks)
                      for seed in seeds_for(metafunc.config, scenario.seed)]
        metafunc.parametrize("scenario_seed", cases)


def test_scenario_lands_as_the_catalogue_expects(land, hil_rig, scenario_seed):
    name, seed = scenario_seed
    scenario = load_scenario(name)
    try:
        rig = replace(hil_rig, timing=scenario.timing) if scenario.timing else hil_rig
        check_rig_can_apply(scenario.faults, rig, device_for(rig))
    except ConfigError as exc:
        pytest.skip(str(exc))          # a link or device fault this rig has no way to apply
    land(name, seed=seed, expect=scenario.expected_verdict)


# The controller's states in the order docs/controller.md gives them (CTRL-SM-001), and the
# rate it lowers the rover at from CONSTANT_VELOCITY to the cut.
STATE_ORDER = ["STANDBY", "POWERED_DESCENT", "CONSTANT_VELOCITY", "SKY_CRANE", "TOUCHDOWN_ARMED", "TOUCHDOWN",
               "FLYAWAY", "ENGINES_OFF"]
LOWERING_STATES = ["SKY_CRANE", "TOUCHDOWN_ARMED"]
LOWERING_MPS = 0.75
# The descent stage swings on the bridles while it lowers the rover (0.3-1.1 m/s on nominal):
# its mean over the lowering is what the controller holds.
LOWERING_TOLERANCE_MPS = 0.1


def visited_states(record) -> list[str]:
    """The controller's states in the order it entered them (from the landing's record)."""
    states = list(record["state_name"])
    return [state for i, state in enumerate(states) if i == 0 or state != states[i - 1]]


def check_state_machine(record) -> None:
    """CTRL-SM-001 on one landing's record: every state in order, and the lowering at 0.75 m/s."""
    visited = visited_states(record)
    assert visited == STATE_ORDER, f"the controller went through {' -> '.join(visited)}"
    lowering = np.isin(record["state_name"], LOWERING_STATES)
    mean = -float(np.mean(record["truth_ds_vz"][lowering]))
    assert abs(mean - LOWERING_MPS) <= LOWERING_TOLERANCE_MPS, (
        f"the descent stage lowered the rover at {mean:.3f} m/s on average, "
        f"not {LOWERING_MPS} +/- {LOWERING_TOLERANCE_MPS}")


@pytest.mark.requirement("CTRL-SM-001")
def test_the_controller_goes_through_its_states_in_order_and_lowers_at_0_75_mps(land):
    result = land("nominal")
    check_state_machine(result.record)


# A broken controller, written through the config registers, and the criteria it must fail.
BROKEN = {
    "no-touchdown-detection": ({"td_enable": 0}, {"td_latency_s"}),
    "hard-landing": ({"v_cv_mps": 3.0}, {"rover_vz_at_contact_mps"}),
    "cut-before-contact": ({"td_arm_delay_s": 0.0, "td_drop_frac": 0.0, "td_persist_s": 0.0, "cut_delay_s": 0.0},
                           {"cut_before_contact"}),
}
# Where a breakage must leave the controller, and the requirement that says so: with touchdown
# detection off it stays in SKY_CRANE and never cuts (CTRL-SM-002).
LAST_STATE = {"no-touchdown-detection": ("SKY_CRANE", "CTRL-SM-002")}


@pytest.mark.requirement("TB-VERDICT-003", "CTRL-CFG-003")
@pytest.mark.parametrize("breakage", [pytest.param(name, marks=[pytest.mark.requirement(LAST_STATE[name][1])]
                                                   if name in LAST_STATE else []) for name in sorted(BROKEN)])
def test_the_harness_fails_a_broken_controller_on_this_rig(land, breakage):
    config, must_fail = BROKEN[breakage]
    result = land("nominal", controller=config, expect="FAIL")
    failed = {row["metric"] for row in result.failed_criteria()}
    assert must_fail <= failed, f"{breakage}: expected {sorted(must_fail)} among the failed criteria, got {sorted(failed)}"
    if breakage in LAST_STATE:
        last, _ = LAST_STATE[breakage]
        visited = visited_states(result.record)
        assert visited[-1] == last, f"{breakage}: the controller went through {' -> '.join(visited)}"
        assert math.isnan(result.metrics["cut_time_s"]), f"{breakage}: the bridles were cut"


@pytest.mark.requirement("CTRL-RT-001", "TB-VERDICT-005")
@pytest.mark.needs("realtime")
def test_real_time_landing_is_judged_on_timing(land):
    result = land("terminal-descent", expect=None)
    timing_rows = [row for row in result.checks if row["metric"] in ("lateness_p99_ms", "command_age_p99_ms")]
    assert timing_rows and all(row["applies"] for row in timing_rows), "a real-time run must apply the timing criteria"
    assert result.verdict == "PASS", "\n".join(result.failure_lines())
    # The same measured figures against limits no rig can meet must fail: the timing check has teeth.
    impossible = [Criterion("command_age_p99_ms", maximum=0.001), Criterion("lateness_p99_ms", maximum=0.0)]
    passed, _ = judge(result.metrics, impossible)
    assert not passed
