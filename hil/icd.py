"""The register interface (ICD): the one source of truth for every Modbus register.

Four blocks of holding registers. f32 and u32 occupy two registers, high word first
(big-endian word order, big-endian bytes in each word), so a whole block is simply the
big-endian struct packing of its fields. The C header `firmware/core/icd.h` and the table
in `docs/icd.md` are generated from this module (`hil icd generate`).
"""

from __future__ import annotations

import enum
import math
import struct
import zlib
from collections import namedtuple
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

ICD_VERSION = 4

_TYPE_CODES = {"u16": "H", "u32": "I", "f32": "f"}
_TYPE_WORDS = {"u16": 1, "u32": 2, "f32": 2}


class ControllerState(enum.IntEnum):
    """Controller states reported in the command block (see docs/controller.md)."""

    STANDBY = 0           # no sensor frame yet
    POWERED_DESCENT = 1   # braking along the velocity-altitude profile
    CONSTANT_VELOCITY = 2  # descending at v_cv_mps, waiting for separation altitude
    SKY_CRANE = 3         # rover separated, bridles paying out, detector not yet armed
    TOUCHDOWN_ARMED = 4   # bridles out and settled, watching the throttle for the offload
    TOUCHDOWN = 5         # touchdown declared, waiting cut_delay_s before the cut
    FLYAWAY = 6           # bridles cut, hover, climb, tilt away
    ENGINES_OFF = 7       # flyaway burn complete, engines off
    LINK_LOST = 8         # real-time: sensor frames stopped (watchdog); hover throttle, zero tilt, latched


class DeviceKind(enum.IntEnum):
    """What kind of controller answers (identity block)."""

    REFERENCE = 1  # Python reference controller (loopback)
    SIL = 2        # firmware core built for the host
    AVR = 3        # firmware on an AVR (emulated or board)
    STM32 = 4      # firmware on an STM32 (emulated or board)


class TimingMode(enum.IntEnum):
    """How the device schedules its control step."""

    LOCKSTEP = 0   # one step per sensor frame, clock from the frame's timestamp
    REALTIME = 1   # its own timer at control_rate_hz, newest frame, clock from its own timer


class SensorFlags(enum.IntFlag):
    """Bits of the sensor block's `flags` register."""

    RADAR_VALID = 1   # the newest radar measurement (radar_seq) is a valid solution
    SEPARATED = 2     # rover separation confirmed (pyro)
    CUT = 4           # bridle cut confirmed (pyro)
    IMU_VALID = 8     # imu_f* hold this cycle's mean specific force


class HealthFlags(enum.IntFlag):
    """Bits of the sensor block's `health` register: faults the vehicle's own fault protection
    reports to the controller (told); 0 when healthy. An untold fault the controller must detect."""

    RADAR_FAILED = 1      # ignore the radar: coast on the IMU
    IMU_FAILED = 2        # ignore the IMU: velocity from fresh radar samples alone
    ENGINES_DEGRADED = 4  # the engines deliver thrust_avail of full thrust (or are otherwise degraded)


class Discretes(enum.IntFlag):
    """Bits of the command block's `discretes` register; each latches once set."""

    SEPARATE = 1      # fire the rover separation
    CUT = 2           # cut the bridles and umbilical


class Faults(enum.IntFlag):
    """Bits of the command block's `faults` register (this frame only, not latched)."""

    NO_NAVIGATION = 1    # no velocity estimate yet (no valid radar): last command held
    FRAME_SKIP = 2       # the frame number did not follow the previous one
    CLOCK_BACKWARDS = 4  # the frame timestamp did not advance
    RADAR_INVALID = 8    # a fresh radar measurement was flagged invalid (dropout)
    RADAR_REJECTED = 16  # a fresh radar velocity failed the innovation gate (glitch)
    STALE_FRAME = 32     # real-time: no new sensor frame since the previous step; stepped on the old one
    WATCHDOG = 64        # real-time: no sensor frame for watchdog_s; the controller is in LINK_LOST


TD_NOT_DECLARED = 0xFFFFFFFF  # td_time_us before touchdown is declared


@dataclass(frozen=True)
class Field:
    """One register (or register pair) of a block."""

    name: str
    type: str          # u16, u32 or f32
    unit: str
    meaning: str
    default: float | None = None  # config fields only
    minimum: float | None = None
    maximum: float | None = None

    @property
    def words(self) -> int:
        return _TYPE_WORDS[self.type]


