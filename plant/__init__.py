"""Sky-crane landing plant: physics only, no I/O and no wall clock."""
from plant.dispersion import Dispersion
from plant.events import Event
from plant.model import Plant
from plant.params import InitialConditions, PlantParams
from plant.scenario import Scenario, ScenarioError, disperse, list_scenarios, load_scenario
from plant.sensors import SensorFrame
from plant.truth import Truth

__all__ = ["Dispersion", "Event", "InitialConditions", "Plant", "PlantParams", "Scenario",
           "ScenarioError", "SensorFrame", "Truth", "disperse", "list_scenarios", "load_scenario"]
