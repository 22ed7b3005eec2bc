"""Rig files: which controller to fly against and how to reach it (validated data).

Built in: `loopback` (the reference controller on a pty, the default) and `mil` (its register
bank called in-process). A rig file names programs to build and run (`make`, `command`), so it
is trusted input, like a Makefile.
"""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path

from hil import icd
from hil.errors import ConfigError

DEVICE_KINDS = ("loopback", "mil", "serial", "sil", "emulator")
_PROCESS_KINDS = ("sil", "emulator")
# Kinds whose controller code a rig's `coverage = true` can measure: the SIL's gcov counts, the
# in-process reference controller under coverage.py. An emulator, a board or the pty loopback cannot.
COVERAGE_KINDS = ("sil", "mil")
TIMING_MODES = ("lockstep", "realtime")
OVERRUN_ACTIONS = ("warn", "abort")
# What a test can ask of a rig (`@pytest.mark.needs(...)`): a device kind, or one of these.
CAPABILITIES = DEVICE_KINDS + ("realtime", "wire", "firmware", "relay")
# `make` arguments a rig may give: targets and variable assignments, never options (-f, --eval).
_MAKE_TARGET = re.compile(r"^[A-Za-z0-9_.+/][A-Za-z0-9_.+/-]*$")
_MAKE_VARIABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=[^\n]*$")
# Set by the rig's own fields, so a [controller] table may not set them.
_RIG_OWNED_CONFIG = ("timing_mode", "control_rate_hz")
# How a rig's device is reset mid-flight (docs/device-control.md), by kind; "" in a rig file: derived.
RESETS = {"sil": ("process", "none"), "emulator": ("simavr", "qemu", "process", "none"),
          "serial": ("dtr", "relay", "none")}
_RELAY_FIELDS = ("relay", "relay_unit", "relay_coil", "relay_off_s", "relay_baudrate")


@dataclass(frozen=True)
class Rig:
    """One bench setup. The defaults are the built-in loopback rig (rigs/loopback.toml)."""

    name: str = "loopback"
    description: str = "Python reference controller behind a virtual Modbus RTU device on a pty"
    kind: str = "loopback"          # loopback | mil | serial | sil | emulator
    port: str = ""                  # any pyserial URL; serial kind only
    firmware_dir: str = ""          # sil/emulator: the firmware tree (relative paths: to the rig file)
    make: tuple = ()                # sil/emulator: arguments of `make -C firmware_dir` before starting
    command: tuple = ()             # sil/emulator: the program and its arguments; {firmware} = firmware_dir
    pty_pattern: str = r"^PTY (\S+)"  # sil/emulator: regex whose group 1 is the pty in the output
    image: str = ""                 # sil/emulator: the firmware image to fingerprint ({firmware} allowed);
                                    # default: the command's program (sil) or its last .elf/.hex (emulator)
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
    # Real time: send each frame this long (plus half the link's round trip) before the device's
    # next step, found from the device clock (hil/phase.py); phase_align = false: on the plain schedule.
    phase_align: bool = True
    phase_margin_ms: float = 2.0
    # A misbehaving wire on purpose: link proxy rules (docs/link-proxy.md) between host and device.
    link_faults: tuple = ()
    link_fault_seed: int = 0
    # Link policy (hil/link_policy.py): what a failed exchange after the handshake does.
    link_retries: int = 3           # lockstep: attempts of one failed exchange beyond the first
    link_max_misses: int = 50       # real time: failed exchanges in a row that end the run
    # Device faults (docs/device-control.md): how the device is reset mid-flight ("": from the kind
    # and command), and for reset = "relay" the Modbus relay module that switches the board's power.
    reset: str = ""                 # process | simavr | qemu | dtr | relay | none
    relay: str = ""                 # tcp://HOST:PORT, or a serial port / pyserial URL (Modbus RTU)
    relay_unit: int = 1             # the relay module's Modbus unit
    relay_coil: int = 0             # the coil that powers the board (on: powered)
    relay_off_s: float = 0.5        # how long the power stays off
    relay_baudrate: int = 9600      # an RTU relay's line speed
    # Campaigns on Dask (docs/campaigns.md): the worker resource a case on this rig needs, so
    # cases go only to workers that advertise it (a bench board: its name, e.g. "bench-uno").
    resource: str = ""
    # Coverage of the controller's code over every landing (docs/coverage.md): gcov counts of a
    # `sil` rig whose make target builds with --coverage, or coverage.py on a `mil` rig's
    # reference controller.
    coverage: bool = False
    controller: dict = field(default_factory=dict)  # config register overrides
    source: str = "built-in"

    def same_device(self, other: Rig) -> bool:
        """Whether `other` starts and reaches the same device (so one session can fly both)."""
        return all(getattr(self, f) == getattr(other, f) for f in DEVICE_FIELDS)

    @property
    def capabilities(self) -> frozenset[str]:
        """What this rig can do, for tests that need it (the pytest plugin's `needs` marker)."""
        caps = {self.kind}
        if self.timing == "realtime":
            caps.add("realtime")
        if self.kind != "mil":
            caps.add("wire")          # a real Modbus RTU byte stream
        if self.kind in _PROCESS_KINDS:
            caps.add("firmware")      # the C firmware, built from firmware_dir
        if self.reset_mode == "relay":
            caps.add("relay")         # its power is switched by a relay module
        return frozenset(caps)

    @property
    def reset_mode(self) -> str:
        """How the device is reset mid-flight: the rig's `reset`, or what its kind and command
        imply (the SIL restarts, the simavr runner resets its core, QEMU with a monitor socket
        resets the machine, any other emulator restarts); "none" for a bench board unless told."""
        return self.reset or derived_reset(self.kind, self.command)