@dataclass(frozen=True)
class Block:
    """A contiguous run of registers that is read or written as one."""

    name: str
    base: int
    access: str        # "r" (device to host) or "w" (host to device) or "rw"
    meaning: str
    fields: tuple[Field, ...]
    _format: str = field(init=False, repr=False)
    _words: int = field(init=False, repr=False)
    _record: type = field(init=False, repr=False)

    def __post_init__(self) -> None:
        codes = "".join(_TYPE_CODES[f.type] for f in self.fields)
        object.__setattr__(self, "_format", ">" + codes)
        object.__setattr__(self, "_words", sum(f.words for f in self.fields))
        object.__setattr__(self, "_record", namedtuple(f"{self.name}_record", [f.name for f in self.fields]))

    @property
    def length(self) -> int:
        """Number of 16-bit registers."""
        return self._words

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    def address_of(self, name: str) -> int:
        address = self.base
        for f in self.fields:
            if f.name == name:
                return address
            address += f.words
        raise KeyError(f"{self.name} block has no field {name!r}")

    def field_named(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"{self.name} block has no field {name!r}")

    def addresses(self) -> list[tuple[int, Field]]:
        out, address = [], self.base
        for f in self.fields:
            out.append((address, f))
            address += f.words
        return out

    def encode(self, values: Sequence[float]) -> list[int]:
        """Field values, in field order, to registers. Raises ValueError naming the block."""
        try:
            raw = struct.pack(self._format, *values)
        except (struct.error, OverflowError) as exc:
            raise ValueError(f"cannot encode {self.name} block: {exc}") from None
        return list(struct.unpack(f">{self._words}H", raw))

    def encode_map(self, values: Mapping[str, float]) -> list[int]:
        return self.encode([values[n] for n in self.names])

    def decode(self, registers: Sequence[int]) -> tuple:
        """Registers to field values in field order (f32 NaN stays NaN)."""
        if len(registers) != self._words:
            raise ValueError(f"{self.name} block needs {self._words} registers, got {len(registers)}")
        raw = struct.pack(f">{self._words}H", *registers)
        return struct.unpack(self._format, raw)

    def decode_record(self, registers: Sequence[int]):
        """Registers to a named tuple whose fields are the block's field names."""
        return self._record._make(self.decode(registers))

    def decode_map(self, registers: Sequence[int]) -> dict[str, float]:
        return dict(zip(self.names, self.decode(registers)))


def _cfg(name: str, typ: str, unit: str, default: float, lo: float, hi: float, meaning: str) -> Field:
    return Field(name, typ, unit, meaning, default, lo, hi)


IDENTITY = Block("identity", 0x0000, "r", "who answers: read once at connect", (
    Field("icd_version", "u16", "-", "ICD version this device was built against"),
    Field("layout_hash", "u32", "-", "CRC-32 of the register layout; the host refuses a mismatch"),
    Field("device_kind", "u16", "-",
          "DeviceKind: 1 reference, 2 SIL, 3 AVR, 4 STM32 (its values are not in the layout hash)"),
    Field("build_id", "u32", "-", "firmware build (major<<16 | minor<<8 | patch, or a build number)"),
))

