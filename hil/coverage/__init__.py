"""Coverage of the controller's code over every landing of one `hil land` or `hil test`.

A rig with `coverage = true` gets a recorder: gcov counts for a `sil` rig built with --coverage
(gcov.py), coverage.py for the reference controller on a `mil` rig (python.py). The session
tells it each device start and landing; at the end `write()` leaves coverage.json and
coverage.html in the folder and returns the summary (model.py; docs/coverage.md).

    recorder = recorder_for(rig, folder)      # None: the rig measures nothing
    recorder.begin()                          # from zero
    Session(rig, coverage=recorder) ...       # every landing adds up
    summary = write(recorder, folder)         # after every device has stopped
"""

from __future__ import annotations

import json
from pathlib import Path

from hil.coverage.model import concept_table, text_summary
from hil.rig import Rig

JSON_FILE = "coverage.json"
HTML_FILE = "coverage.html"

__all__ = ["HTML_FILE", "JSON_FILE", "concept_table", "load", "recorder_for", "text_summary", "write"]


def recorder_for(rig: Rig, folder: Path):
    """The rig's coverage recorder (its counts under `folder`), or None when it measures nothing."""
    if not rig.coverage:
        return None
    if rig.kind == "mil":
        from hil.coverage.python import PythonRecorder
        return PythonRecorder(rig, Path(folder))
    from hil.coverage.gcov import GcovRecorder
    return GcovRecorder(rig, Path(folder))


def write(recorder, folder: Path) -> dict:
    """Collect the recorder's figures and write coverage.json and coverage.html into `folder`."""
    from hil.report.coverage_page import write_coverage_page
    summary = recorder.collect()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / JSON_FILE).write_text(json.dumps(summary, indent=1) + "\n")
    write_coverage_page(summary, folder / HTML_FILE)
    return summary


def load(path: str | Path) -> dict:
    """A coverage.json (or the folder holding one)."""
    from hil.errors import ConfigError
    path = Path(path)
    if path.is_dir():
        path = path / JSON_FILE
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"coverage file not found: {path}") from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read coverage file {path}: {exc}") from None
    if not isinstance(data, dict) or not {"subject", "totals", "concepts", "files"} <= data.keys():
        raise ConfigError(f"{path} is not a coverage.json written by hil (no subject, totals, concepts, files)")
    return data
