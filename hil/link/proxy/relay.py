"""LinkProxy: a pty for the host, the device at any pyserial URL, and faults on the wire between.

One background thread relays both directions with select(): bytes are read as they come,
split into frames per direction (requests host -> device, replies device -> host), each frame
runs through the FaultPlan, and what leaves goes out at once or, when delayed, queued in order
(later bytes wait behind a delayed frame; nothing is reordered).

The device side can be closed and opened again (a reset device with a new pty, a board that
was power-cycled) while the host's pty stays; and rules can be scheduled off and switched on
and off during a run. Both are asked of the relay thread through its wake-up pipe.
"""

from __future__ import annotations

import collections
import errno
import logging
import math
import os
import queue
import select
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from types import TracebackType

import serial

from hil.devices.pty_pair import open_pty_pair
from hil.errors import HilError, PortOpenError
from hil.link.proxy.framing import FrameSplitter, reply_size, request_size
from hil.link.proxy.rules import REPLY, REQUEST, FaultPlan, Rule

_log = logging.getLogger(__name__)

FRAME_TIMEOUT_S = 0.02        # held bytes that form no frame after this much quiet go out raw
DEVICE_WRITE_TIMEOUT_S = 0.5  # a device that does not take bytes for this long loses them
_READ_SIZE = 4096
_THREAD_READ_SLICE_S = 0.05   # reader thread of a device without a selectable fd
_EVENTS_KEPT = 100_000
_DIRECTIONS = (REQUEST, REPLY)
_CONTROL_TIMEOUT_S = 5.0      # the relay thread takes a detach or attach within a select() pass
_REOPEN_EVERY_S = 0.05        # reconnect: a device not there yet is tried again this often


@dataclass
class DirectionCounters:
    """What one direction saw and did (requests: host -> device; replies: device -> host)."""

    bytes_in: int = 0        # read from the sending side
    bytes_out: int = 0       # written to the receiving side (garbage included)
    frames: int = 0          # complete CRC-valid frames seen (rules number them from 1)
    dropped: int = 0         # frames not passed on (drop, disconnect)
    corrupted: int = 0
    delayed: int = 0
    cut: int = 0
    garbage: int = 0         # frames that got random bytes inserted before them
    garbage_bytes: int = 0
    raw_bytes: int = 0       # bytes relayed that formed no frame (line noise, unknown functions)
    lost_bytes: int = 0      # discarded: the link was disconnected, or the receiver did not take them

    def faults(self) -> str:
        """'1 dropped, 2 corrupted', or 'clean'."""
        parts = [f"{getattr(self, name)} {name}" for name in
                 ("dropped", "corrupted", "delayed", "cut", "garbage") if getattr(self, name)]
        return ", ".join(parts) or "clean"


@dataclass(frozen=True)
class ProxyCounters:
    """A snapshot of the proxy's counters."""

    request: DirectionCounters
    reply: DirectionCounters
    disconnects: int
    rule_hits: tuple[int, ...]       # per rule, in order: frames it acted on
    rules: tuple[str, ...]
    seed: int
    scheduled: tuple[bool, ...] = ()  # per rule: added by schedule() (switched on and off in the run)
    reconnects: int = 0               # times the device side was opened again (reconnect())

    def summary(self) -> str:
        """One line: frames and faults each way, raw and lost bytes, disconnects."""
        def side(name: str, c: DirectionCounters) -> str:
            extra = "".join(f", {n} B {what}" for what, n in (("raw", c.raw_bytes), ("lost", c.lost_bytes)) if n)
            return f"{name} {c.frames} frames {c.bytes_in} B in ({c.faults()}{extra})"
        line = f"link proxy seed {self.seed}: {side('requests', self.request)}; {side('replies', self.reply)}"
        if self.disconnects:
            line += f"; {self.disconnects} disconnects"
        if self.reconnects:
            line += f"; device side reopened {self.reconnects} times"
        return line

    def as_dict(self) -> dict:
        scheduled = self.scheduled or (False,) * len(self.rules)
        return {"request": asdict(self.request), "reply": asdict(self.reply),
                "disconnects": self.disconnects, "seed": self.seed, "reconnects": self.reconnects,
                "rules": [{"rule": r, "hits": h, **({"scheduled": True} if sch else {})}
                          for r, h, sch in zip(self.rules, self.rule_hits, scheduled)]}


@dataclass(frozen=True)
class ProxyEvent:
    """One rule acting on one frame: time.monotonic(), direction, frame number, action, rule index.
    The device side closing and opening again are events too: direction "both", action "detach"
    or "reconnect", rule -1, frame the number of requests seen so far."""

    t: float
    direction: str
    frame: int
    action: str
    rule: int


