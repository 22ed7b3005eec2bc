"""Plant events and modes: each event once, in order, with times; a scripted whole landing."""
import math
import time
from collections import Counter
from dataclasses import replace

import numpy as np
import pytest

from plant import InitialConditions, Plant, PlantParams, load_scenario
from plant.events import EVENT_NAMES
from plant.params import TerrainParams

pytestmark = pytest.mark.timeout(60)

G = 3.711


def hovering_pair(altitude_m: float = 200.0) -> tuple[Plant, float]:
    """A plant whose engines hold DS + rover weight exactly (no mass flow)."""
    params = PlantParams()
    params = replace(params, engine=replace(params.engine, isp_s=1e15),
                     environment=replace(params.environment, density_kg_m3=0.0))
    hover = (850.0 + 401.0 + 1025.0) * G / (8 * 3300.0)
    plant = Plant(params, InitialConditions(altitude_m=altitude_m, vz_mps=0.0, throttle=hover),
                  np.random.default_rng(0))
    return plant, hover


def names(plant: Plant) -> list[str]:
    return [event.name for event in plant.events]


def test_separate_and_cut_latch_and_record_once():
    plant, hover = hovering_pair()
    plant.advance(1.0)
    plant.apply(hover, 0.0, 0.0, True, False)
    t_sep = plant.t
    for _ in range(20):  # a held or repeated command must not re-fire
        plant.apply(hover, 0.0, 0.0, True, False)
        plant.advance(0.1)
    plant.apply(hover, 0.0, 0.0, False, False)  # latched: releasing the flag does nothing
    assert plant.truth().separated
    plant.advance(1.0)
    plant.apply(hover, 0.0, 0.0, False, True)
    t_cut = plant.t
    plant.apply(hover, 0.0, 0.0, True, True)
    assert names(plant) == ["rover_separation", "bridle_cut"]
    assert plant.event_time("rover_separation") == pytest.approx(t_sep) == pytest.approx(1.0)
    assert plant.event_time("bridle_cut") == pytest.approx(t_cut)
    assert plant.event_time("bridles_full") is None


def test_cut_before_separation_does_both():
    plant, hover = hovering_pair()
    plant.apply(hover, 0.0, 0.0, False, True)
    assert names(plant) == ["rover_separation", "bridle_cut"]
    assert plant.events[0].t == plant.events[1].t == 0.0
    truth = plant.truth()
    assert truth.separated and truth.cut


def test_bridles_full_after_payout():
    # 7.5 m at the brake's 0.75 m/s: 10 s after separation, plus the ~0.1 s the falling rover
    # takes to load the line enough to turn the spool at full speed.
    plant, hover = hovering_pair()
    plant.apply(hover, 0.0, 0.0, True, False)
    plant.advance(12.0)
    assert plant.event_time("bridles_full") == pytest.approx(10.1, abs=0.05)
    assert plant.truth().bridle_length_m == 7.5
    assert names(plant).count("bridles_full") == 1


def test_ds_ground_contact_ends_the_run():
    # Both bodies dropped from 10 m with the rover cut loose; the DS falls 10 m from rest.
    params = PlantParams()
    params = replace(params, environment=replace(params.environment, density_kg_m3=0.0))
    plant = Plant(params, InitialConditions(altitude_m=10.0, vz_mps=0.0), np.random.default_rng(0))
    plant.apply(0.0, 0.0, 0.0, False, True)
    plant.advance(10.0)
    assert plant.ended
    t_end = plant.t
    assert t_end == pytest.approx(math.sqrt(2 * 10.0 / G), abs=2e-3)
    event = plant.events[-1]
    assert event.name == "ds_ground_contact" and event.t == t_end
    assert event.data["vz"] == pytest.approx(-math.sqrt(2 * G * 10.0), abs=0.01)
    assert event.data["vx"] == 0.0 and event.data["vy"] == 0.0
    # The rover, 1.1 m lower, touched first; its velocity is taken at the crossing instant,
    # before the contact force acts (tolerance: rounding).
    assert plant.first_contact["vz"] == pytest.approx(-math.sqrt(2 * G * 8.9), rel=1e-9)
    plant.advance(5.0)  # nothing moves after the end
    assert plant.t == t_end
    assert names(plant).count("ds_ground_contact") == 1


