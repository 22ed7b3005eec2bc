"""The register-level differential: the Python device and the C core fed the same random Modbus
RTU byte stream, their replies compared byte for byte.

The stream mixes the four functions served (FC03/06/16/23) over every block, valid and invalid
addresses, counts and values (config writes in and out of range, both timing modes), sensor
frames that step the controller (with told faults: health flags and available thrust that hold
for a while, in and out of range), broadcasts, other units, unsupported functions, and malformed
input: bad CRCs, truncated frames, runs of garbage. The reference is Python's `RtuServer` over
`ControllerRegisters`, fed one request (or one malformed piece) at a time; the C core
(`hil.devices.c_core`) gets the whole stream in chunks of a fixed size, so frames arrive split
across feeds and several at once. Two things are as on a real line: after a malformed piece the
line goes quiet (both drop a partial frame), and a request for a function neither can size
arrives alone (both frame it as "the rest of the buffer").

Tolerance: the controller computes in float32 in C and float64 in Python, so a reply's
throttle and tilt registers may differ by float32 rounding (FLOAT_TOLERANCE); every other byte,
the CRC aside, must be identical, and so must the number, length and order of the replies.
Used by tests/test_differential.py (a short run in CI) and benchmarks/differential.py (any
count).
"""

from __future__ import annotations

import math
import random
import struct
from dataclasses import dataclass, field

from hil import icd
from hil.devices.c_core import CCoreRegisters
from hil.devices.controller_registers import ControllerRegisters
from hil.devices.rtu_server import RtuServer
from hil.link.rtu_frame import with_crc
from hil.reference import ReferenceController

UNIT = 1
# Not a difference between the two but of how they are fed: a request for a function neither can
# size is framed as "the rest of the buffer" once that checks out. The reference gets each noise
# piece in one feed, so its CRC is tried once; the C, fed the same noise a few bytes at a time,
# tries it after every feed, and now and then (about 1 in 30,000 items fed byte by byte) a run of
# noise starting with our unit and such a function checks out and is answered with exception 01.
# A board on a UART, fed byte by byte, does the same. These extra 5-byte answers are counted, not
# taken as mismatches; anything else extra is a mismatch.
NOISE_ANSWERS = "exception 01 answered to noise that checks out as an unsized request"
CLOCK_US = 0x12345678            # both devices see the same constant clock: replies are repeatable
FLOAT_TOLERANCE = 1e-4           # |python - c| of a commanded float (throttle 0..1, tilt in rad)
_FLOAT_COMMANDS = ("throttle", "tilt_x_rad", "tilt_y_rad")
# Registers (offsets into the command block) holding float32 commands, high and low word.
_FLOAT_REGS = {icd.COMMANDS.address_of(n) + k for n in _FLOAT_COMMANDS for k in (0, 1)}
_FLOAT_LOW = {icd.COMMANDS.address_of(n) + 1 for n in _FLOAT_COMMANDS}
_BLOCKS = (icd.IDENTITY, icd.CONFIG, icd.SENSORS, icd.COMMANDS)
_SEEN_FUNCTIONS = (1, 2, 4, 5, 8, 15, 17, 20, 43, 65, 100)   # not served: exception 01
_ALONE = {"fc65-unsupported", "fc100-unsupported"}         # user-defined: no size to frame by


@dataclass
class Item:
    """One piece of the line: a request (or malformed bytes), what it is, and its read window."""

    data: bytes
    kind: str
    read: tuple[int, int] | None = None     # (address, count) of the registers a reply carries


@dataclass
class Mismatch:
    index: int
    kind: str
    request: bytes
    python: bytes
    c: bytes
    why: str


@dataclass
class Outcome:
    requests: int = 0                       # items fed (requests and malformed pieces)
    replies: int = 0
    float_differences: int = 0              # replies that differed only within FLOAT_TOLERANCE
    noise_answers: int = 0                  # extra exception-01 replies of the C (NOISE_ANSWERS)
    largest_float_difference: float = 0.0
    mismatches: list[Mismatch] = field(default_factory=list)
    kinds: dict[str, int] = field(default_factory=dict)


# -- the stream ---------------------------------------------------------------------------------

