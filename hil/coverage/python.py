"""coverage.py of the Python reference controller (hil/reference/) on an in-process MIL rig.

The reference controller runs in this process on the `mil` rig, so coverage.py (branch mode,
in memory, only hil/reference/) measures it from the first landing to the last of one `hil
land` or `hil test`. Its JSON report is turned into the same summary as the firmware's gcov
counts (model.py), so the two controllers compare concept by concept. coverage.py counts a line
as reached or not (no counts); line_counts are 1 and 0.

The package is usually imported before measuring begins (checking a rig's device imports it), so
coverage.py would call its module-level lines (imports, constants, def and class lines) unreached;
they ran at import, which every landing needs, so they count as reached.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from hil.coverage import model
from hil.errors import HilError
from hil.rig import Rig

REFERENCE_DIR = Path(__file__).resolve().parents[1] / "reference"


class PythonRecorder:
    """coverage.py over hil/reference/ for one invocation (in memory: nothing left behind)."""

    subject = "hil/reference"

    def __init__(self, rig: Rig, folder: Path) -> None:
        self.rig = rig
        self.landings = 0
        self.device_starts = 0
        self._coverage = None

    def begin(self) -> None:
        try:
            import coverage
        except ImportError:
            raise HilError(f"rig {self.rig.name}: coverage = true on a mil rig needs coverage.py "
                           "(pip install coverage, or the package's test extras)") from None
        self._coverage = coverage.Coverage(data_file=None, branch=True, include=[str(REFERENCE_DIR / "*.py")])
        self._coverage.start()

    def device_env(self) -> None:
        return None

    def device_started(self) -> None:
        self.device_starts += 1

    def landed(self) -> None:
        self.landings += 1

    def cancel(self) -> None:
        """Stop measuring without a report (the invocation failed)."""
        if self._coverage is not None:
            self._coverage.stop()

    def collect(self) -> dict:
        """Stop measuring and summarise."""
        self._coverage.stop()
        import coverage
        with tempfile.TemporaryDirectory(prefix="hil-pycov-") as work:
            report = Path(work) / "coverage.json"
            try:
                self._coverage.json_report(outfile=str(report))
            except coverage.exceptions.NoDataError:
                raw = {"files": {}}
            else:
                raw = json.loads(report.read_text())
        summary = summarise(raw, coverage.__version__)
        summary.update(rig=self.rig.name, landings=self.landings, device_starts=self.device_starts)
        return model.finish(summary)


def summarise(raw: dict, version: str) -> dict:
    """coverage.py's JSON report (format 3) as a summary (model.py)."""
    files = {}
    for path, entry in sorted(raw["files"].items()):
        name = f"hil/reference/{Path(path).name}"
        executed, missing = set(entry["executed_lines"]), set(entry["missing_lines"])
        module_level = entry.get("functions", {}).get("", {})
        at_import = set(module_level.get("missing_lines", ()))      # ran at import (module docstring)
        executed, missing = executed | at_import, missing - at_import
        functions = []
        for fn_name, fn in entry.get("functions", {}).items():
            own = sorted(set(fn["executed_lines"]) | set(fn["missing_lines"]))
            if not own and fn_name == "":
                continue
            s = fn["summary"]
            reached = len(set(fn["executed_lines"]) | at_import) if fn_name == "" else s["covered_lines"]
            functions.append({"name": fn_name, "start_line": fn.get("start_line") or (own[0] if own else 0),
                              "end_line": own[-1] if own else 0, "calls": None,
                              "lines": model.figure(reached, s["num_statements"]),
                              "branches": model.figure(s.get("covered_branches", 0), s.get("num_branches", 0))})
        functions.sort(key=lambda fn: fn["start_line"])
        s = entry["summary"]
        counts = {n: 1 for n in executed} | {n: 0 for n in missing}
        files[name] = {"source": str(REFERENCE_DIR / Path(path).name),
                       "lines": model.figure(len(executed), len(executed | missing)),
                       "branches": model.figure(s.get("covered_branches", 0), s.get("num_branches", 0)),
                       "functions": functions,
                       "line_counts": {str(n): c for n, c in sorted(counts.items())},
                       "unreached_lines": sorted(missing),
                       "branches_not_taken": [{"line": a, "branch": None, "to": b}
                                              for a, b in entry.get("missing_branches", [])]}
    return {"subject": "hil/reference", "tool": f"coverage.py {version}", "files": files}