def test_ds_ground_contact_on_a_slope_and_contact_velocity_along_the_normal():
    # Dropped from rest 10 m above a 15 deg slope: the wheels reach the plane when the rover
    # has fallen 8.9 m vertically, whatever the slope (the point contact is at the rover's x, y).
    params = PlantParams(terrain=TerrainParams(height_m=100.0, slope_deg=15.0,
                                               slope_azimuth_deg=120.0))
    params = replace(params, environment=replace(params.environment, density_kg_m3=0.0))
    plant = Plant(params, InitialConditions(altitude_m=10.0, vz_mps=0.0, x_m=5.0, y_m=-3.0),
                  np.random.default_rng(0))
    assert plant.truth().ds_height_m == pytest.approx(10.0)
    plant.apply(0.0, 0.0, 0.0, False, True)
    plant.advance(10.0)
    assert plant.ended
    assert plant.first_contact["vz"] == pytest.approx(-math.sqrt(2 * G * 8.9), rel=1e-9)
    assert plant.first_contact["vx"] == 0.0 and plant.first_contact["vy"] == 0.0
    truth = plant.truth()
    assert truth.ds_height_m <= 0.0 and truth.ds_height_m > -0.1


def test_first_contact_while_attached():
    # A stack landed without separating stands on the rover's wheels: contact is recorded.
    plant = Plant(PlantParams(), InitialConditions(altitude_m=3.0, vz_mps=-0.5),
                  np.random.default_rng(0))
    plant.apply(0.0, 0.0, 0.0, False, False)
    plant.advance(3.0)
    assert names(plant) == ["rover_contact"]
    assert plant.first_contact["vz"] < -0.5 and not plant.ended
    assert plant.truth().rover_normal_force_n > 0.0


def guidance(plant: Plant, memory: dict) -> tuple[float, float, float, bool, bool]:
    """A crude truth-fed descent law (test scaffolding only, not flight software)."""
    truth = plant.truth()
    mass = truth.ds_mass_kg + (0.0 if truth.cut else plant.params.rover.mass_kg)
    full = 8 * 3300.0 * plant.params.engine.thrust_bias
    if truth.cut:
        flying = plant.t - memory["cut_t"] < 2.0
        return (1.0 if flying else 0.0), (0.6 if flying else 0.0), 0.0, False, True
    vz_ref = -min(80.0, 0.75 + math.sqrt(6.0 * max(truth.ds_height_m - 20.0, 0.0)))
    tilt_x = math.atan(-0.5 * truth.ds_vx / G)
    tilt_y = math.atan(-0.5 * truth.ds_vy / G)
    vertical = 1.0 / math.sqrt(1.0 + math.tan(tilt_x) ** 2 + math.tan(tilt_y) ** 2)
    throttle = mass * (G + 2.0 * (vz_ref - truth.ds_vz)) / (full * vertical)
    separate = truth.separated or (truth.ds_height_m < 20.5 and abs(truth.ds_vz + 0.75) < 0.1)
    if plant.event_time("bridles_full") is not None and truth.rover_normal_force_n > 0.5 * mass * G:
        memory.setdefault("contact_t", plant.t)
    if "contact_t" in memory and plant.t - memory["contact_t"] >= 1.0:
        memory["cut_t"] = plant.t
        return throttle, 0.0, 0.0, True, True
    return throttle, tilt_x, tilt_y, separate, False


@pytest.mark.parametrize("name", ["nominal", "curiosity", "gusty", "slope-15", "thrust-bias-high",
                                  "radar-dust", "heavy-rover"])
def test_scripted_landing_events_in_order_each_once(name):
    # The full model (sensors sampled every cycle as the host does) within the 5 s budget.
    scenario = load_scenario(name)
    plant = Plant(scenario.params, scenario.initial, np.random.default_rng(scenario.seed))
    memory: dict = {}
    started = time.perf_counter()
    while not plant.ended and plant.t < scenario.max_time_s:
        plant.sense()
        plant.apply(*guidance(plant, memory))
        plant.advance(0.02)
    wall = time.perf_counter() - started
    assert plant.ended
    assert names(plant) == ["rover_separation", "bridles_full", "rover_contact", "bridle_cut",
                            "ds_ground_contact"]
    assert set(Counter(names(plant))) <= set(EVENT_NAMES)
    times = [event.t for event in plant.events]
    assert times == sorted(times)
    contact = plant.events[2]
    assert plant.first_contact == {"t": contact.t, "vx": contact.data["vx"],
                                   "vy": contact.data["vy"], "vz": contact.data["vz"]}
    assert -1.0 < plant.first_contact["vz"] < 0.0  # gentle, inside the 1 m/s envelope
    assert math.hypot(plant.first_contact["vx"], plant.first_contact["vy"]) < 0.5
    assert 8.0 < contact.t - plant.event_time("rover_separation") < 20.0
    # ~65 s simulated with its guidance must fit the 5 s budget with a wide margin.
    assert wall < 5.0
