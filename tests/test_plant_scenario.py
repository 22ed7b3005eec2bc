"""Scenario loading: packaged scenarios, and one clear line per kind of bad input."""
import pytest

from plant import PlantParams, ScenarioError, list_scenarios, load_scenario

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


def test_packaged_scenarios_are_listed_and_load():
    listed = dict(list_scenarios())
    assert {"nominal", "curiosity"} <= set(listed)
    assert "Perseverance" in listed["nominal"]
    nominal = load_scenario("nominal")
    assert nominal.name == "nominal" and nominal.seed == 1 and nominal.max_time_s == 200.0
    assert nominal.initial.altitude_m == 2000.0 and nominal.initial.vz_mps == -80.0
    assert nominal.params == PlantParams()  # nominal spells out the defaults
    assert nominal.controller == {}
    assert load_scenario("curiosity").params.rover.mass_kg == 899.0


def test_path_loading_with_ints_for_floats_and_controller_passthrough(tmp_path):
    path = write(tmp_path, GOOD + 'seed = 4\n[plant]\nsubstep_hz = 1000\n[plant.rover]\n'
                 'mass_kg = 900\n[controller]\nkp = 2\nvz_target = -0.75\n', "ok.toml")
    scenario = load_scenario(path)
    assert scenario.params.rover.mass_kg == 900.0
    assert isinstance(scenario.params.rover.mass_kg, float)
    assert scenario.params.substep_hz == 1000.0
    assert scenario.controller == {"kp": 2.0, "vz_target": -0.75}
    assert scenario.seed == 4


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
    ("[plant.engine]\ntime_constant_s = 0.0001\n",
     "plant.engine.time_constant_s must be >= 0.5 / substep_hz for a stable RK4, got 0.0001"),
    ("[plant]\nsubstep_hz = 100\n", "plant.substep_hz must be >= 500, got 100.0"),
    ("[initial]\naltitude_m = -1\n", "initial.altitude_m must be positive, got -1.0"),
    ("max_time_s = 0\n", "max_time_s must be positive, got 0.0"),
    ("seed = 1.5\n", "seed must be an integer, got 1.5"),
    ("name = 3\n", "name must be a string, got 3"),
    ("[controller]\nkp = 'fast'\n", "controller.kp must be a number, got 'fast'"),
])
def test_bad_input_names_file_and_field(tmp_path, text, expected):
    path = write(tmp_path, GOOD + text)
    assert error_of(path) == f"{path}: {expected}"


def test_scenario_error_is_a_value_error():
    assert issubclass(ScenarioError, ValueError)
