#!/usr/bin/env python3
"""Write the fuzz seed corpus (firmware/fuzz/corpus/): valid requests, exceptions, garbage.

Each seed is two control bytes (largest chunk, chunk-size seed: see fuzz_mb_server.c) and
the bytes on the line. Standard library only, so it runs without the project installed.
"""

import random
import struct
from pathlib import Path

CORPUS = Path(__file__).resolve().parent / "corpus"
IDENTITY, CONFIG, SENSORS, COMMANDS = 0x0000, 0x0040, 0x0100, 0x0180
CONFIG_LEN, SENSORS_LEN, COMMANDS_LEN = 57, 25, 25
READ_TICK = COMMANDS + 23                  # commands.read_tick_us (docs/icd.md)


def crc16(data: bytes) -> bytes:
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return struct.pack("<H", crc)


def frame(body: bytes) -> bytes:
    return body + crc16(body)


def fc03(address: int, count: int, unit: int = 1) -> bytes:
    return frame(struct.pack(">BBHH", unit, 3, address, count))


def fc06(address: int, value: int, unit: int = 1) -> bytes:
    return frame(struct.pack(">BBHH", unit, 6, address, value))


def fc16(address: int, words: list[int], unit: int = 1) -> bytes:
    n = len(words)
    return frame(struct.pack(f">BBHHB{n}H", unit, 16, address, n, 2 * n, *words))


def fc23(waddr: int, words: list[int], raddr: int, rcount: int, unit: int = 1) -> bytes:
    n = len(words)
    return frame(struct.pack(f">BBHHHHB{n}H", unit, 23, raddr, rcount, waddr, n, 2 * n, *words))


def f32_words(value: float) -> list[int]:
    return list(struct.unpack(">HH", struct.pack(">f", value)))


def sensor_frame(frame_no: int, t_us: int, seq: int, altitude: float, vz: float, flags: int = 9,
                 health: int = 0, thrust_avail: float = 1.0) -> list[int]:
    raw = struct.pack(">IIHffffffffHHf", frame_no, t_us, seq, altitude, 0.1, -0.1, vz, 0.0, 0.0, 3.711,
                      0.0, flags, health, thrust_avail)
    return list(struct.unpack(f">{SENSORS_LEN}H", raw))


def default_config(timing_mode: int = 0) -> list[int]:
    values = ([("H", timing_mode), ("f", 50.0), ("f", 0.1), ("f", 0.35), ("f", 4.0), ("f", 0.6), ("f", 1.0),
               ("f", 0.3), ("f", 0.5), ("H", 3), ("f", 3.0), ("f", 0.75), ("f", 22.0), ("f", 20.0),
               ("f", 0.05), ("f", 0.15), ("f", 7.5), ("H", 1), ("f", 1.5), ("f", 0.3), ("f", 1.0),
               ("f", 2.0), ("f", 0.5), ("f", 0.2), ("f", 1.5), ("f", 4.0), ("f", 0.75), ("f", 0.5),
               ("f", 3.0), ("f", 0.25)])
    raw = b"".join(struct.pack(">" + code, value) for code, value in values)
    assert len(raw) == 2 * CONFIG_LEN
    return list(struct.unpack(f">{CONFIG_LEN}H", raw))


def descent(frames: int, every: int = 1, health: int = 0) -> bytes:
    """FC23 sensor frames (each `every`-th only) with a command read: lockstep or real-time.
    With health, the second half of the frames tells those faults (an engine out: 7/8 thrust)."""
    out = b""
    for k in range(1, frames + 1):
        told = (health, 0.875) if 2 * k > frames else (0, 1.0)
        if k % every == 0 or k == 1:
            out += fc23(SENSORS, sensor_frame(k, 20_000 * k, k // 3, 30.0 - 0.5 * k, -1.0, 9, *told),
                        COMMANDS, COMMANDS_LEN)
        else:
            out += fc03(COMMANDS, COMMANDS_LEN)
    return out


def seeds() -> dict[str, bytes]:
    rng = random.Random(1)
    garbage = bytes(rng.randrange(256) for _ in range(40))
    whole = b"\x00\x00"
    return {
        "fc03_identity": whole + fc03(IDENTITY, 6),
        "fc03_config": whole + fc03(CONFIG, CONFIG_LEN),
        "fc06_td_enable": whole + fc06(0x0060, 0) + fc03(0x0060, 1),
        "fc16_kp_vz": whole + fc16(0x0047, f32_words(2.5)),
        "fc16_whole_config": whole + fc16(CONFIG, default_config()),
        "fc23_one_frame": whole + fc23(SENSORS, sensor_frame(1, 20_000, 1, 1500.0, -70.0), COMMANDS,
                                       COMMANDS_LEN),
        "fc23_descent": whole + descent(12),
        "fc23_split_chunks": b"\x05\x07" + descent(3),
        "fc23_told_faults": whole + descent(12, health=7),
        # byte 0 bit 7: device time passes between chunks (real-time steps, stale frames, watchdog)
        "realtime_descent": b"\xbf\x11" + fc16(CONFIG, default_config(timing_mode=1)) + descent(12, every=2)
        + fc03(READ_TICK, 2),
        "realtime_watchdog": b"\xbf\x2a" + fc16(CONFIG, default_config(timing_mode=1))
        + fc16(0x0077, f32_words(0.1)) + descent(2) + fc03(COMMANDS, COMMANDS_LEN) * 12
        + descent(2) + fc16(CONFIG, default_config(timing_mode=1)) + descent(2),
        "exceptions": whole + b"".join((
            frame(bytes([1, 4, 0, 0, 0, 1])),            # 01: not served
            fc03(0x0030, 1),                             # 02: no block there
            fc06(0x0048, 0),                             # 02: splits kp_vz
            fc06(0x0060, 7),                             # 03: td_enable out of range
            fc03(0, 0),                                  # 03: count 0
            frame(bytes.fromhex("01 10 00 00 00 02 02 00 01")),  # 03: byte count
            fc06(SENSORS, 1),                            # 02: partial sensor frame
            fc06(COMMANDS, 1),                           # 02: read-only
        )),
        "garbage_then_valid": whole + garbage + fc03(IDENTITY, 6),
        "truncated_then_valid": b"\x43\x01" + fc16(CONFIG, default_config())[:30] + fc03(IDENTITY, 6),
        "other_units_and_broadcast": whole + fc06(0x0060, 0, unit=2) + fc16(0x0047, f32_words(1.0), unit=0)
        + fc03(0x0047, 2),
    }


def main() -> None:
    CORPUS.mkdir(exist_ok=True)
    for name, data in seeds().items():
        (CORPUS / name).write_bytes(data)
    print(f"wrote {len(seeds())} seeds to {CORPUS}")


if __name__ == "__main__":
    main()
