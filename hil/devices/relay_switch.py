"""A Modbus relay module that switches a bench board's power: one coil, written with pymodbus.

The module is reached over Modbus TCP (`tcp://HOST:PORT`) or Modbus RTU on a serial port (any
pyserial URL: /dev/ttyUSB1, rfc2217://host:port). Coil on = powered. Each write's round trip is
the switching latency the run records: what the host waited for the module to say it switched.
"""

from __future__ import annotations

import time
from urllib.parse import urlsplit

from hil.errors import HilError

TIMEOUT_S = 1.0      # a relay module answers a coil write within a few ms; a silent one is gone


def parse_tcp(url: str) -> tuple[str, int]:
    """tcp://HOST:PORT -> (host, port); ValueError naming what is wrong."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    if parts.scheme != "tcp" or not parts.hostname or port is None or parts.path not in ("", "/"):
        raise ValueError(f"{url!r} is not tcp://HOST:PORT")
    return parts.hostname, port


class RelaySwitch:
    """One coil of a relay module. Connects on first use; close() when done."""

    def __init__(self, url: str, *, unit: int = 1, coil: int = 0, baudrate: int = 9600,
                 timeout_s: float = TIMEOUT_S) -> None:
        self.url = url
        self.unit = unit
        self.coil = coil
        if url.startswith("tcp://"):
            from pymodbus.client import ModbusTcpClient
            host, port = parse_tcp(url)
            self._client = ModbusTcpClient(host, port=port, timeout=timeout_s, retries=0)
        else:
            from pymodbus.client import ModbusSerialClient
            self._client = ModbusSerialClient(url, baudrate=baudrate, timeout=timeout_s, retries=0)

    def switch(self, on: bool) -> float:
        """Write the coil; return the round trip in seconds. HilError (one line) when the module
        cannot be reached or refuses."""
        from pymodbus.exceptions import ModbusException
        what = f"relay {self.url} unit {self.unit} coil {self.coil} {'on' if on else 'off'}"
        started = time.perf_counter()
        try:
            if not self._client.connected and not self._client.connect():
                raise HilError(f"{what}: cannot connect")
            reply = self._client.write_coil(self.coil, on, device_id=self.unit)
        except ModbusException as exc:
            self._client.close()               # reconnect at the next write
            raise HilError(f"{what}: {' '.join(str(exc).split())}") from None
        took = time.perf_counter() - started
        if reply.isError():
            raise HilError(f"{what}: refused (Modbus exception {getattr(reply, 'exception_code', '?')})")
        return took

    def power_cycle(self, off_s: float) -> dict:
        """Power off, wait off_s, power on; the two writes' round trips."""
        off_latency = self.switch(False)
        time.sleep(off_s)
        on_latency = self.switch(True)
        return {"off_latency_s": off_latency, "on_latency_s": on_latency, "off_s": off_s}

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> RelaySwitch:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