class _DeviceLost(Exception):
    pass


class _SelectableDevice:
    """A device whose pyserial object reads from one fd (a tty, a pty, socket://): select on it."""

    def __init__(self, ser: serial.SerialBase) -> None:
        self.ser = ser
        self.rfd = ser.fileno()

    def read(self) -> bytes:
        return self.ser.read(_READ_SIZE)            # timeout 0: what is there, at once

    def write(self, data: bytes) -> None:
        self.ser.write(data)

    def close(self) -> None:
        self.ser.close()


class _ThreadedDevice:
    """A device without a selectable fd (rfc2217://, loop://): a thread reads it with a short
    timeout and hands the bytes over through a pipe the relay selects on."""

    def __init__(self, ser: serial.SerialBase) -> None:
        self.ser = ser
        ser.timeout = _THREAD_READ_SLICE_S
        self.rfd, self._notify_w = os.pipe()
        os.set_blocking(self.rfd, False)
        os.set_blocking(self._notify_w, False)
        self._chunks: collections.deque[bytes] = collections.deque()
        self._error: BaseException | None = None
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="link-proxy-device-reader", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        ser = self.ser
        while not self._stop:
            try:
                data = ser.read(max(1, ser.in_waiting))
            except Exception as exc:  # noqa: BLE001 - any failure ends the device side
                self._error = exc
                data = b""
            if data:
                self._chunks.append(data)
            if data or self._error is not None:
                try:
                    os.write(self._notify_w, b"x")
                except (BlockingIOError, OSError):
                    pass                      # the pipe is full: the relay is already due to read
            if self._error is not None:
                return

    def read(self) -> bytes:
        try:
            os.read(self.rfd, _READ_SIZE)
        except BlockingIOError:
            pass
        chunks = []
        while self._chunks:
            chunks.append(self._chunks.popleft())
        if not chunks and self._error is not None:
            raise _DeviceLost(_reason(self._error))
        return b"".join(chunks)

    def write(self, data: bytes) -> None:
        self.ser.write(data)

    def close(self) -> None:
        self._stop = True
        self._thread.join(timeout=2)
        self.ser.close()
        os.close(self.rfd)
        os.close(self._notify_w)


def _open_device(url: str, baudrate: int) -> _SelectableDevice | _ThreadedDevice:
    # pyserial's rfc2217:// refuses a write timeout; its writes go to a TCP socket anyway.
    write_timeout = None if url.startswith("rfc2217://") else DEVICE_WRITE_TIMEOUT_S
    try:
        ser = serial.serial_for_url(url, baudrate=baudrate, timeout=0, write_timeout=write_timeout)
    except Exception as exc:  # pyserial raises SerialException, ValueError, OSError...
        raise PortOpenError(f"link proxy cannot open the device side ({_reason(exc)})", port=url) from exc
    if _selectable(ser):
        return _SelectableDevice(ser)
    return _ThreadedDevice(ser)


def _selectable(ser: serial.SerialBase) -> bool:
    """True for the pyserial classes whose read() is a read of fileno() (no buffer of their own)."""
    try:
        from serial.serialposix import Serial as PosixSerial
    except ImportError:                        # not POSIX
        return False
    from serial.urlhandler.protocol_socket import Serial as SocketSerial
    return isinstance(ser, (PosixSerial, SocketSerial))


def _close_quietly(dev: _SelectableDevice | _ThreadedDevice) -> None:
    try:
        dev.close()
    except Exception:  # noqa: BLE001 - closing a failed device may fail again
        pass


def _reason(exc: BaseException) -> str:
    inner = exc.__context__ if isinstance(exc.__context__, OSError) else exc
    text = " ".join(str(getattr(inner, "strerror", None) or str(inner) or type(inner).__name__).split())
    if "returned no data" in text:     # pyserial's words for a tty whose other end has gone
        return "the port reports data but returns none (the device closed its end, or another " \
               "program reads the same port)"
    return text