class StreamGenerator:
    """Random requests and malformed pieces from one seeded generator."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.frame = 0
        self.health, self.thrust_avail = 0, 1.0     # told faults: held across frames, redrawn now and then

    def items(self, count: int):
        for _ in range(count):
            yield self.item()

    def item(self) -> Item:
        r = self.rng.random()
        if r < 0.30:
            item = self._exchange()
        elif r < 0.45:
            item = self._read()
        elif r < 0.57:
            item = self._config_write()
        elif r < 0.64:
            item = self._write_single()
        elif r < 0.70:
            item = self._write_multiple()
        elif r < 0.74:
            item = self._unsupported()
        elif r < 0.80:
            item = self._other_unit_or_broadcast()
        else:
            item = self._malformed()
        return item

    # valid-looking requests

    def _unit(self) -> int:
        return UNIT

    def _window(self) -> tuple[int, int]:
        """A register window: mostly inside one block, sometimes across or outside."""
        rng = self.rng
        if rng.random() < 0.8:
            block = rng.choice(_BLOCKS)
            start = block.base + rng.randrange(block.length)
            return start, rng.randint(1, block.base + block.length - start)
        return rng.randrange(0, 0x0140), rng.choice([0, 1, 2, 7, 60, 125, 126, 300])

    def _read(self) -> Item:
        address, count = self._window()
        body = struct.pack(">BBHH", self._unit(), 3, address, min(count, 0xFFFF))
        return Item(with_crc(body), "fc03", (address, count))

    def _sensor_values(self) -> list[int]:
        rng = self.rng
        self.frame += rng.choice([1, 1, 1, 1, 2, 0])            # skips and repeats now and then
        frame = [self.frame, self.frame * 20_000 + rng.choice([0, 0, 0, -40_000]), rng.randrange(3),
                 rng.uniform(-5.0, 3000.0), rng.gauss(0.0, 2.0), rng.gauss(0.0, 2.0), rng.uniform(-120.0, 10.0),
                 rng.gauss(0.0, 1.0), rng.gauss(0.0, 1.0), rng.uniform(0.0, 12.0), rng.uniform(0.0, 8.0),
                 rng.randrange(8)]
        frame[1] = max(0, frame[1])
        if rng.random() < 0.1:
            self._health()
        return icd.SENSORS.encode(frame + [self.health, self.thrust_avail])

    def _health(self) -> None:
        """New told faults: mostly healthy or one to three flags with a share of thrust in (0, 1];
        sometimes a value the controller must not take as it is (0, negative, above 1, NaN, inf)."""
        rng = self.rng
        roll = rng.random()
        if roll < 0.7:
            self.health, self.thrust_avail = 0, 1.0
        elif roll < 0.95:
            self.health, self.thrust_avail = rng.randrange(1, 8), rng.choice([1.0, 0.875, 0.75, rng.uniform(0.0, 1.0)])
        else:
            self.health = rng.choice([int(icd.HealthFlags.ENGINES_DEGRADED), 0xFFFF, rng.randrange(0x10000)])
            self.thrust_avail = rng.choice([0.0, -0.5, 0.01, 1.5, math.nan, math.inf, 1e-30])

    def _exchange(self) -> Item:
        """FC23: a sensor frame in, the command block (or another window) out."""
        rng = self.rng
        values = self._sensor_values()
        waddr, wcount = icd.SENSORS.base, len(values)
        if rng.random() < 0.1:
            waddr, wcount = self._window()
            wcount = max(1, min(wcount, 121))
            values = [rng.randrange(0x10000) for _ in range(wcount)]
        raddr, rcount = (icd.COMMANDS.base, icd.COMMANDS.length) if rng.random() < 0.85 else self._window()
        rcount = min(rcount, 0xFFFF)
        body = struct.pack(f">BBHHHHB{len(values)}H", self._unit(), 23, raddr, rcount, waddr, wcount,
                           2 * wcount, *values)
        return Item(with_crc(body), "fc23", (raddr, rcount))

    def _config_values(self) -> dict:
        """Every field at a random value: mostly in range (some at a limit), sometimes out."""
        rng = self.rng
        values = icd.config_defaults()
        for f in icd.CONFIG.fields:
            roll = rng.random()
            if roll < 0.5:
                continue
            if roll < 0.85:
                value = rng.uniform(f.minimum, f.maximum)
            elif roll < 0.95:
                value = rng.choice([f.minimum, f.maximum])
            else:
                value = rng.choice([f.minimum - 1.0, f.maximum * 2.0 + 1.0, float("nan")])
            if f.type == "u16":
                value = int(value) if value == value and 0 <= value <= 0xFFFF else int(f.maximum) + 1
            values[f.name] = value
        values["timing_mode"] = rng.choice([0, 0, 0, 1])
        return values

    def _config_write(self) -> Item:
        values = icd.encode_config(self._config_values())
        rng = self.rng
        if rng.random() < 0.3:                                   # a slice: may split a float
            start = rng.randrange(len(values))
            values_slice = values[start:start + rng.randint(1, 8)]
            address = icd.CONFIG.base + start
        else:
            values_slice, address = values, icd.CONFIG.base
        body = struct.pack(f">BBHHB{len(values_slice)}H", self._unit(), 16, address, len(values_slice),
                           2 * len(values_slice), *values_slice)
        return Item(with_crc(body), "fc16-config")

    def _write_single(self) -> Item:
        address, _ = self._window()
        body = struct.pack(">BBHH", self._unit(), 6, address, self.rng.randrange(0x10000))
        return Item(with_crc(body), "fc06")

    def _write_multiple(self) -> Item:
        rng = self.rng
        if rng.random() < 0.5:
            address, values = icd.SENSORS.base, self._sensor_values()
        else:
            address, count = self._window()
            values = [rng.randrange(0x10000) for _ in range(max(1, min(count, 123)))]
        nbytes = 2 * len(values) if rng.random() < 0.9 else rng.choice([0, 2 * len(values) + 2])
        body = struct.pack(f">BBHHB{len(values)}H", self._unit(), 16, address, len(values), nbytes, *values)
        if nbytes != 2 * len(values):
            return Item(with_crc(body), "fc16-bad-count")
        return Item(with_crc(body), "fc16")

    def _unsupported(self) -> Item:
        """A public function not served (sized as the spec says), or a user-defined one."""
        rng = self.rng
        fc = rng.choice(_SEEN_FUNCTIONS)
        if fc in (1, 2, 4, 5, 8):                                 # 8 bytes, like FC03
            body = struct.pack(">BBHH", UNIT, fc, rng.randrange(0x200), rng.randint(1, 10))
        elif fc == 15:
            body = struct.pack(">BBHHBB", UNIT, fc, 0, 8, 1, 0xA5)
        elif fc == 17:                                            # report server id: no data
            body = bytes([UNIT, fc])
        elif fc == 20:                                            # read file record: byte count first
            body = bytes([UNIT, fc, 7, 6, 0, 1, 0, 0, 0, 1])
        elif fc == 43:                                            # read device identification
            body = bytes([UNIT, fc, 14, 1, 0])
        else:                                                     # user-defined: nobody can size it
            body = bytes([UNIT, fc]) + bytes(rng.randrange(256) for _ in range(rng.randint(0, 6)))
        return Item(with_crc(body), f"fc{fc:02d}-unsupported")

    def _other_unit_or_broadcast(self) -> Item:
        item = self.rng.choice([self._read, self._exchange, self._config_write])()
        unit = self.rng.choice([0, 2, 17, 247])
        data = with_crc(bytes([unit]) + item.data[1:-2])
        return Item(data, "broadcast" if unit == 0 else "other-unit", item.read)

    # malformed

    def _malformed(self) -> Item:
        rng = self.rng
        good = rng.choice([self._read, self._exchange, self._config_write, self._write_single])()
        roll = rng.random()
        if roll < 0.35:                                           # one byte changed: the CRC fails
            data = bytearray(good.data)
            i = rng.randrange(len(data))
            data[i] ^= 1 << rng.randrange(8)
            return Item(bytes(data), "bad-crc")
        if roll < 0.65:                                           # cut short
            return Item(good.data[:rng.randint(1, len(good.data) - 1)], "truncated")
        noise = bytes(rng.randrange(256) for _ in range(rng.randint(1, 24)))
        return Item(noise, "garbage")


# -- the two servers ----------------------------------------------------------------------------

class PythonServer:
    """The reference: RtuServer over ControllerRegisters, identity as the C library's."""

    def __init__(self, controller: ReferenceController | None = None) -> None:
        regs = ControllerRegisters(controller or ReferenceController(), device_kind=int(icd.DeviceKind.SIL),
                                   build_id=0x000100, clock_us=lambda: CLOCK_US)
        self.server = RtuServer(regs, unit=UNIT)

    def feed(self, data: bytes) -> bytes:
        return self.server.feed(data)

    def silence(self) -> None:
        """The line went quiet: a partial frame is dropped (what the C does on mb_server_idle)."""
        self.server._buf.clear()         # noqa: SLF001 - RtuServer frames on a pty by length only
        self.server._hunting = False     # noqa: SLF001


