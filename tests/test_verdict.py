"""Judging: exact limits, one registry of metrics, and whom a failed criterion blames."""

import pytest

from hil import metrics
from hil.api import NO_FILES, land
from hil.verdict import Criterion, invalid_reason, judge, load_criteria

pytestmark = pytest.mark.timeout(60)


def test_a_time_exactly_at_its_limit_is_judged_in_whole_microseconds():
    latency = Criterion("td_latency_s", minimum=0.2, maximum=3.0)
    assert latency.passes(0.2)
    assert latency.passes(55.94 - 55.74)          # 0.19999999999999574 as floats: exactly 200000 us
    assert latency.passes(3.0 + 1e-12)
    assert not latency.passes(0.199999)           # one microsecond short
    assert not latency.passes(3.000001)
    # A metric without a resolution keeps plain float comparison.
    assert not Criterion("rover_vz_at_contact_mps", maximum=1.0).passes(1.0 + 1e-12)


def test_every_metric_a_landing_reports_is_in_the_registry():
    result = land("nominal", rig="mil", outputs=NO_FILES)
    assert set(result.metrics) <= set(metrics.NAMES)
    for name in result.metrics:
        label, unit = metrics.label(name)
        assert label and label != name
    assert {c.metric for c in load_criteria()} == set(metrics.default_criteria_table())


def test_a_rig_criterion_makes_the_run_invalid_and_never_fails_the_controller():
    landing = {"rover_vz_at_contact_mps": 0.7, "rover_vh_at_contact_mps": 0.0, "td_latency_s": 1.0,
               "cut_before_contact": False, "min_clearance_m": 6.0, "flyaway_distance_m": 300.0}
    link_budget = [Criterion("link_retries", maximum=2, why="a bench line may drop a byte, not more")]
    passed, rows = judge({**landing, "link_retries": 5}, load_criteria() + link_budget)
    assert passed and rows[-1]["judges"] == "rig" and rows[-1]["passed"] is False
    assert invalid_reason(rows, landing) == "link retries (lockstep) 5 outside <= 2"
    passed, rows = judge({**landing, "rover_vz_at_contact_mps": 1.2}, load_criteria())
    assert not passed and invalid_reason(rows, landing) is None
