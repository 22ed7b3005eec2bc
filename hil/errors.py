"""One small error tree: every user-facing failure is a HilError whose str() is one clear line."""


class HilError(Exception):
    """Base of every error the CLI reports as one line (exit code 2 unless stated)."""


class ConfigError(HilError, ValueError):
    """A rig, scenario or criteria file (or a command-line value) is malformed; names file and field."""


class IcdMismatch(HilError):
    """The device's register layout differs from the host's; names both versions and hashes."""


class LinkError(HilError, IOError):
    """A Modbus RTU exchange failed. Carries the port and, when known, the control frame number."""

    def __init__(self, message: str, *, port: str = "", frame: int | None = None) -> None:
        where = f" on {port}" if port else ""
        when = f" (frame {frame})" if frame is not None else ""
        super().__init__(f"{message}{where}{when}")
        self.port = port
        self.frame = frame


class PortOpenError(LinkError):
    """The serial port or URL could not be opened."""


class LinkTimeout(LinkError):
    """No (complete) response arrived within the configured time."""


class CrcError(LinkError):
    """A response arrived whose CRC-16 does not match its bytes."""


class FrameError(LinkError):
    """A response with a CRC that checks out but the wrong unit, function or length."""


class ModbusExceptionReply(LinkError):
    """The device answered with a Modbus exception response."""

    NAMES = {1: "illegal function", 2: "illegal data address", 3: "illegal data value",
             4: "server device failure", 6: "server device busy"}

    def __init__(self, code: int, *, function: int, port: str = "", frame: int | None = None) -> None:
        name = self.NAMES.get(code, "unknown")
        super().__init__(f"Modbus exception {code:02d} ({name}) to FC{function:02d}",
                         port=port, frame=frame)
        self.code = code
        self.function = function


class LinkLost(HilError):
    """The run lost its controller mid-flight: names the plant time and flight phase."""

    def __init__(self, message: str, *, t: float, phase: str, frame: int | None = None) -> None:
        super().__init__(f"link lost at t={t:.3f} s in {phase}"
                         f"{f' (frame {frame})' if frame is not None else ''}: {message}")
        self.t, self.phase, self.frame = t, phase, frame
