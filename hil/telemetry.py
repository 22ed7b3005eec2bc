"""Run outputs: telemetry.csv (one row per control cycle) and summary.json."""

from __future__ import annotations

import csv
import json
import math
from dataclasses import astuple, fields
from pathlib import Path

from hil import icd

TELEMETRY_FILE = "telemetry.csv"
SUMMARY_FILE = "summary.json"
_STATES = set(icd.ControllerState)
_FLUSH_EVERY = 50  # rows; a crash or Ctrl-C loses at most this much, and close() flushes the rest


class TelemetryWriter:
    """Streams cycle rows to CSV as they happen, so an interrupted run keeps what it flew."""

    def __init__(self, out_dir: Path, truth_cls, sensor_cls) -> None:
        self.path = out_dir / TELEMETRY_FILE
        self._file = self.path.open("w", newline="")
        self._csv = csv.writer(self._file)
        self._truth_names = [f.name for f in fields(truth_cls)]
        self._sensor_names = [f.name for f in fields(sensor_cls)]
        self._csv.writerow(["cycle", "state_name"]
                           + [f"truth_{n}" for n in self._truth_names]
                           + [f"sensor_{n}" for n in self._sensor_names]
                           + [f"cmd_{n}" for n in icd.COMMANDS.names])
        self.rows = 0

    def record(self, cycle: int, truth, sensors, command) -> None:
        state = icd.ControllerState(command.state).name if command.state in _STATES else "?"
        self._csv.writerow([cycle, state, *astuple(truth), *astuple(sensors), *command])
        self.rows += 1
        if self.rows % _FLUSH_EVERY == 0:
            self._file.flush()

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()


def json_safe(value):
    """NaN and infinity are not JSON: write them as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def write_summary(out_dir: Path, summary: dict) -> Path:
    path = out_dir / SUMMARY_FILE
    path.write_text(json.dumps(json_safe(summary), indent=2) + "\n")
    return path


def read_telemetry(path: Path) -> dict[str, list]:
    """Columns of a telemetry CSV as lists (numbers as float, state names as str)."""
    with path.open(newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        columns: dict[str, list] = {name: [] for name in header}
        for row in reader:
            for name, cell in zip(header, row):
                columns[name].append(_cell(cell))
    return columns


def _cell(text: str):
    if text in ("True", "False"):
        return 1.0 if text == "True" else 0.0
    try:
        return float(text)
    except ValueError:
        return text
