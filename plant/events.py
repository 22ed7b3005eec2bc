"""Discrete plant events: what happened and when, each recorded at most once."""
from dataclasses import dataclass, field

ROVER_SEPARATION = "rover_separation"
BRIDLES_FULL = "bridles_full"
ROVER_CONTACT = "rover_contact"
BRIDLE_CUT = "bridle_cut"
DS_GROUND_CONTACT = "ds_ground_contact"
PROPELLANT_OUT = "propellant_out"

EVENT_NAMES = (ROVER_SEPARATION, BRIDLES_FULL, ROVER_CONTACT, BRIDLE_CUT,
               DS_GROUND_CONTACT, PROPELLANT_OUT)


@dataclass(frozen=True)
class Event:
    """One event: its name, simulated time (s) and a few numbers describing it."""

    name: str
    t: float
    data: dict = field(default_factory=dict)
