"""Scenario loading: packaged scenarios, and one clear line per kind of bad input."""
import math
import re

import numpy as np
import pytest

from plant import PlantParams, ScenarioError, disperse, list_scenarios, load_scenario
from plant.scenario import EXPECTATIONS
from tests.conftest import write_scenario

pytestmark = pytest.mark.timeout(60)

GOOD = 'description = "test"\n'


def write(tmp_path, text: str, name: str = "bad.toml"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def error_of(path: str) -> str:
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    message = str(info.value)
    assert "\n" not in message
    return message


SHIPPED = ("nominal", "curiosity", "gusty", "slope-15", "thrust-bias-high", "radar-dust",
           "heavy-rover", "terminal-descent")


def test_packaged_scenarios_are_listed_and_load():
    listed = dict(list_scenarios())
    assert set(SHIPPED) <= set(listed)
    assert all(listed[name] and "\n" not in listed[name] for name in listed)
    assert "Perseverance" in listed["nominal"]
    nominal = load_scenario("nominal")
    assert nominal.name == "nominal" and nominal.seed == 1 and nominal.max_time_s == 200.0
    assert nominal.initial.altitude_m == 2000.0 and nominal.initial.vz_mps == -80.0
    assert nominal.params == PlantParams()  # nominal spells out the defaults
    assert nominal.controller == {}
    assert nominal.expect == "pass" and nominal.expect_why == ""


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_scenario_loads_with_dispersions(name):
    scenario = load_scenario(name)
    assert scenario.name == name and scenario.expect in EXPECTATIONS
    assert "plant.engine.thrust_bias" in scenario.dispersions
    bias = scenario.dispersions["plant.engine.thrust_bias"]
    assert bias.dist == "normal" and bias.mean == scenario.params.engine.thrust_bias
    sample = disperse(scenario, np.random.default_rng(1))
    assert sample.params != scenario.params and sample.name == name


def test_shipped_scenarios_say_what_they_are():
    defaults = PlantParams()
    curiosity = load_scenario("curiosity")
    assert curiosity.params.rover.mass_kg == 899.0
    assert curiosity.params.descent_stage.propellant_kg == 390.0
    assert curiosity.initial.altitude_m == 1800.0
    wind = load_scenario("gusty").params.wind
    assert math.hypot(wind.steady_x_mps, wind.steady_y_mps) == pytest.approx(5.0)
    assert math.hypot(wind.steady_x_mps, wind.steady_y_mps) + 2 * wind.gust_sigma_mps == \
        pytest.approx(8.0)
    assert load_scenario("slope-15").params.terrain.slope_deg == 15.0
    assert load_scenario("thrust-bias-high").params.engine.thrust_bias == 1.08
    radar = load_scenario("radar-dust").params.radar
    assert radar.dust_glitch_probability > 0.0 and radar.dust_dropout_probability > 0.0
    assert defaults.radar.dust_glitch_probability == 0.0
    assert load_scenario("heavy-rover").params.rover.mass_kg == 1200.0


def test_path_loading_with_ints_for_floats_and_controller_passthrough(tmp_path):
    path = write(tmp_path, GOOD + 'seed = 4\n[plant]\nsubstep_hz = 1000\n[plant.rover]\n'
                 'mass_kg = 900\n[controller]\nkp = 2\nvz_target = -0.75\n', "ok.toml")
    scenario = load_scenario(path)
    assert scenario.params.rover.mass_kg == 900.0
    assert isinstance(scenario.params.rover.mass_kg, float)
    assert scenario.params.substep_hz == 1000.0
    assert scenario.controller == {"kp": 2.0, "vz_target": -0.75}
    assert scenario.seed == 4


def test_expectation_fields(tmp_path):
    path = write(tmp_path, GOOD + 'expect = "fail"\nexpect_why = "dust beats the gate"\n', "x.toml")
    scenario = load_scenario(path)
    assert scenario.expect == "fail" and scenario.expect_why == "dust beats the gate"


def test_dispersions_parse_with_defaults_and_sample_deterministically(tmp_path):
    path = write(tmp_path, GOOD + '[plant.rover]\nmass_kg = 900\n[dispersions]\n'
                 '"plant.rover.mass_kg" = { dist = "normal", sigma = 20 }\n'
                 '"initial.vz_mps" = { dist = "uniform", low = -90, high = -70.0 }\n'
                 '"plant.engine.thrust_bias" = { dist = "normal", mean = 1.05, sigma = 0.0 }\n',
                 "d.toml")
    scenario = load_scenario(path)
    mass = scenario.dispersions["plant.rover.mass_kg"]
    assert (mass.dist, mass.mean, mass.sigma) == ("normal", 900.0, 20.0)  # mean: the nominal
    vz = scenario.dispersions["initial.vz_mps"]
    assert (vz.dist, vz.low, vz.high) == ("uniform", -90.0, -70.0)
    one = disperse(scenario, np.random.default_rng(9))
    assert one == disperse(scenario, np.random.default_rng(9))
    assert one != disperse(scenario, np.random.default_rng(10))
    assert one.params.engine.thrust_bias == 1.05
    assert one.params.descent_stage == scenario.params.descent_stage  # untouched
    assert scenario.params.rover.mass_kg == 900.0  # the original is not modified
    draws = [disperse(scenario, np.random.default_rng(s)) for s in range(2000)]
    masses = np.array([d.params.rover.mass_kg for d in draws])
    speeds = np.array([d.initial.vz_mps for d in draws])
    assert masses.mean() == pytest.approx(900.0, abs=2.0)  # 4.5 standard errors
    assert masses.std() == pytest.approx(20.0, rel=0.08)
    assert speeds.min() >= -90.0 and speeds.max() <= -70.0
    assert speeds.mean() == pytest.approx(-80.0, abs=0.6)


def test_disperse_rejects_an_out_of_range_draw(tmp_path):
    path = write(tmp_path, GOOD + '[dispersions]\n'
                 '"plant.descent_stage.propellant_kg" = '
                 '{ dist = "normal", mean = 1, sigma = 100 }\n',
                 "wide.toml")
    scenario = load_scenario(path)
    with pytest.raises(ScenarioError) as info:
        for seed in range(100):
            disperse(scenario, np.random.default_rng(seed))
    assert "dispersed plant.descent_stage.propellant_kg" in str(info.value)


def test_unknown_scenario_name_lists_known_ones():
    message = error_of("nominl")
    assert "nominl" in message and "nominal" in message and "curiosity" in message


def test_missing_file(tmp_path):
    path = str(tmp_path / "missing.toml")
    assert error_of(path) == f"{path}: file not found"


def test_malformed_toml_reports_line(tmp_path):
    path = write(tmp_path, GOOD + "[plant.rover]\nmass_kg = = 3\n")
    message = error_of(path)
    assert message.startswith(f"{path}: malformed TOML") and "line 3" in message


@pytest.mark.parametrize("text, expected", [
    ("[plant.rover]\nmas_kg = 1.0\n", "unknown field plant.rover.mas_kg"),
    ("[plant.rovr]\nmass_kg = 1.0\n", "unknown field plant.rovr"),
    ("[initial]\naltitude = 5.0\n", "unknown field initial.altitude"),
    ("speed = 3\n", "unknown field speed"),
    ("[plant.rover]\nmass_kg = 'heavy'\n", "plant.rover.mass_kg must be a number, got 'heavy'"),
    ("[plant.rover]\nmass_kg = true\n", "plant.rover.mass_kg must be a number, got True"),
    ("[plant.rover]\nmass_kg = nan\n", "plant.rover.mass_kg must be a finite number, got nan"),
    ("[plant.engine]\ncount = 7.5\n", "plant.engine.count must be an integer, got 7.5"),
    ("[plant]\nengine = 3\n", "plant.engine must be a table, got 3"),
    ("[plant.rover]\nmass_kg = 0\n", "plant.rover.mass_kg must be positive, got 0.0"),
    ("[plant.descent_stage]\ndry_mass_kg = -850\n",
     "plant.descent_stage.dry_mass_kg must be positive, got -850.0"),
    ("[plant.bridle]\npayout_rate_mps = 0.0\n",
     "plant.bridle.payout_rate_mps must be positive, got 0.0"),
    ("[plant.bridle]\nspool_damping_n_s_per_m = 10\n",
     "plant.bridle.spool_damping_n_s_per_m must be >= 0.5 * stiffness / substep_hz for a stable "
     "RK4, got 10.0"),
    ("[plant.terrain]\nslope_deg = 50\n", "plant.terrain.slope_deg must be in [0, 45], got 50.0"),
    ("[plant.imu]\nrate_hz = 50\n", "plant.imu.rate_hz must be >= 100, got 50.0"),
    ("[plant]\nsubstep_hz = 100\n", "plant.substep_hz must be >= 500, got 100.0"),
    ("[initial]\naltitude_m = -1\n", "initial.altitude_m must be positive, got -1.0"),
    ("max_time_s = 0\n", "max_time_s must be in (0, 3600] s, got 0.0"),
    ("seed = 1.5\n", "seed must be an integer, got 1.5"),
    ("name = 3\n", "name must be a string, got 3"),
    ("[controller]\nkp = 'fast'\n", "controller.kp must be a number, got 'fast'"),
    ('expect = "maybe"\n', "expect must be one of pass, fail, safe_state, no_early_cut, got 'maybe'"),
    ('expect = "fail"\n', "expect_why must say why when expect = 'fail'"),
    ("expect_why = 3\n", "expect_why must be a string, got 3"),
    ("dispersions = 3\n", "dispersions must be a table, got 3"),
    ('[dispersions]\n"plant.engine.thrust_bais" = { dist = "normal", sigma = 0.1 }\n',
     "dispersions.plant.engine.thrust_bais names no parameter "
     "(plant.engine.thrust_bais is unknown)"),
    ('[dispersions]\n"engine.thrust_bias" = { dist = "normal", sigma = 0.1 }\n',
     "dispersions.engine.thrust_bias must start with 'plant.' or 'initial.'"),
    ('[dispersions]\n"plant.engine" = { dist = "normal", sigma = 0.1 }\n',
     "dispersions.plant.engine must name a number (float) parameter"),
    ('[dispersions]\n"plant.engine.count" = { dist = "normal", sigma = 1 }\n',
     "dispersions.plant.engine.count must name a number (float) parameter"),
    ('[dispersions]\n"initial.vz_mps" = 3\n', "dispersions.initial.vz_mps must be a table, got 3"),
    ('[dispersions]\n"initial.vz_mps" = { dist = "gauss", sigma = 1 }\n',
     "dispersions.initial.vz_mps.dist must be 'normal' or 'uniform', got 'gauss'"),
    ('[dispersions]\n"initial.vz_mps" = { sigma = 1 }\n',
     "dispersions.initial.vz_mps.dist must be 'normal' or 'uniform', got None"),
    ('[dispersions]\n"initial.vz_mps" = { dist = "normal" }\n',
     "dispersions.initial.vz_mps.sigma is missing"),
    ('[dispersions]\n"initial.vz_mps" = { dist = "normal", sigma = -1 }\n',
     "dispersions.initial.vz_mps.sigma must be >= 0, got -1.0"),
    ('[dispersions]\n"initial.vz_mps" = { dist = "normal", sigma = "big" }\n',
     "dispersions.initial.vz_mps.sigma must be a finite number, got 'big'"),
    ('[dispersions]\n"initial.vz_mps" = { dist = "uniform", low = 1, high = 0 }\n',
     "dispersions.initial.vz_mps.high must be >= low, got 0.0"),
    ('[dispersions]\n"initial.vz_mps" = { dist = "uniform", low = 1, sigma = 0 }\n',
     "dispersions.initial.vz_mps.sigma is not a parameter of a uniform distribution"),
    ('[dispersions]\n"plant.rover.mass_kg" = { dist = "uniform", low = -1, high = 2000 }\n',
     "dispersions.plant.rover.mass_kg.low = -1.0 is out of range: must be positive, got -1.0"),
])
def test_bad_input_names_file_and_field(tmp_path, text, expected):
    path = write(tmp_path, GOOD + text)
    assert error_of(path) == f"{path}: {expected}"


def test_scenario_error_is_a_value_error():
    assert issubclass(ScenarioError, ValueError)


@pytest.mark.parametrize("extra, complaint", [
    ('expect = "safe_state"\ntiming = "realtime"', "expect_within_s goes with expect = 'safe_state'"),
    ('expect = "safe_state"\nexpect_within_s = 0.5', "needs timing = 'realtime'"),
    ('expect_within_s = 0.5', "expect_within_s goes with expect = 'safe_state'"),
    ('expect = "lands"', "expect must be one of pass, fail, safe_state, no_early_cut"),
    ('timing = "fast"', "timing must be 'lockstep' or 'realtime'"),
])
def test_a_bad_expectation_is_refused_in_one_line(tmp_path, extra, complaint):
    path = write_scenario(tmp_path, "x", extra=extra)
    with pytest.raises(ScenarioError, match=re.escape(complaint)):
        load_scenario(str(path))


def test_an_expectation_chooses_the_criteria_that_judge_it(tmp_path):
    from hil.run import Run
    safe = load_scenario(str(write_scenario(tmp_path, "safe", extra='expect = "safe_state"\nexpect_within_s = 0.4\n'
                                                                   'timing = "realtime"')))
    assert safe.expected_verdict == "PASS" and safe.timing == "realtime"
    judged = {c.metric: c for c in Run.create(safe).criteria}
    assert {"link_lost_after_s", "link_lost_left"} <= set(judged) and judged["link_lost_after_s"].maximum == 0.4
    assert not {"rover_vz_at_contact_mps", "td_latency_s"} & set(judged)     # the landing is not judged
    no_cut = load_scenario(str(write_scenario(tmp_path, "no-cut", extra='expect = "no_early_cut"')))
    assert [c.metric for c in Run.create(no_cut).criteria][0] == "cut_before_contact"
    assert "rover_vz_at_contact_mps" not in {c.metric for c in Run.create(no_cut).criteria}
    assert len(Run.create("nominal").criteria) > 3
