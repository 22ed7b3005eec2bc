"""Rig files: which controller to fly against and how to reach it (passive, validated data)."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path

from hil import icd
from hil.errors import ConfigError

DEVICE_KINDS = ("loopback", "serial", "sil", "emulator")
_PROCESS_KINDS = ("sil", "emulator")
TIMING_MODES = ("lockstep", "realtime")
OVERRUN_ACTIONS = ("warn", "abort")
# Set by the rig's own fields, so a [controller] table may not set them.
_RIG_OWNED_CONFIG = ("timing_mode", "control_rate_hz")


@dataclass(frozen=True)
class Rig:
    """One bench setup. The defaults are the built-in loopback rig (rigs/loopback.toml)."""

    name: str = "loopback"
    description: str = "Python reference controller behind a virtual Modbus RTU device on a pty"
    kind: str = "loopback"          # loopback | serial | sil
    port: str = ""                  # any pyserial URL; serial kind only
    firmware_dir: str = ""          # sil/emulator: the firmware tree (relative paths: to the rig file)
    make: tuple = ()                # sil/emulator: arguments of `make -C firmware_dir` before starting
    command: tuple = ()             # sil/emulator: the program and its arguments; {firmware} = firmware_dir
    pty_pattern: str = r"^PTY (\S+)"  # sil/emulator: regex whose group 1 is the pty in the output
    baudrate: int = 115200
    unit: int = 1                   # Modbus unit (slave) address
    timeout_s: float = 0.5          # response timeout per transaction
    boot_wait_s: float = 0.0        # wait after opening the port (an Uno resets on open)
    timing: str = "lockstep"        # lockstep | realtime (docs/realtime.md)
    control_rate_hz: float = 50.0
    physics_rate_hz: float = 0.0    # plant substep rate; 0: the scenario's (500 Hz by default)
    # Real-time only: what counts as an overrun, what to do about it, and the loop's scheduling.
    overrun_ms: float = 1.0         # a physics step starting later than this is an overrun
    on_overrun: str = "warn"        # warn | abort
    abort_after_overruns: int = 0   # with abort: end the run at this many overruns (0: no limit)
    abort_lateness_ms: float = 0.0  # with abort: end the run at a step this late (0: no limit)
    grace_s: float = 0.5            # lateness before this plant time is not judged (start-up)
    rt_priority: int = 50           # SCHED_FIFO priority of the loop where allowed; 0: leave it alone
    pin_cpu: int = -1               # CPU the loop is pinned to; -1: the last one it may use
    controller: dict = field(default_factory=dict)  # config register overrides
    source: str = "built-in"


_TYPES = {"name": str, "description": str, "kind": str, "port": str, "baudrate": int, "unit": int,
          "timeout_s": float, "boot_wait_s": float, "timing": str, "control_rate_hz": float,
          "firmware_dir": str, "make": tuple, "command": tuple, "pty_pattern": str,
          "physics_rate_hz": float, "overrun_ms": float, "on_overrun": str, "abort_after_overruns": int,
          "abort_lateness_ms": float, "grace_s": float, "rt_priority": int, "pin_cpu": int}


def load_rig(path: str | Path) -> Rig:
    """Read and validate a rig file; every problem is one ConfigError line naming file and field."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"rig file not found: {path}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read rig file {path}: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: malformed TOML: {exc}") from None
    values: dict = {"source": str(path)}
    for key, value in data.items():
        if key == "controller":
            values["controller"] = check_controller_table(value, f"{path}: controller")
            continue
        if key not in _TYPES:
            raise ConfigError(f"{path}: unknown field {key!r} (known: {', '.join(sorted(_TYPES))}, controller)")
        values[key] = _typed(value, _TYPES[key], f"{path}: {key}")
    if values.get("firmware_dir"):
        values["firmware_dir"] = str((path.parent / values["firmware_dir"]).resolve())
    rig = Rig(**values)
    _check(rig, path)
    return rig


def _typed(value, kind: type, where: str):
    if kind is tuple:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{where} must be a list of strings, got {value!r}")
        return tuple(value)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise ConfigError(f"{where} must be {'a number' if kind in (int, float) else 'a string'}"
                          f"{' (whole)' if kind is int else ''}, got {value!r}")
    return value


