"""A device behind the link proxy: any rig's wire, misbehaving on purpose (docs/link-proxy.md).

A rig with `link_faults` (or `hil land --link-fault SPEC`) starts its own device as usual, then
puts a LinkProxy between it and the host: the host opens the proxy's pty, the proxy drops,
corrupts, delays or cuts frames by the rules, seeded by `link_fault_seed`. Works for every rig
with a wire: loopback, SIL, emulators and a bench board (the proxy opens the board's port).
"""

from __future__ import annotations

from hil.link.proxy import LinkProxy


class ProxiedDevice:
    def __init__(self, inner, rules: tuple[str, ...], seed: int, baudrate: int) -> None:
        self.inner = inner
        self.rules = rules
        self.seed = seed
        self.baudrate = baudrate
        self.proxy: LinkProxy | None = None

    def start(self) -> str:
        url = self.inner.start()
        try:
            self.proxy = LinkProxy(url, self.rules, seed=self.seed, baudrate=self.baudrate)
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
