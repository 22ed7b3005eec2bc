"""Shared helpers for the tests: scenario files and a served controller on a pty."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from hil.devices.controller_registers import ControllerRegisters
from hil.devices.pty_pair import open_pty_pair
from hil.devices.rtu_server import RtuServer
from hil.reference import ReferenceController

pytest_plugins = ["pytester"]  # tests/test_pytest_plugin.py runs pytest on small test files

ROOT = Path(__file__).resolve().parents[1]
HIL = [sys.executable, "-m", "hil.cli"]


def write_scenario(tmp_path: Path, name: str, controller: dict | None = None, extra: str = "") -> Path:
    """A scenario file: the nominal plant, with optional [controller] overrides."""
    lines = [f'name = "{name}"', f'description = "test scenario {name}"', "seed = 1", extra]
    if controller:
        lines.append("[controller]")
        lines += [f"{k} = {v}" for k, v in controller.items()]
    path = tmp_path / f"{name}.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def write_rig(tmp_path: Path, body: str, name: str = "rig.toml") -> Path:
    path = tmp_path / name
    path.write_text(body)
    return path


@pytest.fixture
def served_controller():
    """A reference controller served on a pty by the real RTU server; yields (path, registers)."""
    registers = ControllerRegisters(ReferenceController(), device_kind=1, build_id=1)
    fd, path = open_pty_pair()
    server = RtuServer(registers, unit=1)
    server.start(fd)
    yield path, registers, server
    server.stop()
    os.close(fd)


# Real-time landings in the tests: a short flight and the criteria a shared CI machine can hold
# (tests/test_realtime_landing.py explains the overrun allowance).
REALTIME_MAX_OVERRUNS = 200  # 1 % of the physics steps of the short landing


@pytest.fixture
def realtime_criteria(tmp_path):
    path = tmp_path / "ci-criteria.toml"
    path.write_text(f"[overruns]\nmax = {REALTIME_MAX_OVERRUNS}\nwhy = 'a shared CI machine'\n")
    return str(path)


@pytest.fixture
def short_landing(tmp_path):
    """40 m, 3 m/s down: separation, touchdown and flyaway in about 43 s."""
    from plant.scenario import load_scenario
    return load_scenario(str(write_scenario(tmp_path, "short", extra="max_time_s = 80\n[initial]\n"
                                            "altitude_m = 40.0\nvz_mps = -3.0\n")))


@pytest.fixture(params=["python", "c"])
def implementation(request):
    """Runs a contract test over the Python reference device and the C core (tests/contract.py)."""
    import shutil
    if request.param == "c" and (shutil.which("make") is None or shutil.which("gcc") is None):
        pytest.skip("the C core needs make and gcc")
    return request.param