def _check(rig: Rig, path: Path) -> None:
    if rig.kind not in DEVICE_KINDS:
        raise ConfigError(f"{path}: kind {rig.kind!r} is not one of {', '.join(DEVICE_KINDS)}")
    if rig.timing not in TIMING_MODES:
        raise ConfigError(f"{path}: timing {rig.timing!r} is not one of {', '.join(TIMING_MODES)}")
    if rig.on_overrun not in OVERRUN_ACTIONS:
        raise ConfigError(f"{path}: on_overrun {rig.on_overrun!r} is not one of {', '.join(OVERRUN_ACTIONS)}")
    if rig.physics_rate_hz and not (500.0 <= rig.physics_rate_hz <= 20000.0):
        raise ConfigError(f"{path}: physics_rate_hz must be 0 (the scenario's) or 500..20000, got {rig.physics_rate_hz:g}")
    if rig.physics_rate_hz and rig.physics_rate_hz < rig.control_rate_hz:
        raise ConfigError(f"{path}: physics_rate_hz {rig.physics_rate_hz:g} is below control_rate_hz {rig.control_rate_hz:g}")
    if not 0 <= rig.rt_priority <= 99:
        raise ConfigError(f"{path}: rt_priority must be 0..99 (0: normal scheduling), got {rig.rt_priority}")
    if rig.pin_cpu < -1:
        raise ConfigError(f"{path}: pin_cpu must be a CPU number or -1 (the last one allowed), got {rig.pin_cpu}")
    for name in ("overrun_ms",):
        if getattr(rig, name) <= 0:
            raise ConfigError(f"{path}: {name} must be positive, got {getattr(rig, name)}")
    for name in ("abort_after_overruns", "abort_lateness_ms", "grace_s"):
        if getattr(rig, name) < 0:
            raise ConfigError(f"{path}: {name} must not be negative, got {getattr(rig, name)}")
    if rig.kind == "serial" and not rig.port:
        raise ConfigError(f"{path}: port is required for kind 'serial' (a device path or pyserial URL)")
    if rig.kind in _PROCESS_KINDS:
        if not rig.firmware_dir:
            raise ConfigError(f"{path}: firmware_dir is required for kind '{rig.kind}' (e.g. \"../firmware\")")
        if not rig.command:
            raise ConfigError(f"{path}: command is required for kind '{rig.kind}' (the program and its arguments)")
        try:
            re.compile(rig.pty_pattern)
        except re.error as exc:
            raise ConfigError(f"{path}: pty_pattern is not a regular expression: {exc}") from None
    for name in ("baudrate", "timeout_s", "control_rate_hz"):
        if getattr(rig, name) <= 0:
            raise ConfigError(f"{path}: {name} must be positive, got {getattr(rig, name)}")
    if rig.boot_wait_s < 0:
        raise ConfigError(f"{path}: boot_wait_s must not be negative")
    if not 1 <= rig.unit <= 247:
        raise ConfigError(f"{path}: unit must be a Modbus address 1..247, got {rig.unit}")
    try:
        icd.check_config_value("control_rate_hz", rig.control_rate_hz)
    except ValueError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def check_controller_table(table, where: str) -> dict:
    """Validate a [controller] table of config-register overrides against the ICD limits."""
    if not isinstance(table, dict):
        raise ConfigError(f"{where} must be a table of config register values")
    checked = {}
    for name, value in table.items():
        if name in _RIG_OWNED_CONFIG:
            raise ConfigError(f"{where}.{name} is set by the rig's timing/control_rate_hz fields")
        try:
            checked[name] = icd.check_config_value(name, value)
        except KeyError:
            known = ", ".join(n for n in icd.CONFIG.names if n not in _RIG_OWNED_CONFIG)
            raise ConfigError(f"{where}: unknown config register {name!r} (known: {known})") from None
        except ValueError as exc:
            raise ConfigError(f"{where}.{exc}") from None
    return checked


def rig_fields() -> tuple[str, ...]:
    return tuple(f.name for f in fields(Rig))
