"""hil.campaign.stats: the campaign verdict, the SPRT, metric summaries and the input analyses."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from hil.campaign.stats import (Sprt, campaign_verdict, influence, lower_bound, metric_summary,
                                metrics_table, runs_needed, separation, worst_cases)

pytestmark = pytest.mark.timeout(30)


def case(index: int, verdict: str, inputs: dict, metrics: dict) -> dict:
    return {"case": index, "seed": 1000 + index, "inputs": inputs, "verdict": verdict, "metrics": metrics,
            "failed": [] if verdict == "PASS" else ["vz_at_contact"], "error": None, "attempts": 1,
            "worker": "local-1", "wall_s": 1.0, "folder": None}


# -- the verdict ---------------------------------------------------------------------------------

@pytest.mark.parametrize("target, confidence, expected", [(0.99, 0.95, 299), (0.95, 0.95, 59),
                                                          (0.99, 0.90, 230)])
def test_runs_needed_is_the_smallest_zero_failure_campaign(target, confidence, expected):
    n = runs_needed(target, confidence)
    assert n == expected
    assert lower_bound(n, n, confidence) >= target > lower_bound(n - 1, n - 1, confidence)


@pytest.mark.parametrize("passes, n", [(1, 1), (5, 10), (95, 100), (290, 300), (0, 7), (999, 1000)])
@pytest.mark.parametrize("confidence", [0.9, 0.95])
def test_lower_bound_is_the_beta_quantile(passes, n, confidence):
    expected = stats.beta.ppf(1 - confidence, passes, n - passes + 1) if passes else 0.0
    assert lower_bound(passes, n, confidence) == pytest.approx(expected, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("n", [1, 10, 59, 299, 1000])
def test_lower_bound_with_no_failure_is_the_closed_form(n):
    assert lower_bound(n, n, 0.95) == pytest.approx(0.05 ** (1 / n), rel=1e-9)


def test_lower_bound_of_nothing_is_zero():
    assert lower_bound(0, 0, 0.95) == 0.0


def test_verdict_pass_at_runs_needed_and_too_few_one_short():
    verdict, bound, why = campaign_verdict(299, 0, 0, 0.99, 0.95)
    assert (verdict, bound) == ("PASS", pytest.approx(0.05 ** (1 / 299)))
    assert "299 of 299 passed" in why and "95 % confidence" in why and "target 0.99" in why
    verdict, bound, why = campaign_verdict(298, 0, 0, 0.99, 0.95)
    assert verdict == "INCONCLUSIVE" and bound < 0.99
    assert "too few" in why and "299" in why


def test_verdict_fail_when_the_bound_is_far_below():
    verdict, bound, why = campaign_verdict(290, 10, 0, 0.99, 0.95)
    assert verdict == "FAIL"
    assert bound == pytest.approx(lower_bound(290, 300, 0.95))
    assert "below the target 0.99" in why


def test_one_failure_among_runs_needed_cannot_pass():
    verdict, bound, _ = campaign_verdict(298, 1, 0, 0.99, 0.95)
    assert bound < 0.99
    assert verdict == "FAIL"


def test_verdict_inconclusive_when_invalid_cases_could_swing_it():
    # 1 failure in 461 is just short of 0.99; had the 20 invalid cases passed it would be enough.
    assert lower_bound(460, 461, 0.95) < 0.99 <= lower_bound(480, 481, 0.95)
    assert campaign_verdict(460, 1, 0, 0.99, 0.95)[0] == "FAIL"
    verdict, _, why = campaign_verdict(460, 1, 20, 0.99, 0.95)
    assert verdict == "INCONCLUSIVE"
    assert why.startswith("20 cases could not be flown validly")


def test_verdict_never_passes_with_invalid_cases():
    verdict, bound, why = campaign_verdict(300, 0, 2, 0.99, 0.95)
    assert bound >= 0.99
    assert verdict == "INCONCLUSIVE" and "2 cases could not be flown validly" in why


def test_verdict_without_valid_cases():
    verdict, bound, why = campaign_verdict(0, 0, 3, 0.99, 0.95)
    assert (verdict, bound) == ("INCONCLUSIVE", 0.0)
    assert "no case was flown validly" in why


# -- the SPRT ------------------------------------------------------------------------------------

def test_sprt_passes_after_passes_needed_and_not_before():
    sprt = Sprt(0.99, 0.95)
    # ln(alpha / (1 - beta)) / ln((1 - p1) / (1 - p0)) = ln(0.05 / 0.9) / ln(0.99 / 0.995) = 573.74
    assert sprt.passes_needed() == 574
    assert sprt.decide([True] * 573) == (None, 573)
    assert sprt.decide([True] * 574) == ("PASS", 574)
    assert sprt.decide([True] * 700) == ("PASS", 574)   # the first crossing, not the last case


def test_sprt_fails_on_a_burst_of_failures():
    sprt = Sprt(0.99, 0.95)
    # each failure adds ln(2); ln((1 - alpha) / beta) = ln(0.95 / 0.1) = 2.25 needs 4 of them
    assert sprt.decide([False] * 3) == (None, 3)
    assert sprt.decide([False] * 12) == ("FAIL", 4)
    # 100 passes take 0.504 off: the burst then needs 2.755, and ln(2) * 4 = 2.77 is enough
    assert sprt.decide([True] * 100 + [False] * 20) == ("FAIL", 104)


def test_sprt_undecided_in_between():
    sprt = Sprt(0.99, 0.95)
    outcomes = [True] * 200 + [False] + [True] * 200
    assert sprt.decide(outcomes) == (None, 401)
    assert sprt.decide([]) == (None, 0)


def test_sprt_describes_its_hypotheses():
    sprt = Sprt(0.99, 0.95, power=0.8, ratio=4.0)
    numbers = sprt.as_dict()
    assert numbers["p1"] == pytest.approx(0.01) and numbers["p0"] == pytest.approx(0.0025)
    assert numbers["alpha"] == pytest.approx(0.05) and numbers["beta"] == pytest.approx(0.2)
    assert numbers["passes_needed"] == sprt.passes_needed()
    text = sprt.describe()
    assert "\n" not in text
    for number in ("0.0025", "0.01", "0.05", "0.2"):
        assert number in text


@pytest.mark.parametrize("kwargs", [{"target": 1.0, "confidence": 0.95}, {"target": 0.99, "confidence": 0.0},
                                    {"target": 0.99, "confidence": 0.95, "ratio": 1.0}])
def test_sprt_rejects_impossible_settings(kwargs):
    with pytest.raises(ValueError):
        Sprt(**kwargs)


def simulate_sprt(sprt: Sprt, p_fail: float, campaigns: int, cases: int, rng) -> dict:
    passed = rng.random((campaigns, cases)) >= p_fail
    decisions = [sprt.decide(row)[0] for row in passed]
    return {verdict: decisions.count(verdict) / campaigns for verdict in ("PASS", "FAIL", None)}


def test_sprt_error_rates_hold_in_simulation():
    target, confidence, power = 0.95, 0.95, 0.9
    sprt = Sprt(target, confidence, power)
    rng = np.random.default_rng(20240611)
    at_limit = simulate_sprt(sprt, sprt.p1, campaigns=2000, cases=3000, rng=rng)
    assert at_limit[None] < 0.01                  # it does stop
    assert at_limit["PASS"] <= sprt.alpha + 0.015  # false PASS: a controller at the limit called good
    good = simulate_sprt(sprt, sprt.p0, campaigns=2000, cases=3000, rng=rng)
    assert good["FAIL"] <= sprt.beta + 0.02        # false FAIL: a good controller called bad


def test_rechecking_the_bound_after_every_batch_inflates_false_passes():
    """Why the campaign stops on the SPRT and not on the first batch whose bound reaches the target."""
    target, confidence, batch, looks, campaigns = 0.95, 0.95, 50, 20, 2000
    rng = np.random.default_rng(7)
    passed = rng.random((campaigns, batch * looks)) >= 1 - target   # a controller exactly at the limit
    passes_at_look = passed.cumsum(axis=1)[:, batch - 1::batch]
    needed = np.array([fewest_passes_to_reach(target, batch * (look + 1), confidence)
                       for look in range(looks)])
    reached = passes_at_look >= needed
    one_look = reached[:, -1].mean()     # the whole campaign, judged once: the bound's own guarantee
    first_reach = reached.any(axis=1).mean()
    assert one_look <= (1 - confidence) + 0.015
    assert first_reach > 2 * (1 - confidence)     # about 0.16 with these numbers


def fewest_passes_to_reach(target: float, n: int, confidence: float) -> int:
    """The fewest passes of n whose lower bound reaches target (n + 1 if none), by bisection."""
    low, high = 0, n + 1
    while low < high:
        middle = (low + high) // 2
        if lower_bound(middle, n, confidence) >= target:
            high = middle
        else:
            low = middle + 1
    return low


# -- the metrics ---------------------------------------------------------------------------------

def test_metric_summary_ignores_missing_values():
    data = [3.0, 1.0, math.nan, 5.0, None, 2.0, 4.0]
    summary = metric_summary(data)
    clean = np.array([3.0, 1.0, 5.0, 2.0, 4.0])
    assert summary["n"] == 5
    assert summary["mean"] == pytest.approx(3.0)
    assert summary["std"] == pytest.approx(math.sqrt(2.5))     # sample std, ddof=1
    assert (summary["min"], summary["max"]) == (1.0, 5.0)
    assert summary["p0135"] == pytest.approx(np.percentile(clean, 0.135))
    assert summary["p99865"] == pytest.approx(np.percentile(clean, 99.865))
    assert 1.0 < summary["p0135"] < 1.01 and 4.99 < summary["p99865"] < 5.0


def test_metric_summary_of_bools_and_of_too_little():
    assert metric_summary([True, False, True, True])["mean"] == pytest.approx(0.75)
    single = metric_summary([2.5])
    assert single["n"] == 1 and single["mean"] == 2.5 and math.isnan(single["std"])
    empty = metric_summary([math.nan, None])
    assert empty["n"] == 0
    assert all(math.isnan(empty[key]) for key in ("mean", "std", "min", "max", "p0135", "p99865"))


def test_metrics_table_counts_valid_cases_in_the_order_asked():
    cases = [case(0, "PASS", {}, {"vz": 1.0, "latency": 0.3}),
             case(1, "FAIL", {}, {"vz": 3.0}),
             case(2, "ERROR", {}, {"vz": 1000.0, "latency": 99.0}),
             case(3, "INCONCLUSIVE", {}, None)]
    table = metrics_table(cases, ["latency", "absent", "vz"])
    assert list(table) == ["latency", "vz"]
    assert table["vz"]["n"] == 2 and table["vz"]["max"] == 3.0
    assert table["latency"]["n"] == 1 and table["latency"]["mean"] == pytest.approx(0.3)


# -- the causes ----------------------------------------------------------------------------------

def planted_campaign(count: int = 60) -> list[dict]:
    """vz rises with thrust_bias (monotone, not linear); failures where thrust_bias is high."""
    rng = np.random.default_rng(3)
    cases = []
    for index in range(count):
        bias = float(rng.uniform(-0.05, 0.05))
        inputs = {"initial.vz_mps": float(rng.normal(-87, 2)), "plant.engine.thrust_bias": bias,
                  "controller.kp_vz": 0.8}
        vz = 0.5 + math.exp(40 * bias)
        cases.append(case(index, "FAIL" if bias > 0.03 else "PASS", inputs, {"rover_vz_at_contact_mps": vz}))
    # an invalid case that would spoil both analyses if it were counted
    cases.append(case(count, "ERROR", {"initial.vz_mps": -87.0, "plant.engine.thrust_bias": 0.05,
                                       "controller.kp_vz": 0.8}, {"rover_vz_at_contact_mps": -50.0}))
    return cases


def test_influence_ranks_the_planted_input_first():
    rows = influence(planted_campaign())
    assert [row["input"] for row in rows] == ["plant.engine.thrust_bias", "initial.vz_mps"]  # kp_vz constant
    top = rows[0]
    assert top["rho"] == pytest.approx(1.0) and top["p"] < 1e-10 and top["n"] == 60
    assert abs(rows[1]["rho"]) < 0.5


def test_influence_keeps_the_sign_and_puts_undefined_last():
    cases = [case(i, "PASS", {"gain": float(i), "mass": float(i % 3), "wind": float(i % 2)},
                  {"rover_vz_at_contact_mps": 2.0 - 0.1 * i, "flat": 1.0}) for i in range(10)]
    rows = influence(cases)
    assert rows[0]["input"] == "gain" and rows[0]["rho"] == pytest.approx(-1.0)
    flat = influence(cases, metric="flat")
    assert all(math.isnan(row["rho"]) for row in flat)
    mixed = influence(cases + [case(10, "PASS", {"gain": 10.0, "mass": 1.0, "wind": 0.0},
                                    {"rover_vz_at_contact_mps": math.nan})])
    assert mixed[0]["n"] == 10    # the NaN metric is left out


def test_influence_nan_rows_sort_last():
    cases = [case(i, "PASS", {"odd": 1.0 if i == 0 else 2.0, "gain": float(i)},   # odd seen first
                  {"rover_vz_at_contact_mps": float(i) if i else math.nan}) for i in range(6)]
    # "odd" varies across the cases, but only on the case without the metric: constant where it counts
    rows = influence(cases)
    assert [row["input"] for row in rows] == ["gain", "odd"]
    assert math.isnan(rows[1]["rho"])


def test_separation_ranks_the_separating_input_first():
    cases = planted_campaign()
    rows = separation(cases)
    assert [row["input"] for row in rows] == ["plant.engine.thrust_bias", "initial.vz_mps"]
    top = rows[0]
    assert top["auc"] == pytest.approx(1.0) and top["p"] < 1e-4
    assert top["fail_median"] > 0.03 > top["pass_median"]
    assert 0.2 < rows[1]["auc"] < 0.8 and rows[1]["p"] > top["p"]


def test_separation_needs_failures_and_passes():
    cases = [c for c in planted_campaign() if c["verdict"] != "FAIL"]
    assert separation(cases) == []
    assert separation([c for c in planted_campaign() if c["verdict"] == "FAIL"]) == []


def test_worst_cases_puts_failures_first():
    cases = [case(0, "PASS", {}, {"rover_vz_at_contact_mps": 5.0}),
             case(1, "FAIL", {}, {"rover_vz_at_contact_mps": 0.1}),
             case(2, "PASS", {}, {"rover_vz_at_contact_mps": math.nan}),
             case(3, "ERROR", {}, {"rover_vz_at_contact_mps": 99.0}),
             case(4, "PASS", {}, {"rover_vz_at_contact_mps": 7.0}),
             case(5, "FAIL", {}, {}),
             case(6, "PASS", {}, {"rover_vz_at_contact_mps": 1.0})]
    worst = worst_cases(cases)
    assert [c["case"] for c in worst] == [1, 5, 4, 0, 6]
    assert worst[0] is cases[1]
    assert [c["case"] for c in worst_cases(cases, count=10)] == [1, 5, 4, 0, 6, 2]
