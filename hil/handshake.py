"""Connect-time handshake: identify the device, refuse a foreign ICD, write the run's config."""

from __future__ import annotations

import time

from hil import icd
from hil.errors import CrcError, FrameError, IcdMismatch, LinkError, LinkTimeout

IDENTIFY_ATTEMPTS = 3


def identify(link) -> dict:
    """Read the identity block (a few tries: a board may still be booting, or send its boot
    banner or line noise first) and check the ICD."""
    for attempt in range(IDENTIFY_ATTEMPTS):
        try:
            link.drain()
            ident = icd.IDENTITY.decode_map(link.read_holding(icd.IDENTITY.base, icd.IDENTITY.length))
            break
        except LinkTimeout:
            if attempt == IDENTIFY_ATTEMPTS - 1:
                raise LinkTimeout(f"no answer to the identity request after {IDENTIFY_ATTEMPTS} tries "
                                  "(is the controller running and the port, baud rate and unit right?)",
                                  port=link.port) from None
        except (CrcError, FrameError) as exc:
            if attempt == IDENTIFY_ATTEMPTS - 1:
                raise LinkError(f"only garbled answers to the identity request after {IDENTIFY_ATTEMPTS} tries "
                                f"(wrong baud rate, or another program on the port?); last: {exc}") from None
    if ident["icd_version"] != icd.ICD_VERSION or ident["layout_hash"] != icd.LAYOUT_HASH:
        raise IcdMismatch(
            f"device on {link.port} speaks ICD v{ident['icd_version']} layout 0x{ident['layout_hash']:08X}, "
            f"host speaks ICD v{icd.ICD_VERSION} layout 0x{icd.LAYOUT_HASH:08X}; rebuild one side")
    kind = ident["device_kind"]
    ident["device_kind_name"] = icd.DeviceKind(kind).name if kind in icd.DeviceKind._value2member_map_ else str(kind)
    return ident


def configure(link, values: dict) -> None:
    """Write the whole config block, then read it back: a board that drops the write is caught here."""
    registers = icd.encode_config(values)
    link.write_registers(icd.CONFIG.base, registers)
    echo = link.read_holding(icd.CONFIG.base, icd.CONFIG.length)
    if echo != registers:
        differing = [n for n, a, b in zip(icd.CONFIG.names, icd.CONFIG.decode(echo), icd.CONFIG.decode(registers))
                     if a != b]
        raise LinkError(f"config read-back differs in {', '.join(differing)}", port=link.port)


def wait_for_boot(seconds: float) -> None:
    if seconds > 0:
        time.sleep(seconds)
