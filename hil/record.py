"""The per-cycle record of a landing, in memory: one row per control cycle, columns as numpy arrays.

A row is what telemetry.csv holds, under the same column names: `cycle`, `state_name`, the
plant truth (`truth_*`), the sensor frame the controller got (`sensor_*`), the command block
it answered (`cmd_*`), and the failed exchanges before it (`link_retries` in lockstep,
`link_misses` in real time; hil/link_policy.py). A test asserts on a trajectory with `result.record["truth_rover_vz"]`
instead of reading the CSV back.
"""

from __future__ import annotations

from dataclasses import fields
from operator import attrgetter

import numpy as np

from hil import icd
from plant.sensors import SensorFrame
from plant.truth import Truth

_STATE_NAMES = {s.value: s.name for s in icd.ControllerState}
TRUTH_NAMES = tuple(f.name for f in fields(Truth))
SENSOR_NAMES = tuple(f.name for f in fields(SensorFrame))
COLUMNS = (("cycle", "state_name") + tuple(f"truth_{n}" for n in TRUTH_NAMES)
           + tuple(f"sensor_{n}" for n in SENSOR_NAMES) + tuple(f"cmd_{n}" for n in icd.COMMANDS.names)
           + ("link_retries", "link_misses"))
_truth_values = attrgetter(*TRUTH_NAMES)
_sensor_values = attrgetter(*SENSOR_NAMES)


def cycle_row(cycle: int, truth, sensors, command, retries: int, misses: int) -> tuple:
    """One cycle as a row in COLUMNS order."""
    return (cycle, _STATE_NAMES.get(command.state, "?"), *_truth_values(truth), *_sensor_values(sensors),
            *command, retries, misses)


class Record:
    """Columns of a landing's cycles. `record[name]` is a numpy array (`state_name`: strings)."""

    def __init__(self, rows: list[tuple]) -> None:
        self._rows = rows
        self._columns: dict[str, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, name: str) -> bool:
        return name in COLUMNS

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self._columns:
            try:
                index = COLUMNS.index(name)
            except ValueError:
                raise KeyError(f"no column {name!r} in a landing record (see hil.record.COLUMNS)") from None
            values = [row[index] for row in self._rows]
            self._columns[name] = np.array(values, dtype=object if name == "state_name" else float)
        return self._columns[name]

    @property
    def names(self) -> tuple[str, ...]:
        return COLUMNS

    def rows(self) -> list[tuple]:
        return self._rows

    def columns(self, names=COLUMNS) -> dict[str, np.ndarray]:
        """A dict of the named columns (all of them by default)."""
        return {name: self[name] for name in names}


class CycleRecorder:
    """Observer: keeps every cycle's row in memory."""

    def __init__(self) -> None:
        self.rows: list[tuple] = []

    def observe(self, cycle: int, truth, sensors, command, retries: int, misses: int) -> None:
        self.rows.append(cycle_row(cycle, truth, sensors, command, retries, misses))

    def record(self) -> Record:
        return Record(self.rows)
