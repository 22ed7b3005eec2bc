"""gcov counts of the firmware core, merged over every landing of one `hil land` or `hil test`.

The SIL's coverage build (make host-coverage: gcc --coverage) writes its counts (.gcda) when the
process exits, adding to the files it finds. Each recorder points the program at a folder of its
own with GCOV_PREFIX / GCOV_PREFIX_STRIP, so counts start from zero for every invocation, add up
over every landing and device restart within it (a process reset fault, a session restarting a
dead device), and never mix with another run's or with the build folder. The device is stopped
with SIGTERM, which the SIL turns into a return from main(), so exit() flushes the counts; a
SIGKILL (a program that ignored SIGTERM for 3 s) would lose that process's counts.

At the end, the build's notes files (.gcno) are copied next to the counts and `gcov
--json-format --stdout -b -c` reports them; only `firmware/core/` files are kept (the host port
is not the controller).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

from hil.coverage import model
from hil.errors import HilError
from hil.rig import Rig

SUBJECT_DIR = "core"          # the firmware core, relative to firmware_dir (and to gcov's paths)
GCOV_TIMEOUT_S = 120.0


class GcovRecorder:
    """Counts of one coverage SIL rig, kept in `folder/coverage-data`."""

    subject = "firmware/core"

    def __init__(self, rig: Rig, folder: Path) -> None:
        self.rig = rig
        self.firmware_dir = Path(rig.firmware_dir).resolve()
        program = Path(rig.command[0].replace("{firmware}", rig.firmware_dir))
        # The Makefile's layout: build/VARIANT/PROGRAM, objects (and .gcno notes) in build/VARIANT/obj.
        self.object_dir = (program.parent / "obj").resolve()
        self.data_dir = Path(folder).resolve() / "coverage-data"
        self.landings = 0
        self.device_starts = 0

    def begin(self) -> None:
        """Start from zero: no counts from an earlier invocation in this folder. The program's
        gcov runtime makes the folders when it first writes (a run folder stays empty until then)."""
        shutil.rmtree(self.data_dir, ignore_errors=True)

    def device_env(self) -> dict:
        """Where the program writes its counts: data_dir/<path below the object folder>."""
        return {"GCOV_PREFIX": str(self.data_dir), "GCOV_PREFIX_STRIP": str(len(self.object_dir.parts) - 1)}

    def device_started(self) -> None:
        """After a start (the build is done): the program must be a coverage build."""
        if not self._notes():
            raise HilError(f"rig {self.rig.name}: coverage = true, but {self.object_dir} holds no gcov notes "
                           "(.gcno) for firmware/core: the rig's make target must build with --coverage "
                           "(make host-coverage, rigs/sil-coverage.toml)")
        self.device_starts += 1

    def landed(self) -> None:
        self.landings += 1

    def cancel(self) -> None:
        """Nothing to stop: the counts stay in data_dir."""

    def _notes(self) -> list[Path]:
        core = self.object_dir / SUBJECT_DIR
        return sorted(core.rglob("*.gcno")) if core.is_dir() else []

    def collect(self) -> dict:
        """Run gcov over the counts so far (call after every device has stopped)."""
        gcov = shutil.which("gcov")
        if gcov is None:
            raise HilError("coverage: gcov is not installed (it comes with gcc)")
        notes = self._notes()
        if not notes:
            raise HilError(f"coverage: no gcov notes (.gcno) in {self.object_dir / SUBJECT_DIR}")
        with tempfile.TemporaryDirectory(prefix="hil-gcov-") as work:
            inputs = []
            for note in notes:
                relative = note.relative_to(self.object_dir)
                target = Path(work) / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(note, target)
                counts = self.data_dir / relative.with_suffix(".gcda")
                if counts.is_file():          # none: the code never ran; gcov reports it unexecuted
                    shutil.copy2(counts, target.with_suffix(".gcda"))
                inputs.append(str(target.with_suffix(".gcda")))
            try:
                done = subprocess.run([gcov, "--json-format", "--stdout", "-b", "-c", *inputs], check=False,
                                      cwd=self.firmware_dir, capture_output=True, text=True,
                                      timeout=GCOV_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                raise HilError(f"coverage: gcov took longer than {GCOV_TIMEOUT_S:g} s") from None
        if done.returncode != 0:
            lines = done.stderr.strip().splitlines() or ["(no output)"]
            raise HilError(f"coverage: gcov failed: {lines[-1]}")
        documents = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
        summary = summarise(documents, self.firmware_dir)
        summary.update(rig=self.rig.name, landings=self.landings, device_starts=self.device_starts,
                       counts=str(self.data_dir))
        return model.finish(summary)


def summarise(documents: list[dict], firmware_dir: Path) -> dict:
    """gcov's JSON documents (one per object) as a summary of the core's files (model.py)."""
    # (file, line, function) -> [count, branch counts]; a header's inline code may come from several objects.
    lines: dict[tuple[str, int, str], list] = {}
    functions: dict[tuple[str, str], dict] = {}
    version = ""
    for doc in documents:
        version = doc.get("gcc_version", version)
        for entry in doc["files"]:
            name = entry["file"]
            if not name.startswith(SUBJECT_DIR + "/"):
                continue
            for fn in entry["functions"]:
                kept = functions.setdefault((name, fn["name"]), {"name": fn["name"], "start_line": fn["start_line"],
                                                                  "end_line": fn["end_line"], "calls": 0})
                kept["calls"] += fn["execution_count"]
            for line in entry["lines"]:
                key = (name, line["line_number"], line.get("function_name", ""))
                branches = [b["count"] for b in line["branches"]]
                kept = lines.setdefault(key, [0, [0] * len(branches)])
                kept[0] += line["count"]
                if len(kept[1]) == len(branches):
                    kept[1] = [a + b for a, b in zip(kept[1], branches)]
                else:
                    kept[1] += branches
    files: dict[str, dict] = {}
    for name in sorted({key[0] for key in lines} | {key[0] for key in functions}):
        file_lines = {k[1:]: v for k, v in lines.items() if k[0] == name}
        counts: dict[int, int] = {}
        not_taken = []
        branch_total = branch_taken = 0
        for (number, _function), (count, branches) in sorted(file_lines.items()):
            counts[number] = counts.get(number, 0) + count
            branch_total += len(branches)
            branch_taken += sum(1 for b in branches if b > 0)
            not_taken += [{"line": number, "branch": i, "to": None} for i, b in enumerate(branches) if b == 0]
        entry_functions = []
        for (file_name, fn_name), fn in sorted(functions.items(), key=lambda item: item[1]["start_line"]):
            if file_name != name:
                continue
            own = [v for k, v in file_lines.items() if k[1] == fn_name]
            fn = dict(fn, lines=model.figure(sum(1 for c, _ in own if c > 0), len(own)),
                      branches=model.figure(sum(1 for _, bs in own for b in bs if b > 0), sum(len(bs) for _, bs in own)))
            entry_functions.append(fn)
        files[name] = {"source": str(firmware_dir / name),
                       "lines": model.figure(sum(1 for c in counts.values() if c > 0), len(counts)),
                       "branches": model.figure(branch_taken, branch_total),
                       "functions": entry_functions,
                       "line_counts": {str(n): c for n, c in sorted(counts.items())},
                       "unreached_lines": [n for n, c in sorted(counts.items()) if c == 0],
                       "branches_not_taken": not_taken}
    return {"subject": "firmware/core", "tool": f"gcov {version}".strip(), "files": files}