def derived_reset(kind: str, command) -> str:
    """The reset a device of this kind and command gets when its rig names none."""
    if kind == "sil":
        return "process"
    if kind == "emulator":
        if any(Path(part).name == "simavr-runner" for part in command):
            return "simavr"
        if command and Path(command[0]).name.startswith("qemu-system") and \
                any("{monitor}" in part for part in command):
            return "qemu"
        return "process"
    return "none"          # loopback and mil reset their own way; a bench board needs to be told


_TYPES = {"name": str, "description": str, "kind": str, "port": str, "baudrate": int, "unit": int,
          "timeout_s": float, "boot_wait_s": float, "timing": str, "control_rate_hz": float,
          "firmware_dir": str, "make": tuple, "command": tuple, "pty_pattern": str, "image": str,
          "physics_rate_hz": float, "overrun_ms": float, "on_overrun": str, "abort_after_overruns": int,
          "abort_lateness_ms": float, "grace_s": float, "rt_priority": int, "pin_cpu": int,
          "link_retries": int, "link_max_misses": int, "phase_align": bool, "phase_margin_ms": float,
          "link_faults": tuple, "link_fault_seed": int, "reset": str, "relay": str, "relay_unit": int,
          "relay_coil": int, "relay_off_s": float, "relay_baudrate": int, "resource": str,
          "coverage": bool}


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
    values: dict = {"source": str(path), "name": path.stem, "description": f"rig file {path.name}"}
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
    if kind is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where} must be true or false, got {value!r}")
        return value
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise ConfigError(f"{where} must be {'a number' if kind in (int, float) else 'a string'}"
                          f"{' (whole)' if kind is int else ''}, got {value!r}")
    if kind is float and not math.isfinite(value):
        raise ConfigError(f"{where} must be a finite number, got {value!r}")
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
    if not 0.0 <= rig.phase_margin_ms <= 100.0:
        raise ConfigError(f"{path}: phase_margin_ms must be 0..100, got {rig.phase_margin_ms:g}")
    check_link_faults(rig, str(path))
    if not 0 <= rig.link_retries <= 100:
        raise ConfigError(f"{path}: link_retries must be 0..100, got {rig.link_retries}")
    if not 1 <= rig.link_max_misses <= 100000:
        raise ConfigError(f"{path}: link_max_misses must be 1..100000, got {rig.link_max_misses}")
    for name in ("abort_after_overruns", "abort_lateness_ms", "grace_s"):
        if getattr(rig, name) < 0:
            raise ConfigError(f"{path}: {name} must not be negative, got {getattr(rig, name)}")
    if rig.kind == "mil" and rig.timing != "lockstep":
        raise ConfigError(f"{path}: the in-process MIL rig runs lockstep only (its controller has no clock "
                          "of its own); use kind 'loopback' for real time")
    if rig.kind == "serial" and not rig.port:
        raise ConfigError(f"{path}: port is required for kind 'serial' (a device path or pyserial URL)")
    if rig.kind in _PROCESS_KINDS:
        if not rig.firmware_dir:
            raise ConfigError(f"{path}: firmware_dir is required for kind '{rig.kind}' (e.g. \"../firmware\")")
        if not rig.command:
            raise ConfigError(f"{path}: command is required for kind '{rig.kind}' (the program and its arguments)")
        try:
            groups = re.compile(rig.pty_pattern).groups
        except re.error as exc:
            raise ConfigError(f"{path}: pty_pattern is not a regular expression: {exc}") from None
        if groups < 1:
            raise ConfigError(f"{path}: pty_pattern needs a group that captures the pty path, e.g. '^PTY (\\S+)'")
        for arg in rig.make:
            if not (_MAKE_TARGET.match(arg) or _MAKE_VARIABLE.match(arg)):
                raise ConfigError(f"{path}: make takes targets and VARIABLE=value only, got {arg!r}")
    _check_reset(rig, path)
    if rig.coverage and rig.kind not in COVERAGE_KINDS:
        raise ConfigError(f"{path}: coverage = true needs code this computer can measure: kind 'sil' built with "
                          f"--coverage (rigs/sil-coverage.toml) or kind 'mil' (coverage.py); kind '{rig.kind}' "
                          "cannot be measured")
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


