"""Back to back in CI: the Python reference against the C core (SIL, lockstep), every shipped
scenario and a few random valid controller configurations on dispersed landings.

The reference side is the in-process rig (`mil`): the same telemetry as the pty loopback
(tests/test_inprocess.py) at a fraction of the cost. The comparison is benchmarks/back_to_back.py's
(the same script flies hundreds of landings; its docstring gives the judgement and why), with the
tolerances of tests/test_sil.py's docstring. The shipped scenarios' flights are judged as `hil
compare` judges them (transitions, commands where the states agree, rover touchdown velocity) plus
the touchdown frame, and held to what docs/firmware.md states (the same state at every cycle). The
random configurations are judged on a replay of the reference's sensor frames into the SIL
(identical inputs) up to the first clamp tie: in closed loop some configurations amplify float32
rounding until the flights part ways. One session per side: the SIL process starts once.
"""

import importlib.util
import json
import shutil
import sys

import numpy as np
import pytest

from hil.api import Session
from hil.record import COLUMNS, Record
from hil.rig import load_rig
from hil.fault_injection import needs_a_wire
from hil.run import NO_FILES, Run, RunResult
from plant.scenario import list_scenarios, load_scenario
from tests.conftest import ROOT

pytestmark = [pytest.mark.timeout(240),
              pytest.mark.skipif(shutil.which("make") is None or shutil.which("gcc") is None,
                                 reason="needs make and gcc")]


