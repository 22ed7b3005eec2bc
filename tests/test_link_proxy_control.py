"""The link proxy switched during a run: rules scheduled off and turned on and off (fault
schedules), and the device side closed and opened again while the host's pty stays (a device
reset). Against the real RTU client and server, as tests/test_link_proxy.py.
"""

from __future__ import annotations

import os
import threading
import time

import pytest

from hil import icd
from hil.devices.controller_registers import ControllerRegisters
from hil.devices.pty_pair import open_pty_pair
from hil.devices.rtu_server import RtuServer
from hil.errors import LinkTimeout, PortOpenError
from hil.link.proxy import FaultPlan, LinkProxy, parse_rule
from hil.reference import ReferenceController
from tests.test_link_proxy import TIMEOUT_S, through_proxy  # noqa: F401 - the fixture

pytestmark = pytest.mark.timeout(60)

FRAME = bytes(range(1, 9))


# -- scheduled rules: the plan ------------------------------------------------------------------------

def test_a_scheduled_rule_starts_off_and_acts_only_while_on():
    plan = FaultPlan(["request:delay=5ms:every"], seed=3)
    handle = plan.schedule("both:drop:every")
    assert handle == 1 and plan.scheduled == (False, True) and not plan.is_on(handle)
    assert plan.apply("reply", 1, FRAME) is None                          # off: untouched
    plan.enable(handle, True)
    assert plan.apply("reply", 3, FRAME).dropped and plan.apply("request", 1, FRAME).dropped
    plan.enable(handle, False)
    assert plan.apply("reply", 4, FRAME) is None and plan.apply("request", 2, FRAME).delay_s == 0.005
    assert plan.hits == [2, 2]                                            # two delays, two drops
    with pytest.raises(ValueError, match="not the handle of a scheduled rule"):
        plan.enable(0, False)                                             # a fixed rule always acts


def _outcomes(seed: int, on_frames: range, extra_rule: str | None = None) -> list:
    """Frames 1..300 through a scheduled rate rule that is on for `on_frames`; which were hit."""
    plan = FaultPlan([extra_rule] if extra_rule else [], seed=seed)
    handle = plan.schedule("reply:corrupt:rate=0.2")
    hits = []
    for n in range(1, 301):
        plan.enable(handle, n in on_frames)
        out = plan.apply("reply", n, FRAME)
        if out is not None and (handle, "corrupt") in out.applied:
            hits.append((n, bytes(out.data)))
    return hits


def test_a_scheduled_rules_draws_follow_the_seed_and_the_on_off_times():
    first = _outcomes(5, range(50, 200))
    assert first and all(50 <= n < 200 for n, _ in first)
    assert _outcomes(5, range(50, 200)) == first                          # same seed, same times
    assert _outcomes(6, range(50, 200)) != first                          # another seed
    assert _outcomes(5, range(50, 200), "request:drop:at=3") == first     # other rules do not move it


def test_fixed_rules_draw_as_before_a_rule_is_scheduled():
    fixed_only = FaultPlan(["reply:corrupt:rate=0.3"], seed=9)
    with_scheduled = FaultPlan(["reply:corrupt:rate=0.3"], seed=9)
    with_scheduled.schedule("reply:drop:rate=0.5")                         # off: the fixed rule is alone
    for n in range(1, 200):
        a, b = fixed_only.apply("reply", n, FRAME), with_scheduled.apply("reply", n, FRAME)
        assert (a and bytes(a.data)) == (b and bytes(b.data))


# -- scheduled rules: on the wire ---------------------------------------------------------------------

def test_switching_a_scheduled_rule_on_the_wire_counts_and_records_it(through_proxy):  # noqa: F811
    proxy, _, exchanges = through_proxy(["request:delay=1ms:at=1"])
    handle = proxy.schedule("both:drop:every")
    assert exchanges.run(2) == ["ok", "ok"]
    proxy.enable(handle, True)
    assert exchanges.run(2) == [LinkTimeout, LinkTimeout]
    proxy.enable(handle, False)
    assert exchanges.run(2) == ["ok", "ok"]
    counters = proxy.counters()
    assert counters.rule_hits == (1, 2) and counters.request.dropped == 2
    assert counters.as_dict()["rules"] == [{"rule": "request:delay=1ms:at=1", "hits": 1},
                                           {"rule": "both:drop:every", "hits": 2, "scheduled": True}]
    assert [(e.frame, e.action, e.rule) for e in proxy.events() if e.rule == handle] == \
        [(3, "drop", 1), (4, "drop", 1)]