def _check_reset(rig: Rig, path: Path) -> None:
    """A reset the rig's kind can do, with what it needs; relay fields only for a relay reset."""
    if rig.reset:
        if rig.kind not in RESETS:
            raise ConfigError(f"{path}: reset is for sil, emulator and serial rigs; kind '{rig.kind}' "
                              "resets its own way")
        if rig.reset not in RESETS[rig.kind]:
            raise ConfigError(f"{path}: reset {rig.reset!r} is not one of {', '.join(RESETS[rig.kind])} "
                              f"for kind '{rig.kind}'")
        if rig.reset == "qemu" and not any("{monitor}" in part for part in rig.command):
            raise ConfigError(f"{path}: reset 'qemu' needs a monitor socket in command "
                              "(\"-monitor\", \"unix:{monitor},server=on,wait=off\")")
        if rig.reset == "simavr" and not any(Path(p).name == "simavr-runner" for p in rig.command):
            raise ConfigError(f"{path}: reset 'simavr' needs the simavr runner in command "
                              "({firmware}/build/tools/simavr-runner)")
    if rig.reset == "relay":
        if not rig.relay:
            raise ConfigError(f"{path}: relay is required for reset 'relay' (tcp://HOST:PORT or a serial port)")
        if rig.relay.startswith("tcp://"):
            from hil.devices.relay_switch import parse_tcp
            try:
                parse_tcp(rig.relay)
            except ValueError as exc:
                raise ConfigError(f"{path}: relay: {exc}") from None
        if not 1 <= rig.relay_unit <= 247:
            raise ConfigError(f"{path}: relay_unit must be a Modbus address 1..247, got {rig.relay_unit}")
        if not 0 <= rig.relay_coil <= 65535:
            raise ConfigError(f"{path}: relay_coil must be a coil address 0..65535, got {rig.relay_coil}")
        if not 0.0 < rig.relay_off_s <= 60.0:
            raise ConfigError(f"{path}: relay_off_s must be > 0 and <= 60, got {rig.relay_off_s:g}")
        if rig.relay_baudrate <= 0:
            raise ConfigError(f"{path}: relay_baudrate must be positive, got {rig.relay_baudrate}")
    else:
        defaults = Rig()
        given = [n for n in _RELAY_FIELDS if getattr(rig, n) != getattr(defaults, n)]
        if given:
            raise ConfigError(f"{path}: {given[0]} is only used with reset = \"relay\"")


# The fields that say which device a rig starts and how it is reached; the rest (timing, rates,
# overrun policy, controller overrides) can change from one run to the next on a started device.
DEVICE_FIELDS = ("kind", "port", "firmware_dir", "make", "command", "pty_pattern", "baudrate", "unit",
                 "timeout_s", "boot_wait_s", "link_faults", "link_fault_seed", "reset", "coverage",
                 *_RELAY_FIELDS)

MIL_RIG = Rig(name="mil", kind="mil",
              description="Python reference controller's register bank called in-process (no pty, no thread)")
BUILT_IN = {"loopback": Rig(), "mil": MIL_RIG}


def check_link_faults(rig: Rig, where: str) -> None:
    """Link proxy rules must parse, and need a wire to act on."""
    if not rig.link_faults:
        return
    from hil.link.proxy import parse_rule
    if rig.kind == "mil":
        raise ConfigError(f"{where}: link_faults need a wire; the in-process MIL rig has none (use loopback)")
    if rig.link_fault_seed < 0:
        raise ConfigError(f"{where}: link_fault_seed must be >= 0, got {rig.link_fault_seed}")
    for spec in rig.link_faults:
        try:
            parse_rule(spec)
        except ConfigError as exc:   # a RuleError names the bad part; say where it came from
            raise ConfigError(f"{where}: link_faults: {exc}") from None


def resolve_rig(spec: str | Path) -> Rig:
    """'loopback' or 'mil' (built in), or a rig file."""
    if str(spec) in BUILT_IN:
        return BUILT_IN[str(spec)]
    return load_rig(spec)


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