CONFIG = Block("config", 0x0040, "rw", "timing and controller tuning; written at run start", (
    _cfg("timing_mode", "u16", "-", 0, 0, 1, "TimingMode: 0 lockstep, 1 real-time"),
    _cfg("control_rate_hz", "f32", "Hz", 50.0, 10.0, 500.0, "control step rate"),
    _cfg("throttle_min", "f32", "-", 0.1, 0.0, 0.5, "lowest throttle commanded while the engines burn"),
    _cfg("throttle_init", "f32", "-", 0.35, 0.05, 1.0, "initial hover-throttle estimate (integrator)"),
    _cfg("kp_vz", "f32", "1/s", 4.0, 0.0, 20.0, "vertical velocity loop gain (acceleration per velocity error)"),
    _cfg("ki_vz", "f32", "1/m", 0.6, 0.0, 10.0, "hover-throttle estimate gain (fraction per metre of error)"),
    _cfg("alt_filter_tau_s", "f32", "s", 1.0, 0.0, 10.0, "radar altitude smoothing (0: raw altitude)"),
    _cfg("nav_radar_gain", "f32", "-", 0.3, 0.0, 1.0, "weight of a fresh radar velocity against the IMU-propagated one"),
    _cfg("nav_gate_mps", "f32", "m/s", 0.5, 0.05, 10.0, "radar velocity innovation beyond this is rejected as a glitch"),
    _cfg("nav_max_rejects", "u16", "-", 3, 0, 100, "consecutive rejections after which a radar sample is accepted anyway"),
    _cfg("brake_decel_mps2", "f32", "m/s^2", 3.0, 0.5, 10.0, "deceleration of the braking profile"),
    _cfg("v_cv_mps", "f32", "m/s", 0.75, 0.2, 3.0, "constant-velocity descent speed (MSL: 0.75)"),
    _cfg("h_cv_m", "f32", "m", 22.0, 5.0, 200.0, "altitude where the constant-velocity descent begins"),
    _cfg("h_sep_m", "f32", "m", 20.0, 5.0, 100.0, "altitude of rover separation"),
    _cfg("kp_vh", "f32", "rad s/m", 0.05, 0.0, 1.0, "tilt per m/s of horizontal velocity, each axis"),
    _cfg("tilt_max_rad", "f32", "rad", 0.15, 0.0, 0.8, "largest tilt commanded before the cut"),
    _cfg("bridle_full_m", "f32", "m", 7.5, 1.0, 20.0, "BUD length at which the bridles count as out"),
    _cfg("td_enable", "u16", "-", 1, 0, 1, "1 enables touchdown detection"),
    _cfg("td_arm_delay_s", "f32", "s", 1.5, 0.0, 10.0, "wait after bridles out before arming (snatch)"),
    _cfg("td_drop_frac", "f32", "-", 0.3, 0.0, 0.9, "relative throttle drop below the baseline that counts"),
    _cfg("td_persist_s", "f32", "s", 1.0, 0.0, 5.0, "how long the drop must persist"),
    _cfg("td_baseline_tau_s", "f32", "s", 2.0, 0.1, 30.0, "time constant of the throttle baseline filter"),
    _cfg("cut_delay_s", "f32", "s", 0.5, 0.0, 5.0, "touchdown declared to bridle cut"),
    _cfg("flyaway_hover_s", "f32", "s", 0.2, 0.0, 5.0, "hover after the cut (MSL: about 0.19 s)"),
    _cfg("flyaway_climb_s", "f32", "s", 1.5, 0.0, 10.0, "vertical climb before tilting away"),
    _cfg("flyaway_climb_mps", "f32", "m/s", 4.0, 0.0, 20.0, "vertical speed of the climb"),
    _cfg("flyaway_tilt_rad", "f32", "rad", 0.75, 0.0, 1.2, "tilt of the flyaway burn, toward +x"),
    _cfg("flyaway_throttle", "f32", "-", 0.5, 0.0, 1.0, "throttle of the flyaway burn"),
    _cfg("flyaway_burn_s", "f32", "s", 3.0, 0.0, 30.0, "length of the flyaway burn; then engines off"),
    _cfg("watchdog_s", "f32", "s", 0.25, 0.0, 10.0,
         "real-time: no sensor frame for this long -> LINK_LOST safe state (0: never)"),
))

SENSORS = Block("sensors", 0x0100, "w", "one sensor frame per control cycle (host to device, FC23 write)", (
    Field("frame", "u32", "-", "frame number, +1 each cycle"),
    Field("t_us", "u32", "us", "plant time of the frame; the device's clock in lockstep"),
    Field("radar_seq", "u16", "-", "counts radar measurements (wraps); a change means a fresh one"),
    Field("altitude_m", "f32", "m", "radar altitude of the descent stage (newest measurement)"),
    Field("vx_mps", "f32", "m/s", "radar ground-relative velocity, x"),
    Field("vy_mps", "f32", "m/s", "radar ground-relative velocity, y"),
    Field("vz_mps", "f32", "m/s", "radar ground-relative velocity, z (up positive)"),
    Field("imu_fx", "f32", "m/s^2", "IMU specific force, local level x, mean over the cycle"),
    Field("imu_fy", "f32", "m/s^2", "IMU specific force, local level y, mean over the cycle"),
    Field("imu_fz", "f32", "m/s^2", "IMU specific force, local level z (hover reads +g)"),
    Field("bridle_length_m", "f32", "m", "bridle length paid out (BUD encoder)"),
    Field("flags", "u16", "-", "SensorFlags: 1 radar valid, 2 separated, 4 cut, 8 IMU valid"),
    Field("health", "u16", "-", "HealthFlags: faults the vehicle's own fault protection reports to the controller "
          "(told): 1 radar failed, 2 IMU failed, 4 engines degraded; 0 when healthy"),
    Field("thrust_avail", "f32", "-", "fraction of full thrust the engines can deliver as reported by engine "
          "health; 1 when healthy (used with ENGINES_DEGRADED, in (0, 1])"),
))

