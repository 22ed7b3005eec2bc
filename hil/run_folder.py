"""A run folder made safe to write: created, never mixed with an earlier run's files.

A folder that already holds files is refused unless the caller asks to replace it; then only
the files a run writes are removed (a folder holding anything else is still refused, so a
mistyped --out never empties a folder of the user's). Every problem is one ConfigError line.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from hil.errors import ConfigError

# What a run (or `hil compare`, whose folder holds a run folder per rig) writes; `hil replay` writes
# replay.json into a folder of its own, by default inside the run folder it replayed.
RUN_FILES = frozenset({"telemetry.csv", "timing.csv", "summary.json", "landing.png", "timing.png", "report.html",
                       "compare.json", "compare.png", "replay.json", "coverage.json", "coverage.html"})
# A coverage SIL's counts (coverage-data/**/*.gcda, hil/coverage/gcov.py).
RUN_SUFFIXES = (".gcda",)


def prepare(folder: Path, *, replace: bool, what: str = "run folder") -> Path:
    """Make `folder` an empty directory to write a run into; ConfigError naming it otherwise."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"{what} {folder} is a file, not a folder")
    if folder.is_dir():
        present = list(folder.iterdir())
        if present and not replace:
            raise ConfigError(f"{what} {folder} is not empty (an earlier run?); choose another folder or "
                              "replace it (--replace)")
        strangers = [p.name for p in present if not _run_output(p)]
        if strangers:
            raise ConfigError(f"{what} {folder} holds files no run writes ({', '.join(sorted(strangers)[:3])}); "
                              "not replacing it")
        for path in present:
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except NotADirectoryError:
        raise ConfigError(f"{what} {folder}: a part of the path is a file, not a folder") from None
    except PermissionError:
        raise ConfigError(f"{what} {folder}: permission denied") from None
    except OSError as exc:
        raise ConfigError(f"{what} {folder}: cannot create it ({exc.strerror})") from None
    probe = folder / ".hil-write-test"
    try:
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise ConfigError(f"{what} {folder} is not writable ({exc.strerror})") from None
    return folder


def _run_output(path: Path) -> bool:
    if path.is_dir():  # a compare folder's per-rig run folders
        return all(_run_output(p) for p in path.iterdir())
    return path.name in RUN_FILES or path.suffix in RUN_SUFFIXES
