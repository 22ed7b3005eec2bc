"""Run outputs: telemetry.csv (one row per control cycle) and summary.json."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

from hil.record import COLUMNS, cycle_row

TELEMETRY_FILE = "telemetry.csv"
SUMMARY_FILE = "summary.json"
_FLUSH_EVERY = 50  # rows; a crash or Ctrl-C loses at most this much, and close() flushes the rest


class TelemetryWriter:
    """Observer: streams cycle rows to CSV as they happen, so an interrupted run keeps what it flew."""

    def __init__(self, out_dir: Path) -> None:
        self.path = out_dir / TELEMETRY_FILE
        self._file = self.path.open("w", newline="")
        self._csv = csv.writer(self._file)
        self._csv.writerow(COLUMNS)
        self.rows = 0

    def observe(self, cycle: int, truth, sensors, command, retries: int, misses: int) -> None:
        self._csv.writerow(cycle_row(cycle, truth, sensors, command, retries, misses))
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