def test_rules_switched_from_another_thread_while_frames_flow(through_proxy):  # noqa: F811
    proxy, _, exchanges = through_proxy([], timeout_s=0.05)
    handles = [proxy.schedule("reply:delay=0ms:every") for _ in range(3)]
    stop = threading.Event()

    def flip() -> None:
        on = True
        while not stop.is_set():
            for handle in handles:
                proxy.enable(handle, on)
            proxy.schedule("request:corrupt:until=1")     # grows the rule lists under the relay
            on = not on
            time.sleep(0.0005)

    flipper = threading.Thread(target=flip)
    flipper.start()
    try:
        assert exchanges.run(100) == ["ok"] * 100        # a delay of 0 changes nothing: all answered
    finally:
        stop.set()
        flipper.join()
    assert proxy.failure() is None and sum(proxy.counters().rule_hits[:3]) > 0


# -- the device side going away and coming back --------------------------------------------------------

class Served:
    """A reference controller served on its own pty (a device the proxy can lose and find)."""

    def __init__(self) -> None:
        self.registers = ControllerRegisters(ReferenceController(), device_kind=1, build_id=1)
        self.fd, self.path = open_pty_pair()
        self.server = RtuServer(self.registers)
        self.server.start(self.fd)

    def close(self) -> None:
        self.server.stop()
        os.close(self.fd)


@pytest.fixture
def devices():
    made: list[Served] = []

    def make() -> Served:
        made.append(Served())
        return made[-1]
    yield make
    for served in made:
        served.close()


def _identity(client) -> list[int]:
    return client.read_holding(icd.IDENTITY.base, icd.IDENTITY.length)


def test_reconnect_to_a_new_device_keeps_the_hosts_pty(devices):
    from hil.link.rtu_client import RtuClient
    first, second = devices(), devices()
    with LinkProxy(first.path) as proxy:
        client = RtuClient(proxy.host_path, timeout_s=TIMEOUT_S)
        client.open()
        try:
            _identity(client)
            proxy.detach()
            assert not proxy.attached
            with pytest.raises(LinkTimeout):
                _identity(client)                             # nothing there: the request is lost
            lost = proxy.counters().request.lost_bytes
            assert lost == 8
            proxy.reconnect(second.path)
            assert proxy.attached and proxy.device == second.path
            _identity(client)                                 # the same client, on the same pty
            first_served = first.server.requests_served
            assert second.server.requests_served == 1 and first_served == 1
            counters = proxy.counters()
            assert counters.reconnects == 1 and "device side reopened 1 times" in counters.summary()
            assert [e.action for e in proxy.events()] == ["detach", "reconnect"]
        finally:
            client.close()
        assert proxy.failure() is None


def test_reconnect_waits_for_a_device_that_comes_back_late(devices, tmp_path):
    from hil.link.rtu_client import RtuClient
    served = devices()
    node = tmp_path / "ttyUSB0"                   # a board's device node, gone while it powers up
    with LinkProxy(served.path) as proxy:
        client = RtuClient(proxy.host_path, timeout_s=TIMEOUT_S)
        client.open()
        try:
            threading.Timer(0.3, node.symlink_to, args=(served.path,)).start()
            started = time.monotonic()
            proxy.reconnect(str(node), timeout_s=3.0)
            assert time.monotonic() - started >= 0.25
            _identity(client)
            with pytest.raises(PortOpenError, match="no-such"):
                proxy.reconnect(str(tmp_path / "no-such"), timeout_s=0.2)
            assert not proxy.attached                 # stays detached: the next reconnect may find it
            proxy.reconnect(str(node))
            _identity(client)
        finally:
            client.close()


def test_reconnect_revives_a_relay_whose_device_failed(devices):
    from hil.link.rtu_client import RtuClient
    fd, path = open_pty_pair()
    served = devices()
    proxy = LinkProxy(path)
    proxy.start()
    client = RtuClient(proxy.host_path, timeout_s=TIMEOUT_S)
    client.open()
    try:
        os.close(fd)                                  # the device's end is gone: the relay ends
        assert proxy.wait(5) and proxy.failure() is not None
        proxy.reconnect(served.path)
        assert proxy.running and proxy.failure() is None
        _identity(client)
    finally:
        client.close()
        proxy.stop()


def test_a_rule_string_is_checked_when_scheduled(through_proxy):  # noqa: F811
    proxy, _, _ = through_proxy([])
    with pytest.raises(ValueError, match="bad link rule 'both:explode:every'"):
        proxy.schedule("both:explode:every")
    assert proxy.schedule(parse_rule("reply:drop:at=1")) == 0
