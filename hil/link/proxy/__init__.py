"""A byte-level link proxy: the wire between host and device, misbehaving on purpose (docs/link-proxy.md).

    from hil.link.proxy import LinkProxy
    with LinkProxy(device_url, ["reply:drop:at=1497", "reply:corrupt:rate=0.01"], seed=7) as proxy:
        client = RtuClient(proxy.host_path)          # exactly as it would open a board's port
        ...
    print(proxy.summary())

Standalone: `python -m hil.link.proxy --device URL --rule SPEC [--rule SPEC ...] --seed N`
prints `PTY /dev/pts/N` first and relays until SIGTERM/SIGINT.
"""

from hil.link.proxy.framing import FrameSplitter
from hil.link.proxy.relay import DirectionCounters, LinkProxy, ProxyCounters, ProxyEvent
from hil.link.proxy.rules import FaultPlan, Outcome, Rule, RuleError, parse_rule, parse_rules

__all__ = ["DirectionCounters", "FaultPlan", "FrameSplitter", "LinkProxy", "Outcome", "ProxyCounters",
           "ProxyEvent", "Rule", "RuleError", "parse_rule", "parse_rules"]