class LinkProxy:
    """A misbehaving wire between the host's Modbus RTU client and a device, on purpose.

    `device` is any pyserial URL (a pty path, /dev/ttyACM0, rfc2217://host:port, socket://...).
    start() opens it, makes a pty for the host and returns the pty's path, which the host opens
    as it would a board's port. `rules` (Rule objects or rule strings, applied in order) act on
    whole frames; their randomness comes from numpy Generators seeded from `seed`. Bytes that
    form no frame within `frame_timeout_s` of quiet are relayed unchanged.

        with LinkProxy("/dev/pts/5", ["reply:drop:at=5"], seed=1) as proxy:
            client = RtuClient(proxy.host_path)
    """

    def __init__(self, device: str, rules: Sequence[Rule | str] = (), *, seed: int = 0,
                 baudrate: int = 115200, frame_timeout_s: float = FRAME_TIMEOUT_S) -> None:
        if not frame_timeout_s > 0:
            raise ValueError(f"frame_timeout_s must be > 0, got {frame_timeout_s}")
        self.device = device
        self.baudrate = baudrate
        self.frame_timeout_s = frame_timeout_s
        self.plan = FaultPlan(rules, seed)
        self.host_path: str | None = None
        self._counters = {d: DirectionCounters() for d in _DIRECTIONS}
        self._disconnects = 0
        self._events: collections.deque[ProxyEvent] = collections.deque(maxlen=_EVENTS_KEPT)
        self._splitters = {REQUEST: FrameSplitter(request_size, frame_timeout_s),
                           REPLY: FrameSplitter(reply_size, frame_timeout_s)}
        self._queues: dict[str, collections.deque[tuple[float, bytes]]] = \
            {d: collections.deque() for d in _DIRECTIONS}
        self._gate_until = -math.inf      # nothing crosses before this (time.monotonic())
        self._failure: str | None = None
        self._master = self._slave = -1
        self._dev: _SelectableDevice | _ThreadedDevice | None = None   # None: detached
        self._wake_r = self._wake_w = -1
        self._thread: threading.Thread | None = None
        self._ended = threading.Event()
        self._started = False
        self._stop_asked = False
        self._requests: queue.SimpleQueue = queue.SimpleQueue()   # (what, device, done event) for the thread
        self._control_lock = threading.Lock()      # one detach/reconnect at a time
        self._reconnects = 0

    @property
    def rules(self) -> tuple[Rule, ...]:
        return self.plan.rules

    @property
    def seed(self) -> int:
        return self.plan.seed

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> str:
        """Open the device side and the host's pty, start relaying; return the host's pty path.
        PortOpenError (one line naming the URL) if the device cannot be opened."""
        if self._started:
            raise RuntimeError("LinkProxy already started (make a new one to start again)")
        self._started = True
        self._dev = _open_device(self.device, self.baudrate)
        try:
            self._master, path = open_pty_pair()
            os.set_blocking(self._master, False)
            # Holding the slave open ourselves keeps the master readable while no host has the
            # port open (no EIO, no hangup), and the line settings survive a host reopening it.
            self._slave = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
            self._wake_r, self._wake_w = os.pipe()
            os.set_blocking(self._wake_w, False)
        except BaseException:
            self._close_fds()
            raise
        self.host_path = path
        self._thread = threading.Thread(target=self._run, name="link-proxy", daemon=True)
        self._thread.start()
        return path

    def request_stop(self) -> None:
        """Ask the relay to end without waiting (safe from a signal handler); stop() cleans up."""
        self._stop_asked = True
        if self._wake_w >= 0:
            try:
                os.write(self._wake_w, b"x")
            except OSError:
                pass

    def stop(self) -> None:
        """Stop relaying, join the thread, close the pty and the device (idempotent)."""
        thread, self._thread = self._thread, None
        if thread is not None:
            self.request_stop()
            thread.join(timeout=5)
            if thread.is_alive():
                _log.warning("link proxy thread did not stop within 5 s")
        self._close_fds()

    def _close_fds(self) -> None:
        dev, self._dev = self._dev, None
        if dev is not None:
            _close_quietly(dev)
        for name in ("_master", "_slave", "_wake_r", "_wake_w"):
            fd = getattr(self, name)
            if fd >= 0:
                os.close(fd)
                setattr(self, name, -1)

    def __enter__(self) -> LinkProxy:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the relay has ended (stop, request_stop, or the device failed); True if it has."""
        return self._ended.wait(timeout)

    def failure(self) -> str | None:
        """Why the relay ended on its own (the device side failed), or None."""
        return self._failure

    # -- what happened ----------------------------------------------------------------------

    def counters(self) -> ProxyCounters:
        plan = self.plan
        rules, scheduled = plan.rules, plan.scheduled
        return ProxyCounters(request=replace(self._counters[REQUEST]), reply=replace(self._counters[REPLY]),
                             disconnects=self._disconnects, rule_hits=tuple(plan.hits[:len(rules)]),
                             rules=tuple(r.spec for r in rules), seed=plan.seed,
                             scheduled=scheduled[:len(rules)], reconnects=self._reconnects)

    def summary(self) -> str:
        return self.counters().summary()

    def events(self) -> list[ProxyEvent]:
        """Every rule activation so far (the newest 100 000), oldest first."""
        return list(self._events)

    # -- rules switched during a run ----------------------------------------------------------

    def schedule(self, rule: Rule | str, seed: int | None = None) -> int:
        """Add a rule (a Rule or a rule string) that starts off; returns its handle for enable().
        Its hits and events are counted like those of the fixed rules. `seed`: FaultPlan.schedule."""
        return self.plan.schedule(rule, seed)

    def enable(self, handle: int, on: bool) -> None:
        """Switch a scheduled rule on or off; it acts from the next frame on."""
        self.plan.enable(handle, on)

    # -- the device side going away and coming back -------------------------------------------

    @property
    def attached(self) -> bool:
        """Whether the device side is open (False between detach() and reconnect())."""
        return self._dev is not None

    def detach(self) -> None:
        """Close the device side now, before it goes away under the relay (a device being reset
        or power-cycled); the host's pty stays. Until reconnect(), bytes from the host are lost
        (counted in the requests' lost_bytes). Idempotent."""
        with self._control_lock:
            self._detach()

    def reconnect(self, device: str | None = None, *, timeout_s: float = _CONTROL_TIMEOUT_S) -> None:
        """Close the device side (if open) and open `device` (default: the same URL again), trying
        for up to timeout_s while it is not there yet (a board re-enumerating on USB). The host's
        pty stays as it is. PortOpenError (one line) when it cannot be opened in time; the relay
        then stays detached. A relay that had ended because its device failed starts again."""
        if not self._started or self._master < 0:
            raise RuntimeError("LinkProxy.reconnect() needs a started proxy")
        with self._control_lock:
            self._detach()
            url = device or self.device
            deadline = time.monotonic() + timeout_s
            while True:
                try:
                    dev = _open_device(url, self.baudrate)
                    break
                except PortOpenError:
                    if time.monotonic() >= deadline:
                        raise
                    time.sleep(_REOPEN_EVERY_S)
            self.device = url
            self._reconnects += 1
            self._event("reconnect")
            if self.running:
                self._ask("attach", dev)
            else:
                self._dev = dev
            if not self.running:        # the relay had ended on a device failure: relay again
                self._failure = None
                self._ended.clear()
                self._thread = threading.Thread(target=self._run, name="link-proxy", daemon=True)
                self._thread.start()

    def _detach(self) -> None:
        if self._dev is None:
            return
        self._event("detach")
        if self.running:
            self._ask("detach", None)
        else:
            dev, self._dev = self._dev, None
            _close_quietly(dev)

    def _ask(self, what: str, dev) -> None:
        """Have the relay thread do `what` between two select() passes, and wait for it."""
        done = threading.Event()
        self._requests.put((what, dev, done))
        os.write(self._wake_w, b"c")
        deadline = time.monotonic() + _CONTROL_TIMEOUT_S
        while not done.wait(0.05):
            if self._ended.is_set():
                self._take_requests()          # the relay ended meanwhile: nobody else will
            elif time.monotonic() > deadline:
                raise HilError(f"link proxy did not {what} its device side within {_CONTROL_TIMEOUT_S:g} s")

    def _event(self, action: str) -> None:
        self._events.append(ProxyEvent(time.monotonic(), "both", self._counters[REQUEST].frames, action, -1))

    def _take_requests(self) -> None:
        """In the relay thread: carry out detach and attach requests."""
        while True:
            try:
                what, dev, done = self._requests.get_nowait()
            except queue.Empty:
                return
            if what == "detach":
                old, self._dev = self._dev, None
                if old is not None:
                    _close_quietly(old)
            else:
                self._dev = dev
            done.set()

    # -- relay thread -----------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._relay()
        except _DeviceLost as exc:
            self._failure = f"link proxy lost the device side {self.device}: {exc}"
            _log.debug("%s", self._failure)          # reported by failure(), not twice on stderr
        except Exception as exc:  # a bug: say so instead of relaying nothing in silence
            self._failure = f"link proxy stopped: {type(exc).__name__}: {exc}"
            _log.exception("link proxy relay failed")
        finally:
            self._ended.set()

    def _relay(self) -> None:
        host, wake = self._master, self._wake_r
        monotonic = time.monotonic
        while True:
            dev = self._dev
            rfds = [host, wake] if dev is None else [host, dev.rfd, wake]
            deadline = self._next_deadline()
            timeout = None if deadline is None else max(0.0, deadline - monotonic())
            ready = select.select(rfds, (), (), timeout)[0]
            now = monotonic()
            if ready:
                if wake in ready:
                    try:
                        os.read(wake, _READ_SIZE)
                    except BlockingIOError:
                        pass
                    if self._stop_asked:
                        return
                    self._take_requests()
                    continue
                if host in ready:
                    try:
                        data = os.read(host, _READ_SIZE)
                    except BlockingIOError:
                        data = b""
                    except OSError as exc:     # EIO cannot happen while we hold the slave open
                        if exc.errno != errno.EIO:
                            raise
                        data = b""
                    if data:
                        self._received(REQUEST, data, now)
                if dev is not None and dev.rfd in ready:
                    try:
                        data = dev.read()
                    except _DeviceLost:
                        raise
                    except (serial.SerialException, OSError) as exc:
                        raise _DeviceLost(_reason(exc)) from exc
                    if data:
                        self._received(REPLY, data, now)
            self._service(now)

    def _next_deadline(self) -> float | None:
        deadline = None
        for d in _DIRECTIONS:
            for t in (self._splitters[d].deadline, self._queues[d][0][0] if self._queues[d] else None):
                if t is not None and (deadline is None or t < deadline):
                    deadline = t
        return deadline

    def _received(self, direction: str, data: bytes, now: float) -> None:
        counters = self._counters[direction]
        counters.bytes_in += len(data)
        for is_frame, chunk in self._splitters[direction].feed(data, now):
            if is_frame:
                self._frame(direction, chunk, now)
            else:
                counters.raw_bytes += len(chunk)
                self._send(direction, chunk, now, now)

    def _frame(self, direction: str, frame: bytes, now: float) -> None:
        counters = self._counters[direction]
        counters.frames += 1
        out = self.plan.apply(direction, counters.frames, frame) if self.plan.active(direction) else None
        if out is None:
            self._send(direction, frame, now, now)
            return
        actions = set()
        for index, action in out.applied:
            actions.add(action)
            self._events.append(ProxyEvent(now, direction, counters.frames, action, index))
        counters.dropped += out.dropped
        counters.corrupted += "corrupt" in actions
        counters.delayed += "delay" in actions
        counters.cut += "cut" in actions
        if out.prefix:
            counters.garbage += 1
            counters.garbage_bytes += len(out.prefix)
        if out.disconnect_s is not None:
            self._disconnects += 1
            self._gate_until = max(self._gate_until, now + out.disconnect_s)
        payload = out.payload()
        if payload:
            self._send(direction, payload, now + out.delay_s, now)

    def _send(self, direction: str, data: bytes, release: float, now: float) -> None:
        """Pass bytes on at `release`, but never before bytes queued earlier in this direction."""
        queue = self._queues[direction]
        if not queue and release <= now:
            self._deliver(direction, data, now)
            return
        if queue and queue[-1][0] > release:
            release = queue[-1][0]
        queue.append((release, data))

    def _service(self, now: float) -> None:
        """Give up held bytes that formed no frame in time; deliver queued bytes that are due."""
        for d in _DIRECTIONS:
            splitter = self._splitters[d]
            if splitter.held and now >= splitter.deadline:
                raw = splitter.flush()
                self._counters[d].raw_bytes += len(raw)
                self._send(d, raw, now, now)
            queue = self._queues[d]
            if queue and queue[0][0] <= now:
                parts = []
                while queue and queue[0][0] <= now:
                    parts.append(queue.popleft()[1])
                self._deliver(d, b"".join(parts), now)

    def _deliver(self, direction: str, data: bytes, now: float) -> None:
        counters = self._counters[direction]
        if now < self._gate_until:                 # disconnected: nothing crosses
            counters.lost_bytes += len(data)
            return
        if direction == REQUEST and self._dev is None:   # detached: the device is not there
            counters.lost_bytes += len(data)
            return
        # Counted before the write, so a receiver that has the bytes also sees them counted.
        counters.bytes_out += len(data)
        if direction == REQUEST:
            try:
                self._dev.write(data)
            except serial.SerialTimeoutException:
                written = 0
            except (serial.SerialException, OSError) as exc:
                raise _DeviceLost(_reason(exc)) from exc
            else:
                return
        else:
            try:
                written = os.write(self._master, data)
            except OSError:                        # the host's input queue is full (nobody reads)
                written = 0
        counters.bytes_out -= len(data) - written
        counters.lost_bytes += len(data) - written