def run(count: int, seed: int, chunk: int, reference: PythonServer | None = None) -> Outcome:
    """Feed `count` items to both servers; compare the replies. chunk: bytes per C feed."""
    outcome = Outcome()
    python, c = reference or PythonServer(), CCoreRegisters(clock_us=lambda: CLOCK_US, unit=UNIT)
    items = list(StreamGenerator(seed).items(count))
    expected: list[tuple[int, bytes]] = []
    for index, item in enumerate(items):
        outcome.kinds[item.kind] = outcome.kinds.get(item.kind, 0) + 1
        reply = python.feed(item.data)
        if item.kind in ("truncated", "garbage", "bad-crc"):
            python.silence()                # the line goes quiet after each malformed piece
        if reply:
            expected.append((index, reply))
    # The C gets the same bytes in chunks, with the same silences after malformed pieces.
    got = bytearray()
    pending = bytearray()
    for item in items:
        if item.kind in _ALONE:
            # A function neither server can size is framed as "the rest of the buffer": it is
            # answered only when it arrives alone, as a pty delivers one request in one piece.
            if pending:
                got += c.feed(bytes(pending))
                pending.clear()
            got += c.feed(item.data)
            continue
        pending += item.data
        while len(pending) >= chunk:
            got += c.feed(bytes(pending[:chunk]))
            del pending[:chunk]
        if item.kind in ("truncated", "garbage", "bad-crc"):
            if pending:
                got += c.feed(bytes(pending))
                pending.clear()
            c.idle()
    if pending:
        got += c.feed(bytes(pending))
    outcome.requests = count
    _compare(items, expected, bytes(got), outcome)
    return outcome


