"""An example of a team's own tests on skycrane-hil's pytest plugin.

Run it against any rig:

    pytest examples/ --rig mil                  # the reference controller, in-process, fastest
    pytest examples/ --rig rigs/sil.toml        # our C firmware built for this computer
    pytest examples/ --rig rigs/emu-uno.toml --junitxml=results.xml --hil-report=report.html

The `land` fixture flies one landing and fails the test with the failing criteria when the
verdict is not the one expected; a rig that cannot be reached is a pytest error, not a failure.
"""

import numpy as np
import pytest


@pytest.mark.requirement("TEAM-TD-001")
def test_nominal_touchdown_is_gentle(land):
    result = land("nominal", seed=3)
    assert result.metrics["rover_vz_at_contact_mps"] < 0.9

    # The whole trajectory is in memory: the rover never climbs after it touches the ground.
    rec = result.record
    on_ground = rec["truth_t"] >= result.metrics["contact_time_s"]
    assert np.all(rec["truth_rover_vz"][on_ground] <= 0.05)


@pytest.mark.requirement("TEAM-TUNE-007")
@pytest.mark.parametrize("kp_vz", [3.0, 5.0])
def test_retuned_velocity_loop_still_lands(land, kp_vz):
    land("curiosity", controller={"kp_vz": kp_vz})


def test_a_controller_that_never_declares_touchdown_is_caught(land):
    result = land("nominal", controller={"td_enable": 0}, expect="FAIL")
    assert "td_latency_s" in {row["metric"] for row in result.failed_criteria()}


@pytest.mark.needs("realtime")
def test_command_age_stays_within_two_control_periods(land):
    result = land("terminal-descent")
    assert result.metrics["command_age_p99_ms"] <= 40.0
