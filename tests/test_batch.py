"""The batch engine held to the scalar path (docs/batch.md, "How it is kept equal").

- Noise and gusts off: every case of a dispersed set goes through the same controller states on
  the same cycles as the scalar plant flying the reference controller, and touches down within
  METRIC_TOLERANCE of its velocity.
- Noise on: touchdown velocity and latency over the batch and over independent scalar landings
  are one distribution by a two-sample Kolmogorov-Smirnov test (p above KS_ALPHA); a batch
  flown with a broken controller config is told apart by the same test.
- A single batch case flown again on the scalar MIL rig and on SIL gives its verdict, for a
  passing case and for a failing one.

terminal-descent is the scenario: the short landing (about 60 s of flight) keeps this in CI's time.
"""
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest
from scipy import stats

from hil import icd
from hil.batch.flight import METRIC_TOLERANCE, Chunk, close_metrics
from hil.campaign import plan_campaign
from hil.campaign.plan import cases
from hil.rig import MIL_RIG, load_rig
from hil.run import FAIL, NO_FILES, PASS
from hil.session import Session
from hil.verdict import judge
from tests.conftest import ROOT

pytestmark = pytest.mark.timeout(300)

SCENARIO = "terminal-descent"
# Every noise source and gust set to zero: the landing is then a function of its dispersed
# inputs alone, so the batch must follow the scalar cycle by cycle.
NOISE_OFF = (("plant.radar.velocity_sigma_mps", 0.0), ("plant.radar.range_scale_error", 0.0),
             ("plant.radar.range_sigma_fraction", 0.0), ("plant.imu.noise_sigma_mps2", 0.0),
             ("plant.imu.bias_sigma_mps2", 0.0), ("plant.wind.gust_sigma_mps", 0.0))
# The two-sample test's false-alarm rate: with fixed seeds the verdict is repeatable, and an
# engine whose distribution agrees is wrongly refused with probability KS_ALPHA over seeds.
KS_ALPHA = 0.01
QUIET = 4          # dispersed cases flown without noise
SAMPLES = 40       # landings per side of the distribution test (docs/batch.md: 2,000 by benchmark)
BROKEN = 10        # batch landings with the broken config
BROKEN_CONFIG = {"v_cv_mps": 1.4}   # the sky crane lowers the rover at 1.4 m/s instead of 0.75
COMPARED = ("rover_vz_at_contact_mps", "td_latency_s")


def runs(n, seed, extra=(), controller=None):
    plan = plan_campaign(SCENARIO, runs=n, seed=seed, controller=controller)
    return [plan.run_for(replace(case, inputs=case.inputs + extra)) for case in cases(plan)]


def scalar_landing(run, rig=MIL_RIG):
    with Session(rig) as session:
        return session.fly(replace(run, outputs=NO_FILES))


def verdict(run, metrics):
    return PASS if judge(metrics, list(run.criteria))[0] else FAIL


@pytest.fixture(scope="module")
def flown():
    """One batch flight of every case this file needs (the batch's cost is mostly per substep,
    not per case): QUIET dispersed cases without noise, SAMPLES with noise, and BROKEN with the
    broken config. The scalar landings fly on two processes: the QUIET cases with their records,
    and SAMPLES noisy ones drawn from another campaign seed (independent of the batch's)."""
    quiet, good, broken = runs(QUIET, 21, NOISE_OFF), runs(SAMPLES, 31), runs(BROKEN, 32, controller=BROKEN_CONFIG)
    states = {case: [] for case in range(QUIET)}

    def on_cycle(cycle, positions, controller):
        for case, state in zip(positions.tolist(), controller.state.tolist()):
            if case < QUIET:
                states[case].append((cycle, state))

    landings = Chunk.of(quiet + good + broken, MIL_RIG).fly(on_cycle)
    with ProcessPoolExecutor(2) as pool:
        scalar_quiet = list(pool.map(scalar_landing, quiet))
        scalar_noisy = [r.metrics for r in pool.map(scalar_landing, runs(SAMPLES, 33))]
    return SimpleNamespace(quiet=quiet, good=good, broken=broken, states=states, scalar_quiet=scalar_quiet,
                           scalar_noisy=scalar_noisy, batch_quiet=landings[:QUIET],
                           batch_good=landings[QUIET:QUIET + SAMPLES], batch_broken=landings[QUIET + SAMPLES:])


# -- noise off: the same landing, cycle by cycle --------------------------------------------

def scalar_states(result):
    record = result.record
    return [(int(c), icd.ControllerState[name].value) for c, name in zip(record["cycle"], record["state_name"])]


def test_without_noise_each_case_has_the_scalar_state_on_every_cycle(flown):
    for case, result in enumerate(flown.scalar_quiet):
        assert flown.states[case] == scalar_states(result), case
    # The comparison sees another landing: the dispersed cases differ in their cycles.
    assert flown.states[0] != scalar_states(flown.scalar_quiet[1])


def test_without_noise_touchdown_velocity_is_the_scalar_one_within_the_tolerance(flown):
    for case, (landing, result) in enumerate(zip(flown.batch_quiet, flown.scalar_quiet)):
        assert landing.error is None
        for name in ("rover_vz_at_contact_mps", "rover_vh_at_contact_mps"):
            assert abs(landing.metrics[name] - result.metrics[name]) <= METRIC_TOLERANCE, (case, name)
        assert close_metrics(landing.metrics, result.metrics), case
        assert verdict(flown.quiet[case], landing.metrics) == result.verdict == PASS
    assert not close_metrics(flown.batch_quiet[0].metrics, flown.scalar_quiet[1].metrics)


# -- noise on: one distribution --------------------------------------------------------------

def sample(metrics_list, name):
    return np.array([m[name] for m in metrics_list])


@pytest.mark.parametrize("name", COMPARED)
def test_with_noise_the_batch_and_scalar_distributions_agree(flown, name):
    result = stats.ks_2samp(sample([b.metrics for b in flown.batch_good], name), sample(flown.scalar_noisy, name))
    assert result.pvalue > KS_ALPHA, result


def test_the_distribution_test_tells_a_broken_controller_apart(flown):
    result = stats.ks_2samp(sample([b.metrics for b in flown.batch_broken], COMPARED[0]),
                            sample(flown.scalar_noisy, COMPARED[0]))
    assert result.pvalue < KS_ALPHA, result


# -- one case again, on the scalar rig and on SIL ---------------------------------------------

def test_a_passing_and_a_failing_case_keep_their_verdicts_on_the_scalar_rig_and_on_sil(flown):
    chosen = [(flown.good[0], flown.batch_good[0]), (flown.broken[0], flown.batch_broken[0])]
    assert [verdict(run, landing.metrics) for run, landing in chosen] == [PASS, FAIL]
    for rig in (MIL_RIG, load_rig(ROOT / "rigs/sil.toml")):
        for run, landing in chosen:
            again = scalar_landing(run, rig)
            assert again.verdict == verdict(run, landing.metrics), (rig.name, run.seed)
            if rig is MIL_RIG:
                assert close_metrics(again.metrics, landing.metrics)
