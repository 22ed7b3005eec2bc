"""Serial device: a controller already running somewhere, reached at a pyserial URL (bench)."""

from __future__ import annotations


class SerialPortDevice:
    """Nothing to start: the board is powered by its USB cable; we only know where it is."""

    def __init__(self, port: str) -> None:
        self.port = port

    def start(self) -> str:
        return self.port

    def stop(self) -> None:
        pass

    def failure(self) -> str | None:
        return None
