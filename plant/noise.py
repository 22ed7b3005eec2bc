"""The plant's random numbers: one stream per noise source, each drawing one kind of variate.

A landing's generator (seeded with the run's seed) is split with Generator.spawn into independent
streams. numpy draws are sequential: k draws and then m draws give the same numbers as k + m at
once. So a stream that only ever draws one kind of variate in a fixed pattern per event can be
consumed one event at a time (the scalar Plant) or a block of events ahead (plant/batch.py), and
every landing of a batch gets exactly the numbers its scalar landing draws."""
import numpy as np

WIND = 0          # normals: 2 at the start if gusty, then 2 per gust update
RADAR_NOISE = 1   # normals: 6 per measurement (vx, vy, vz, then the three beam ranges)
RADAR_EVENTS = 2  # uniforms: 3 beam scale errors at the start, then 5 per measurement
IMU = 3           # normals: 3 for the bias at the start, then 3 per read
STREAMS = 4


def split(rng: np.random.Generator) -> list[np.random.Generator]:
    """The landing's streams, in the order of the constants above."""
    return rng.spawn(STREAMS)


def landing_streams(seed: int) -> list[np.random.Generator]:
    """The streams of the landing flown with this seed (as hil/flight.py seeds its plant)."""
    return split(np.random.default_rng(seed))
