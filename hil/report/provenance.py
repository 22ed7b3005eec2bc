"""Where a result came from: package version, git revision, Python, and a run's rig and device.

Every field fails soft: a report is written after the landing, so a missing git or a folder that
is not a work tree gives "unknown", never an exception.
"""

from __future__ import annotations

import functools
import platform
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import hil
from hil import icd

UNKNOWN = "unknown"
_PACKAGE_DIR = Path(hil.__file__).resolve().parent


def package_provenance() -> dict[str, str]:
    """The host side of any report: package version, git revision, Python, when it was written."""
    return {
        "skycrane-hil": hil.__version__,
        "git revision": git_revision(),
        "python": platform.python_version(),
        "report written": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"),
    }


@functools.lru_cache(maxsize=1)
def git_revision() -> str:
    """`git rev-parse --short HEAD` of the package's work tree (a source checkout), else of the
    current directory's; "+dirty" when tracked files have changes; "unknown" when neither is a
    work tree or git is missing. Cached: a suite asks once per landing."""
    package_tracked = _git(_PACKAGE_DIR, "ls-files", "--error-unmatch", "__init__.py") is not None
    for folder in ([_PACKAGE_DIR] if package_tracked else []) + [Path.cwd()]:
        revision = _git(folder, "rev-parse", "--short", "HEAD")
        if revision:
            dirty = _git(folder, "status", "--porcelain", "--untracked-files=no")
            return f"{revision}+dirty" if dirty else revision
    return UNKNOWN


def _git(folder: Path, *args: str) -> str | None:
    """A git command's output in `folder`, or None when it fails for any reason."""
    try:
        done = subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def run_provenance(result) -> list[tuple[str, str]]:
    """A run's provenance as (field, value) rows: host, rig, device identity, what was flown."""
    summary, rig = result.summary or {}, result.rig
    device = summary.get("device") or result.identity or {}
    versions = summary.get("versions") or {}
    rows = list(package_provenance().items())
    rows += [(name, versions[name]) for name in ("pymodbus", "numpy") if name in versions]
    rows += [
        ("rig", f"{rig.name} ({rig.kind}, {rig.timing})"),
        ("rig file", rig.source),
        ("device kind", f"{device.get('device_kind_name', UNKNOWN)} ({device.get('device_kind', '?')})"),
        ("build id", device.get("build_id", UNKNOWN)),
        ("ICD version", device.get("icd_version", UNKNOWN)),
        ("layout hash", _hex(device.get("layout_hash"))),
        ("host ICD", f"version {icd.ICD_VERSION}, layout hash {_hex(icd.LAYOUT_HASH)}"),
    ]
    if device.get("image"):
        rows.append(("firmware image", device["image"]))
    if device.get("image_sha256"):
        rows.append(("image sha256", device["image_sha256"]))
    overrides = summary.get("controller_overrides", dict(result.run.controller))
    rows += [
        ("scenario", result.run.scenario.name),
        ("seed", result.seed),
        ("controller overrides", ", ".join(f"{k} = {v:g}" if isinstance(v, (int, float)) else f"{k} = {v}"
                                           for k, v in sorted(overrides.items())) or "none"),
        ("run folder", result.out_dir if result.out_dir is not None else "none (nothing written)"),
    ]
    return [(name, str(value)) for name, value in rows]


def _hex(value) -> str:
    return f"0x{value:08X}" if isinstance(value, int) else (str(value) if value else UNKNOWN)
