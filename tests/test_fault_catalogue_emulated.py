"""Three catalogue fault scenarios on the emulated Arduino Uno (simavr): the firmware itself, not
a model of it, meets each scenario's documented expectation. A board reset mid-descent is among
them (simavr's core reset), with a line cut on the wire (the link proxy) and an engine out."""

import pytest

from hil.rig import load_rig
from hil.run import NO_FILES, Run
from hil.session import Session
from plant.scenario import load_scenario
from tests.conftest import ROOT
from tests.test_emulated import needs_avr

pytestmark = [pytest.mark.timeout(600), needs_avr]

ON_THE_UNO = ["fault-board-reset", "fault-link-cut", "fault-engine-out"]


@pytest.fixture(scope="module")
def uno():
    with Session(load_rig(ROOT / "rigs" / "emu-uno.toml")) as session:
        yield session


@pytest.mark.parametrize("name", ON_THE_UNO)
def test_a_catalogue_fault_on_the_emulated_uno_lands_as_documented(uno, name):
    scenario = load_scenario(name)
    result = uno.fly(Run.create(scenario, outputs=NO_FILES))
    assert result.error is None, result.error
    assert result.verdict == scenario.expected_verdict, result.failed_criteria()
    applied = [f for f in result.faults if f["applied"]]
    assert len(applied) == len(scenario.faults)
    if name == "fault-board-reset":
        assert applied[0]["rig"]["method"] == "simavr core reset"