def _script():
    spec = importlib.util.spec_from_file_location("back_to_back", ROOT / "benchmarks/back_to_back.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("back_to_back", module)
    spec.loader.exec_module(module)
    return module


b2b = _script()
SCENARIOS = [name for name, _ in list_scenarios()]
LOCKSTEP_SCENARIOS = [name for name in SCENARIOS if load_scenario(name).timing != "realtime"]
REALTIME_SCENARIOS = [name for name in SCENARIOS if load_scenario(name).timing == "realtime"]


@pytest.fixture(scope="module")
def sessions():
    with Session("mil") as ref, Session("loopback") as wired_ref, Session(load_rig(b2b.SIL_RIG)) as sil:
        yield ref, wired_ref, sil
        failure = sil.device.failure() if sil.device else None
        starts = sil.starts
    assert failure is None       # no sanitizer report, no crash
    # one SIL process for every landing of the file, and one more after the first run with link or
    # device faults (they put the device behind the link proxy)
    assert starts <= 2


@pytest.fixture(scope="module")
def flown(sessions):
    """Scenario name -> (landing, reference flight, SIL flight), seed 1, the default configuration.
    The reference flies in process, or on the pty loopback when the scenario has link or device
    faults (they need a wire)."""
    ref, wired_ref, sil = sessions
    cache = {}

    def get(name):
        if name not in cache:
            landing = b2b.scenario_landings([name], 1)[0]
            reference = wired_ref if needs_a_wire(landing.scenario) else ref
            cache[name] = (landing, b2b.fly(reference, landing), b2b.fly(sil, landing))
        return cache[name]
    return get


def test_every_shipped_scenario_is_here():
    assert len(SCENARIOS) >= 8 and {"nominal", "terminal-descent", "radar-dust"} <= set(SCENARIOS)


@pytest.mark.parametrize("name", LOCKSTEP_SCENARIOS)
def test_shipped_scenario_flies_back_to_back(flown, name):
    _, a, b = flown(name)
    row = b2b.judge(a, b)       # no replay: the flights' commands are judged
    assert a.error is None and b.error is None
    flight = row["flight"]
    assert row["within"] and row["checks"]["commands"], b2b.format_row(row)
    # What docs/firmware.md ("Verification") states: the same state at every cycle, touchdown
    # declared on the same frame, the commands within tests/test_sil.py's tolerance at every cycle.
    # A scenario documented to fail (a fault that stops the touchdown detector arming) declares none.
    expected = load_scenario(name).expected_verdict
    declared = flight["td_frame_a"] is not None or expected == "FAIL"
    assert flight["state_cycles"] == 0 and flight["td_frame_diff"] == 0 and declared, b2b.format_row(row)
    assert flight["throttle"] <= 0.01 and flight["tilt"] <= 0.01, b2b.format_row(row)
    assert a.verdict == b.verdict == expected
    assert b.identity["device_kind_name"] == "SIL" and a.identity["device_kind_name"] == "REFERENCE"


@pytest.mark.realtime
@pytest.mark.parametrize("name", REALTIME_SCENARIOS)
def test_a_real_time_fault_scenario_meets_its_expectation_on_the_sil(sessions, name):
    """A scenario that tests the device's watchdog runs in real time, where two flights are not
    cycle for cycle equal: the SIL (and the loopback, tests/test_flown_numbers.py) must each meet
    its expectation. A machine that stalled the run makes it INCONCLUSIVE: skipped, not failed."""
    *_, sil = sessions
    scenario = load_scenario(name)
    result = sil.fly(Run.create(scenario, outputs=NO_FILES))
    if result.verdict == "INCONCLUSIVE":
        pytest.skip(f"the machine made the run an invalid test: {result.invalid}")
    assert result.error is None and result.verdict == scenario.expected_verdict, result.failed_criteria()


def test_random_configurations_fly_dispersed_landings_back_to_back(tmp_path, capsys):
    """The script end to end: three random valid configurations (generator seed 3), each on a
    dispersed terminal-descent (the shortest scenario) at a random control rate, flown and replayed."""
    out = tmp_path / "b2b.json"
    status = b2b.main(["--scenarios", "none", "--configs", "3", "--seed", "3",
                       "--config-scenarios", "terminal-descent", "--out", str(out)])
    printed = capsys.readouterr().out
    assert status == 0, printed
    report = json.loads(out.read_text())
    assert report["summary"]["landings"] == 3 and report["summary"]["beyond_tolerance"] == 0, printed
    rows = report["landings"]
    assert all(row["within"] and "replay" in row and row["kind"] == "random" for row in rows), printed
    configs = [row["controller"] for row in rows]
    assert len({json.dumps(c, sort_keys=True) for c in configs}) == 3        # three different configs
    assert len({row["control_rate_hz"] for row in rows}) > 1                  # not all at 50 Hz
    assert rows[-1]["sil_starts"] == 1


def test_random_configurations_are_valid_and_vary_every_field():
    from hil import icd
    configs = [b2b.random_config(np.random.default_rng(seed)) for seed in range(50)]
    for config in configs:
        assert set(config) == set(icd.CONFIG.names) - {"timing_mode", "control_rate_hz"}
        for name, value in config.items():
            assert icd.check_config_value(name, value) == value
            f = icd.CONFIG.field_named(name)
            assert f.minimum <= np.float32(value) <= f.maximum       # as the Python device checks
    varied = {name for name in configs[0] if len({c[name] for c in configs}) > 1}
    assert varied == set(configs[0]) - {"td_enable"}     # the +-50 % band keeps td_enable at 1
    full = [b2b.random_config(np.random.default_rng(seed), band=float("inf")) for seed in range(50)]
    assert {c["td_enable"] for c in full} == {0, 1}


@pytest.mark.parametrize("changed, failing", [
    ({"td_persist_s": 1.1}, {"transitions", "touchdown_frame"}),   # touchdown declared 5 cycles later
    ({"kp_vz": 3.0}, {"replay_commands"}),                          # a different gain: other commands
    ({"throttle_min": 0.12}, {"replay_commands"}),                  # another clamp: not taken for a tie
])
def test_one_config_value_changed_on_the_sil_side_is_reported(flown, sessions, changed, failing):
    """The comparison is not vacuous: the SIL flown (and replayed) with one config value changed
    against the reference with the defaults is beyond tolerance, for the right reasons."""
    *_, sil = sessions
    landing, a, _ = flown("terminal-descent")
    controller = {**landing.controller, **changed}
    row = b2b.judge(a, b2b.fly(sil, landing, controller), b2b.replay(sil, landing, a, controller))
    assert not row["within"], b2b.format_row(row)
    assert failing <= {name for name, ok in row["checks"].items() if not ok}, b2b.format_row(row)
    assert b2b.summarise([row])["beyond_tolerance"] == 1 and "NO (" in b2b.format_row(row)


def test_a_clamp_tie_is_found_and_a_wrong_clamp_is_not(flown):
    """A tie: one side on the clamp limit, the other a rounding error off it. Further off is not."""
    _, a, _ = flown("terminal-descent")
    limit = float(np.float32(0.1))        # throttle_min's default, as the device holds it
    k, column = 1000, COLUMNS.index("cmd_throttle")

    def throttle_at_k(value):
        rows = a.record.rows()
        rows = rows[:k] + [rows[k][:column] + (value,) + rows[k][column + 1:]] + rows[k + 1:]
        return RunResult(a.run, a.rig, None, record=Record(rows))
    n, same_state = len(a.record), np.ones(len(a.record), dtype=bool)
    on_limit = throttle_at_k(limit)
    assert b2b._first_tie(on_limit, throttle_at_k(limit + 2e-5), n, same_state) == k
    assert b2b._first_tie(on_limit, throttle_at_k(limit + 0.02), n, same_state) is None
    assert b2b._first_tie(on_limit, on_limit, n, same_state) is None
