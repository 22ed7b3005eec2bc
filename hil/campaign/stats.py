"""The statistics of a Monte Carlo campaign: is P(pass) high enough, when to stop, what drove failures.

A case is one landing (a dict: "verdict", "metrics", "inputs", ...). PASS and FAIL judge the
controller; INCONCLUSIVE and ERROR judge the rig, so every statistic here counts only the valid
cases (PASS + FAIL) and reports the invalid ones separately.

- the verdict: a one-sided Clopper-Pearson lower bound on P(pass) against a target
  (`lower_bound`, `runs_needed`, `campaign_verdict`);
- early stopping: Wald's sequential probability ratio test (`Sprt`);
- the metrics: summaries with the ±3 sigma equivalent tails (`metric_summary`, `metrics_table`);
- the causes: which inputs move a metric (`influence`), which separate failures from passes
  (`separation`), and the cases to look at first (`worst_cases`).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np
from scipy import stats

PASS, FAIL = "PASS", "FAIL"
INCONCLUSIVE = "INCONCLUSIVE"
VALID = (PASS, FAIL)            # the verdicts that judge the controller
LOW_TAIL, HIGH_TAIL = 0.135, 99.865   # percentiles of the ±3 sigma tails of a normal distribution
DEFAULT_METRIC = "rover_vz_at_contact_mps"


# -- the verdict ---------------------------------------------------------------------------------

def lower_bound(passes: int, n: int, confidence: float) -> float:
    """One-sided Clopper-Pearson (exact) lower bound on P(pass) after `passes` of `n`."""
    if n == 0:
        return 0.0
    test = stats.binomtest(passes, n, alternative="greater")
    return float(test.proportion_ci(confidence_level=confidence, method="exact").low)


def runs_needed(target: float, confidence: float) -> int:
    """Passes in a row, with no failure, for the lower bound on P(pass) to reach `target`."""
    _check_probability("target", target)
    _check_probability("confidence", confidence)
    # With no failure the bound is (1 - confidence) ** (1 / n): solve for n, then correct the
    # closed form by one where floating point put it on the wrong side of the boundary.
    n = max(1, math.ceil(math.log(1.0 - confidence) / math.log(target)))
    while lower_bound(n, n, confidence) < target:
        n += 1
    while n > 1 and lower_bound(n - 1, n - 1, confidence) >= target:
        n -= 1
    return n


def campaign_verdict(passes: int, failures: int, invalid: int, target: float,
                     confidence: float) -> tuple[str, float, str]:
    """(verdict, bound, why) for a finished campaign; `bound` is over the valid cases.

    PASS: the bound reaches the target and every case was a valid test. FAIL: failures were seen
    and the bound stays below the target even if every invalid case had passed. Otherwise
    INCONCLUSIVE: the invalid cases (which judge the rig) decide it, or, with no failure, the
    campaign was too short for its target.
    """
    valid = passes + failures
    if valid == 0:
        return INCONCLUSIVE, 0.0, (f"no case was flown validly ({invalid} could not be); the target "
                                   f"{target:g} needs {runs_needed(target, confidence)} passes in a row")
    bound = lower_bound(passes, valid, confidence)
    claim = (f"P(pass) >= {_floor4(bound):.4f} at {confidence * 100:g} % confidence "
             f"({passes} of {valid} passed)")
    if bound >= target and invalid == 0:
        return PASS, bound, f"{claim}; target {target:g}"
    best_case = lower_bound(passes + invalid, valid + invalid, confidence)
    # Without a failure a low bound only says the campaign was short, not that the controller is bad.
    if failures > 0 and best_case < target:
        return FAIL, bound, f"{claim}; below the target {target:g}"
    if invalid > 0:
        cases = "case" if invalid == 1 else "cases"
        return INCONCLUSIVE, bound, (f"{invalid} {cases} could not be flown validly (rig errors); "
                                     f"{claim}; target {target:g}")
    return INCONCLUSIVE, bound, (f"too few cases: {claim}; the target {target:g} needs "
                                 f"{runs_needed(target, confidence)} passes in a row")


def _floor4(bound: float) -> float:
    # Round a lower bound down, so the printed number is still a valid bound.
    return math.floor(bound * 1e4) / 1e4


def _check_probability(name: str, value: float) -> None:
    if not 0.0 < value < 1.0:
        raise ValueError(f"{name} must be strictly between 0 and 1, not {value!r}")


# -- early stopping ------------------------------------------------------------------------------

class Sprt:
    """Wald's sequential probability ratio test on the failure probability, for early stopping.

    H_bad: p_fail = p1 = 1 - target (the controller is exactly at the limit); H_good: p_fail =
    p0 = p1 / ratio. alpha = 1 - confidence is the risk of calling a bad controller good, beta =
    1 - power the risk of calling a good one bad. The log likelihood ratio ln(L(p1) / L(p0)) goes
    up ln(p1 / p0) per failure and down ln((1 - p1) / (1 - p0)) per pass; FAIL when it reaches
    ln((1 - alpha) / beta), PASS when it falls to ln(alpha / (1 - beta)).

    Why not re-check the Clopper-Pearson bound after each batch and stop at the first PASS: the
    bound's confidence holds for one look at a sample size fixed in advance. Every further look is
    another chance for a bad controller to have a lucky streak, and stopping at the first lucky
    look keeps it, so the false-PASS rate grows with the number of looks (about three times alpha
    with 20 looks, tests/test_campaign_stats.py). The SPRT's boundaries are built for a look after
    every case: Wald's bounds keep the false-PASS rate at about alpha however long it runs.

    The outcomes must be in case order. Cases finish out of order, so the caller passes the
    longest finished prefix: a case's place in the sequence never depends on how it went.
    """

    def __init__(self, target: float, confidence: float, power: float = 0.9, ratio: float = 2.0) -> None:
        _check_probability("target", target)
        _check_probability("confidence", confidence)
        _check_probability("power", power)
        if ratio <= 1.0:
            raise ValueError(f"ratio must be above 1, not {ratio!r}")
        self.p1 = 1.0 - target
        self.p0 = self.p1 / ratio
        self.alpha = 1.0 - confidence
        self.beta = 1.0 - power
        if self.alpha + self.beta >= 1.0:
            raise ValueError("the SPRT needs (1 - confidence) + (1 - power) below 1")
        self.fail_step = math.log(self.p1 / self.p0)                    # > 0: towards H_bad
        self.pass_step = math.log((1.0 - self.p1) / (1.0 - self.p0))    # < 0: towards H_good
        # Wald's boundaries with the LLR in favour of H_bad: the PASS boundary carries the risk
        # of a false PASS (alpha) in its numerator, the FAIL boundary that of a false FAIL (beta).
        self.accept_bad = math.log((1.0 - self.alpha) / self.beta)
        self.accept_good = math.log(self.alpha / (1.0 - self.beta))

    def decide(self, outcomes: Sequence[bool]) -> tuple[str | None, int]:
        """("PASS" | "FAIL", n_used) at the first boundary crossing, else (None, len(outcomes))."""
        passed = np.asarray(outcomes, dtype=bool)
        passes = np.cumsum(passed)
        failures = np.arange(1, len(passed) + 1) - passes
        # From counts, not a running float sum: the same arithmetic as passes_needed().
        llr = failures * self.fail_step + passes * self.pass_step
        crossed = np.flatnonzero((llr >= self.accept_bad) | (llr <= self.accept_good))
        if len(crossed) == 0:
            return None, len(passed)
        first = int(crossed[0])
        return (FAIL if llr[first] >= self.accept_bad else PASS), first + 1

    def passes_needed(self) -> int:
        """Passes in a row, with no failure, that decide PASS."""
        k = max(1, math.ceil(self.accept_good / self.pass_step))
        while k * self.pass_step > self.accept_good:
            k += 1
        while k > 1 and (k - 1) * self.pass_step <= self.accept_good:
            k -= 1
        return k

    def describe(self) -> str:
        return (f"SPRT: p_fail {self.p0:.4g} (good) against {self.p1:.4g} (at the limit), "
                f"alpha {self.alpha:.4g}, beta {self.beta:.4g}; {self.passes_needed()} passes in a "
                f"row decide PASS")

    def as_dict(self) -> dict:
        return {"p0": self.p0, "p1": self.p1, "alpha": self.alpha, "beta": self.beta,
                "passes_needed": self.passes_needed()}


# -- the metrics ---------------------------------------------------------------------------------

def metric_summary(values: Sequence[float]) -> dict:
    """n, mean, std, min, max and the ±3 sigma equivalent percentiles; NaN and None ignored."""
    data = np.array(_numbers(values), dtype=float)
    n = len(data)
    if n == 0:
        nan = math.nan
        return {"n": 0, "mean": nan, "std": nan, "min": nan, "max": nan, "p0135": nan, "p99865": nan}
    low, high = np.percentile(data, [LOW_TAIL, HIGH_TAIL])
    return {"n": n, "mean": float(data.mean()), "std": float(data.std(ddof=1)) if n >= 2 else math.nan,
            "min": float(data.min()), "max": float(data.max()), "p0135": float(low), "p99865": float(high)}


def metrics_table(cases: list[dict], names: Sequence[str]) -> dict[str, dict]:
    """metric_summary of each named metric over the valid cases, in the order of `names`."""
    present = {name for case in cases for name in _metrics(case)}
    valid = _valid(cases)
    return {name: metric_summary([_metrics(case).get(name) for case in valid])
            for name in names if name in present}


# -- the causes ----------------------------------------------------------------------------------

def influence(cases: list[dict], metric: str = DEFAULT_METRIC) -> list[dict]:
    """Spearman's rank correlation of each varying input with `metric`, strongest first."""
    valid = _valid(cases)
    rows = []
    for name in _varying_inputs(valid):
        pairs = [(x, y) for x, y in ((_number(_inputs(c).get(name)), _number(_metrics(c).get(metric)))
                                     for c in valid) if x is not None and y is not None]
        rho = p = math.nan
        if len(pairs) >= 3:
            xs, ys = zip(*pairs)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")   # a constant metric gives NaN, which sorts last
                result = stats.spearmanr(xs, ys)
            rho, p = float(result.statistic), float(result.pvalue)
        rows.append({"input": name, "rho": rho, "p": p, "n": len(pairs)})
    return sorted(rows, key=lambda row: (math.isnan(row["rho"]), -abs(row["rho"])))