COMMANDS = Block("commands", 0x0180, "r", "the answer to the frame (device to host, FC23 read)", (
    Field("frame", "u32", "-", "the sensor frame this step used (lockstep: the one just written)"),
    Field("state", "u16", "-", "ControllerState"),
    Field("throttle", "f32", "-", "throttle 0..1 of full thrust; 0 is engines off"),
    Field("tilt_x_rad", "f32", "rad", "commanded thrust-vector tilt toward +x (pitch)"),
    Field("tilt_y_rad", "f32", "rad", "commanded thrust-vector tilt toward +y (roll)"),
    Field("discretes", "u16", "-", "Discretes: 1 separate rover, 2 cut bridles (latched)"),
    Field("td_time_us", "u32", "us", "controller clock when touchdown was declared (lockstep: frame time; real-time: device time since the first frame); 0xFFFFFFFF before"),
    Field("faults", "u16", "-", "Faults: 1 no navigation, 2 frame skip, 4 clock backwards, 8 radar invalid, "
          "16 radar rejected, 32 stale frame, 64 watchdog"),
    Field("state_since_us", "u32", "us", "controller clock when the current state was entered (same clock as "
          "td_time_us: lockstep frame time, real-time device time since the first frame); 0 in a new run's STANDBY"),
    Field("step_time_us", "u32", "us", "duration of this control step on the device"),
    Field("step_count", "u32", "-", "control steps run since the config was written; a new value is a fresh command"),
    Field("frame_rx_tick_us", "u32", "us", "device clock when the sensor frame this step used arrived"),
    Field("step_tick_us", "u32", "us", "device clock at the start of this step"),
    Field("read_tick_us", "u32", "us", "device clock when this command block was read (clock offset, drift)"),
))

BLOCKS = (IDENTITY, CONFIG, SENSORS, COMMANDS)
ENUMS = (ControllerState, DeviceKind, TimingMode, SensorFlags, Discretes, Faults, HealthFlags)

# Enums that say who answers, not how to talk to it: a new board adds a DeviceKind, and that must
# not make every deployed firmware unflyable. Matched by name, so a redefined DeviceKind (a
# newer module, or a test's extended copy) is left out as well. The identity block's fields
# (device_kind, build_id: name, type, address) stay in the hash.
UNHASHED_ENUMS = frozenset({"DeviceKind"})


def layout_text(blocks: Sequence[Block] | None = None, enums: Sequence[type[enum.Enum]] | None = None) -> str:
    """Canonical text of everything both sides must agree on; the layout hash is its CRC-32.

    Block and field names, addresses, types and units, and the values of every enum but those
    in UNHASHED_ENUMS. Meanings, config defaults and limits are not in it. blocks and enums
    default to BLOCKS and ENUMS (other values: to see what a change would do to the hash).
    """
    lines = [f"icd {ICD_VERSION}"]
    for block in BLOCKS if blocks is None else blocks:
        lines.append(f"block {block.name} {block.base:#06x} {block.access}")
        lines += [f"  {addr:#06x} {f.name} {f.type} {f.unit}" for addr, f in block.addresses()]
    for enum_cls in ENUMS if enums is None else enums:
        if enum_cls.__name__ not in UNHASHED_ENUMS:
            lines.append(f"enum {enum_cls.__name__} " + " ".join(f"{m.name}={m.value}" for m in enum_cls))
    return "\n".join(lines) + "\n"


def layout_hash(blocks: Sequence[Block] | None = None, enums: Sequence[type[enum.Enum]] | None = None) -> int:
    """CRC-32 of layout_text(blocks, enums): the value both sides put in identity.layout_hash."""
    return zlib.crc32(layout_text(blocks, enums).encode())


LAYOUT_HASH = layout_hash()


def config_defaults() -> dict[str, float]:
    return {f.name: f.default for f in CONFIG.fields}


def check_config_value(name: str, value: float) -> float:
    """Validate one config value against the ICD limits; raises KeyError or ValueError."""
    f = CONFIG.field_named(name)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise ValueError(f"{name} must be a number, got {value!r}")
    if f.type == "u16" and value != int(value):
        raise ValueError(f"{name} = {value!r} must be a whole number")
    if f.type == "u16":
        inside = f.minimum <= value <= f.maximum
    else:  # compared as the float32 the device stores, as the firmware compares them
        try:
            inside = _f32(f.minimum) <= _f32(value) <= _f32(f.maximum)
        except OverflowError:  # beyond float32 range
            inside = False
    if not inside:
        raise ValueError(f"{name} = {value} is outside {f.minimum}..{f.maximum}")
    return int(value) if f.type == "u16" else float(value)


def _f32(value: float) -> float:
    return struct.unpack("<f", struct.pack("<f", value))[0]


def encode_config(values: Mapping[str, float]) -> list[int]:
    return CONFIG.encode([values[n] for n in CONFIG.names])


def version_build_id(version: str) -> int:
    """'1.2.3' -> 0x010203: the build id a Python-side device reports."""
    parts = [int(p) for p in (version.split(".") + ["0", "0"])[:3]]
    return (parts[0] << 16) | (parts[1] << 8) | parts[2]
