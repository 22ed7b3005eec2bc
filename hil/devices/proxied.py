"""A device behind the link proxy: any rig's wire, misbehaving on purpose (docs/link-proxy.md).

A rig with `link_faults` (or `hil land --link-fault SPEC`) starts its own device as usual, then
puts a LinkProxy between it and the host: the host opens the proxy's pty, the proxy drops,
corrupts, delays or cuts frames by the rules, seeded by `link_fault_seed`. Works for every rig
with a wire: loopback, SIL, emulators and a bench board (the proxy opens the board's port).

The host's pty outlives the device's: a device reset that replaces its port (a SIL restart
makes a new pty, a power-cycled USB board re-enumerates) closes the proxy's device side first
and opens it again after, and the host never notices more than lost frames. Rules scheduled
with schedule() are switched on and off during a run (fault schedules, docs/faults.md).
"""

from __future__ import annotations

from hil.errors import HilError
from hil.link.proxy import LinkProxy, Rule

# Resets after which the device is at another port, or at the same path but a new device node.
_PORT_REPLACED = ("process restart", "Modbus relay power cycle")


class ProxiedDevice:
    def __init__(self, inner, rules: tuple[str, ...] = (), seed: int = 0, baudrate: int = 115200) -> None:
        self.inner = inner
        self.rules = rules
        self.seed = seed
        self.baudrate = baudrate
        self.proxy: LinkProxy | None = None
        self._url: str | None = None

    def start(self) -> str:
        self._url = self.inner.start()
        try:
            self.proxy = LinkProxy(self._url, self.rules, seed=self.seed, baudrate=self.baudrate)
            return self.proxy.start()
        except BaseException:
            self.inner.stop()
            raise

    def stop(self) -> None:
        proxy, self.proxy = self.proxy, None
        try:
            if proxy is not None:
                proxy.stop()
        finally:
            self.inner.stop()

    def failure(self) -> str | None:
        died = self.inner.failure()
        if died:
            return died
        return self.proxy.failure() if self.proxy is not None else None

    def counters(self) -> dict:
        """What the proxy did so far (per direction: frames, dropped, corrupted, ...)."""
        return self.proxy.counters().as_dict() if self.proxy is not None else {}

    # -- rules switched during a run -------------------------------------------------------

    def schedule(self, rule: Rule | str, seed: int | None = None) -> int:
        return self._started().schedule(rule, seed)

    def enable(self, handle: int, on: bool) -> None:
        self._started().enable(handle, on)

    # -- device faults (docs/device-control.md) ----------------------------------------------

    def reset_method(self) -> str | None:
        return self.inner.reset_method()

    def reset(self) -> dict:
        """Reset the device behind the proxy; the host's pty stays."""
        proxy = self._started()
        if self.inner.reset_method() not in _PORT_REPLACED:
            return self.inner.reset()          # same port, same device node: the link stays open
        proxy.detach()                         # before the port goes away under the relay
        try:
            report = self.inner.reset()
        except BaseException:
            try:
                proxy.reconnect(getattr(self.inner, "url", None) or self._url, timeout_s=0.5)
            except Exception:   # noqa: BLE001 - the reset's own error says more
                pass
            raise
        self._url = getattr(self.inner, "url", None) or self._url
        proxy.reconnect(self._url)
        return report

    def slow_method(self) -> str | None:
        return self.inner.slow_method()

    def slow(self, step_delay_us: int) -> None:
        self.inner.slow(step_delay_us)

    def _started(self) -> LinkProxy:
        if self.proxy is None:
            raise HilError("the link proxy is not started")
        return self.proxy