def separation(cases: list[dict]) -> list[dict]:
    """Mann-Whitney U of each varying input, FAIL cases against PASS cases, most significant first.

    auc = U / (n_fail * n_pass): the probability that a failing case has the larger value
    (ties count half); 0.5 is no separation, 0 or 1 complete separation.
    """
    valid = _valid(cases)
    failed = [c for c in valid if c.get("verdict") == FAIL]
    passed = [c for c in valid if c.get("verdict") == PASS]
    if not failed or not passed:
        return []
    rows = []
    for name in _varying_inputs(valid):
        fail_values = _numbers(_inputs(c).get(name) for c in failed)
        pass_values = _numbers(_inputs(c).get(name) for c in passed)
        if not fail_values or not pass_values:
            continue
        result = stats.mannwhitneyu(fail_values, pass_values, alternative="two-sided")
        rows.append({"input": name, "pass_median": float(np.median(pass_values)),
                     "fail_median": float(np.median(fail_values)), "p": float(result.pvalue),
                     "auc": float(result.statistic) / (len(fail_values) * len(pass_values))})
    return sorted(rows, key=lambda row: (math.isnan(row["p"]), row["p"]))


def worst_cases(cases: list[dict], metric: str = DEFAULT_METRIC, count: int = 5) -> list[dict]:
    """The cases to look at first: failures, then the largest `metric`; missing values last."""
    def badness(case: dict) -> tuple:
        value = _number(_metrics(case).get(metric))
        return (case.get("verdict") != FAIL, value is None, -(value or 0.0))
    return sorted(_valid(cases), key=badness)[:count]


# -- helpers -------------------------------------------------------------------------------------

def _valid(cases: list[dict]) -> list[dict]:
    return [case for case in cases if case.get("verdict") in VALID]


def _metrics(case: dict) -> dict:
    return case.get("metrics") or {}   # an ERROR case may have none


def _inputs(case: dict) -> dict:
    return case.get("inputs") or {}


def _number(value) -> float | None:
    """A float (bools as 0/1), or None for a missing or NaN value."""
    if value is None:
        return None
    number = float(value)
    return None if math.isnan(number) else number


def _numbers(values) -> list[float]:
    return [number for number in map(_number, values) if number is not None]


def _varying_inputs(cases: list[dict]) -> list[str]:
    """Input names, in first-seen order, that take more than one value across `cases`."""
    seen: dict[str, set[float]] = {}
    for case in cases:
        for name, value in _inputs(case).items():
            number = _number(value)
            seen.setdefault(name, set())
            if number is not None:
                seen[name].add(number)
    return [name for name, values in seen.items() if len(values) > 1]