def _compare(items: list[Item], expected: list[tuple[int, bytes]], got: bytes, outcome: Outcome) -> None:
    pos = 0
    for index, want in expected:
        item = items[index]
        while got[pos:pos + len(want)] != want and _is_noise_answer(got[pos:pos + 5]):
            outcome.noise_answers += 1      # see NOISE_ANSWERS
            pos += 5
        have = got[pos:pos + len(want)]
        pos += len(want)
        outcome.replies += 1
        if have == want:
            continue
        why, diff = _float_only(item, want, have)
        if why is None:
            outcome.float_differences += 1
            outcome.largest_float_difference = max(outcome.largest_float_difference, diff)
            continue
        outcome.mismatches.append(Mismatch(index, item.kind, item.data, want, have, why))
        if have[:2] != want[:2] or len(have) != len(want):
            return                           # out of step: what follows cannot be paired
    while _is_noise_answer(got[pos:pos + 5]):
        outcome.noise_answers += 1
        pos += 5
    if pos != len(got):
        outcome.mismatches.append(Mismatch(len(items), "end", b"", b"", got[pos:],
                                           f"the C sent {len(got) - pos} bytes more"))


def _is_noise_answer(reply: bytes) -> bool:
    """Exception 01 from our unit for a function not served: an answer to noise (NOISE_ANSWERS)."""
    return (len(reply) == 5 and reply[0] == UNIT and reply[1] & 0x80 and reply[2] == 1
            and (reply[1] & 0x7F) not in (3, 6, 16, 23) and with_crc(reply[:3]) == reply)


def _registers(item: Item, reply: bytes) -> dict[int, int] | None:
    """Address -> value of a register reply (FC03/FC23), None for any other reply."""
    if item.read is None or len(reply) < 5 or reply[1] not in (3, 23):
        return None
    address, count = item.read
    if reply[2] != 2 * count or len(reply) != 5 + 2 * count:
        return None
    return {address + i: v for i, v in enumerate(struct.unpack(f">{count}H", reply[3:3 + 2 * count]))}


def _register_name(addr: int) -> str:
    for block in _BLOCKS:
        for field_address, f in block.addresses():
            if field_address <= addr < field_address + f.words:
                return f"{block.name}.{f.name}"
    return f"0x{addr:04X}"


def _float_only(item: Item, want: bytes, have: bytes) -> tuple[str | None, float]:
    """(None, the largest float difference) when the replies differ only in commanded floats
    within the tolerance; else (why, nan).
    A float read whole is compared as a value; a low word read alone may differ (its LSBs), a
    high word alone may not."""
    a, b = _registers(item, want), _registers(item, have)
    if a is None or b is None or a.keys() != b.keys() or want[:3] != have[:3]:
        return "the replies differ outside the registers", math.nan
    off = [addr for addr in a if a[addr] != b[addr]]
    beyond = [addr for addr in off if addr not in _FLOAT_REGS or (addr not in _FLOAT_LOW and addr + 1 not in a)]
    if beyond:
        return (f"registers differ beyond float32 rounding: {', '.join(sorted({_register_name(x) for x in beyond}))}",
                math.nan)
    diff = _float_diff(a, b)
    if diff > FLOAT_TOLERANCE:
        return f"a commanded float differs by {diff:.3g} (> {FLOAT_TOLERANCE:g})", math.nan
    return None, diff


def _float_diff(a: dict[int, int], b: dict[int, int]) -> float:
    """The largest |difference| of a commanded float read whole in both register maps."""
    worst = 0.0
    for name in _FLOAT_COMMANDS:
        hi = icd.COMMANDS.address_of(name)
        if hi in a and hi + 1 in a:
            x = struct.unpack(">f", struct.pack(">HH", a[hi], a[hi + 1]))[0]
            y = struct.unpack(">f", struct.pack(">HH", b[hi], b[hi + 1]))[0]
            worst = max(worst, abs(x - y))
    return worst
