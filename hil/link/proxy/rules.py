"""Link fault rules: what the proxy does to which frame, their text syntax, and the seeded plan.

A rule is DIRECTION:ACTION[=VALUE]:SELECTOR[:SELECTOR...], for example

    reply:drop:at=1497            drop the 1497th reply
    reply:corrupt:rate=0.01       flip one random bit in 1 % of the replies
    request:delay=30ms:every      every request 30 ms late (later bytes wait behind it)
    both:cut=3:rate=0.001         keep only the first 3 bytes of 0.1 % of the frames, each way

Nothing here does I/O: `FaultPlan.apply` decides, for one complete frame, what leaves the proxy.
"""

from __future__ import annotations

import hashlib
import math
import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from hil.errors import ConfigError

REQUEST = "request"      # host -> device
REPLY = "reply"          # device -> host
BOTH = "both"
DIRECTIONS = (REQUEST, REPLY, BOTH)
ACTIONS = ("drop", "corrupt", "delay", "cut", "garbage", "disconnect")
SELECTORS = ("every", "at", "rate", "after", "until")
GARBAGE_RANDOM_MAX = 16   # bare `garbage`: 1..16 random bytes
MAX_GARBAGE = 256

# Which action parameter belongs to which action (the others must stay None).
_PARAMS = {"corrupt": ("byte",), "delay": ("delay_ms", "delay_max_ms"), "cut": ("keep",),
           "garbage": ("count",), "disconnect": ("duration_ms",), "drop": ()}


class RuleError(ConfigError):
    """A link rule is malformed; the message names the rule and the part that is wrong.

    A ConfigError, hence a ValueError and a HilError: the CLI prints it as one line, exit 2."""


@dataclass(frozen=True)
class Rule:
    """One fault: which frames (direction and selector) and what happens to them (action).

    Frames are numbered from 1 in each direction separately (requests host -> device, replies
    device -> host). Selectors: `every` (every frame, or every k-th: number % k == 0), `at`
    (these frame numbers), `rate` (probability per frame, drawn from the seeded generator);
    at most one of the three. `after` / `until` limit any of them (or alone: every frame) to the
    frames numbered after..until, i.e. after < number <= until.
    """

    direction: str
    action: str
    # action parameters
    byte: int | None = None            # corrupt: byte index (0-based, negative from the end); None random
    delay_ms: float | None = None      # delay: milliseconds (required for delay)
    delay_max_ms: float | None = None  # delay: if set, uniform in delay_ms .. delay_max_ms per frame
    keep: int | None = None            # cut: bytes kept; None: random 1 .. length-1
    count: int | None = None           # garbage: bytes inserted; None: random 1 .. 16
    duration_ms: float | None = None   # disconnect: how long; None: for good
    # selector
    every: int | None = None
    at: tuple[int, ...] = ()
    rate: float | None = None
    after: int = 0
    until: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.at, tuple):
            object.__setattr__(self, "at", tuple(self.at))
        if self.direction not in DIRECTIONS:
            raise RuleError(f"direction {self.direction!r}: must be request, reply or both")
        if self.action not in ACTIONS:
            raise RuleError(f"action {self.action!r}: must be one of {', '.join(ACTIONS)}")
        own = _PARAMS[self.action]
        for name in ("byte", "delay_ms", "delay_max_ms", "keep", "count", "duration_ms"):
            if name not in own and getattr(self, name) is not None:
                raise RuleError(f"{name}={getattr(self, name)}: {self.action} takes no {name}")
        self._check_action()
        self._check_selector()

    def _check_action(self) -> None:
        if self.byte is not None and not _is_int(self.byte):
            raise RuleError(f"corrupt={self.byte}: the byte index must be a whole number")
        if self.action == "delay":
            if self.delay_ms is None or not _finite(self.delay_ms) or self.delay_ms < 0:
                raise RuleError(f"delay={self.delay_ms}: needs a duration >= 0, e.g. delay=30ms")
            if self.delay_max_ms is not None and (not _finite(self.delay_max_ms)
                                                  or self.delay_max_ms < self.delay_ms):
                raise RuleError(f"delay={self.delay_ms}..{self.delay_max_ms}ms: "
                                "the upper end must be >= the lower end")
        if self.keep is not None and (not _is_int(self.keep) or self.keep < 1):
            raise RuleError(f"cut={self.keep}: bytes kept must be a whole number >= 1")
        if self.count is not None and (not _is_int(self.count) or not 1 <= self.count <= MAX_GARBAGE):
            raise RuleError(f"garbage={self.count}: byte count must be 1..{MAX_GARBAGE}")
        if self.duration_ms is not None and (not _finite(self.duration_ms) or self.duration_ms <= 0):
            raise RuleError(f"disconnect={self.duration_ms}: needs a duration > 0 (or none: for good)")

    def _check_selector(self) -> None:
        chosen = [name for name in ("every", "at", "rate") if getattr(self, name) not in (None, ())]
        if len(chosen) > 1:
            raise RuleError(f"{' and '.join(chosen)}: give at most one of every, at, rate")
        if self.every is not None and (not _is_int(self.every) or self.every < 1):
            raise RuleError(f"every={self.every}: must be a whole number >= 1")
        if any(not _is_int(n) or n < 1 for n in self.at):
            raise RuleError(f"at={','.join(map(str, self.at))}: frame numbers must be whole numbers >= 1")
        if self.rate is not None and (not _finite(self.rate) or not 0.0 <= self.rate <= 1.0):
            raise RuleError(f"rate={self.rate}: must be a probability 0..1 (or a percentage, rate=1%)")
        if not _is_int(self.after) or self.after < 0:
            raise RuleError(f"after={self.after}: must be a whole number >= 0")
        if self.until is not None and (not _is_int(self.until) or self.until <= self.after):
            raise RuleError(f"until={self.until}: must be a whole number > after ({self.after})")
        if not chosen and self.after == 0 and self.until is None:
            raise RuleError("no selector: add every, at=N, rate=P, after=N or until=N")

    def applies_to(self, direction: str) -> bool:
        return self.direction == BOTH or self.direction == direction

    def selects(self, number: int, rng: np.random.Generator) -> bool:
        """Whether frame `number` of this rule's direction is hit. A rate rule draws one number
        per frame inside its window, whether or not an earlier rule took the frame, so a
        rule's hits depend only on the seed and the frame numbers."""
        if number <= self.after or (self.until is not None and number > self.until):
            return False
        if self.at:
            return number in self.at
        if self.every is not None:
            return number % self.every == 0
        if self.rate is not None:
            return bool(rng.random() < self.rate)
        return True

    @property
    def spec(self) -> str:
        """The rule in the text syntax; parse_rule(rule.spec) == rule."""
        action = self.action
        if self.action == "corrupt" and self.byte is not None:
            action += f"={self.byte}"
        elif self.action == "delay":
            action += f"={_ms(self.delay_ms)}" if self.delay_max_ms is None else \
                f"={_num(self.delay_ms)}..{_ms(self.delay_max_ms)}"
        elif self.action == "cut" and self.keep is not None:
            action += f"={self.keep}"
        elif self.action == "garbage" and self.count is not None:
            action += f"={self.count}"
        elif self.action == "disconnect" and self.duration_ms is not None:
            action += f"={_ms(self.duration_ms)}"
        parts = [self.direction, action]
        if self.every is not None:
            parts.append("every" if self.every == 1 else f"every={self.every}")
        if self.at:
            parts.append("at=" + ",".join(map(str, self.at)))
        if self.rate is not None:
            parts.append(f"rate={_num(self.rate)}")
        if self.after:
            parts.append(f"after={self.after}")
        if self.until is not None:
            parts.append(f"until={self.until}")
        return ":".join(parts)

    def __str__(self) -> str:
        return self.spec


def _is_int(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _finite(value: object) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool) \
        and math.isfinite(value)


def _num(value: float) -> str:
    """Short when that is exact (30, 0.01), else every digit, so a spec parses back to its rule."""
    short = f"{value:g}"
    return short if float(short) == value else repr(float(value))


def _ms(value: float) -> str:
    return f"{_num(value)}ms"


# -- text syntax ------------------------------------------------------------------------------

_DURATION = re.compile(r"^(\d+(?:\.\d*)?|\.\d+)(us|ms|s)?$")
_UNIT_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3, None: 1.0}
_INT = re.compile(r"^[+-]?\d+$")
_UINT = re.compile(r"^\d+$")


def parse_rule(text: str) -> Rule:
    """Parse DIRECTION:ACTION[=VALUE]:SELECTOR[:SELECTOR...]; RuleError names the bad part.

    Actions: drop; corrupt[=BYTE] (flip one random bit of byte BYTE, 0-based, negative from the
    end; default a random byte); delay=DURATION or delay=MIN..MAX (uniform per frame);
    cut[=K] (keep the first K bytes; default random); garbage[=N] (N random bytes before the
    frame; default 1..16); disconnect[=DURATION] (nothing crosses either way for that long;
    default for good). Durations: 30ms, 0.5s, 250us; a bare number is milliseconds.
    Selectors: every, every=K, at=N[,N...], rate=P or rate=P%, after=N, until=N.
    """
    try:
        return _parse(text)
    except RuleError as exc:
        raise RuleError(f"bad link rule {text!r}: {exc}") from None


def parse_rules(texts: Iterable[str]) -> list[Rule]:
    return [parse_rule(text) for text in texts]


def _parse(text: str) -> Rule:
    if not isinstance(text, str):
        raise RuleError(f"expected a string, got {type(text).__name__}")
    parts = [p.strip() for p in text.strip().split(":")]
    if len(parts) < 3 or not all(parts):
        raise RuleError("expected DIRECTION:ACTION:SELECTOR, e.g. reply:drop:at=5 or "
                        "request:delay=30ms:every")
    direction = parts[0].lower()
    if direction not in DIRECTIONS:
        raise RuleError(f"{parts[0]!r}: the direction must be request, reply or both")
    kwargs: dict = {"direction": direction}
    kwargs.update(_parse_action(parts[1]))
    seen: set[str] = set()
    for part in parts[2:]:
        key, eq, value = part.partition("=")
        key = key.strip().lower()
        value = value.strip()
        if key not in SELECTORS:
            raise RuleError(f"{part!r}: unknown selector (every, at=N, rate=P, after=N, until=N)")
        if key in seen:
            raise RuleError(f"{part!r}: {key} given twice")
        seen.add(key)
        if key == "every":
            kwargs["every"] = _uint(value, part, minimum=1) if eq else 1
            continue
        if not eq or not value:
            raise RuleError(f"{part!r}: {key} needs a value, e.g. {key}={'0.01' if key == 'rate' else '5'}")
        if key == "at":
            kwargs["at"] = tuple(_uint(v.strip(), part, minimum=1) for v in value.split(","))
        elif key == "rate":
            kwargs["rate"] = _rate(value, part)
        elif key == "after":
            kwargs["after"] = _uint(value, part, minimum=0)
        else:
            kwargs["until"] = _uint(value, part, minimum=1)
    return Rule(**kwargs)


def _parse_action(part: str) -> dict:
    name, eq, value = part.partition("=")
    name, value = name.strip().lower(), value.strip()
    if name not in ACTIONS:
        raise RuleError(f"{part!r}: unknown action ({', '.join(ACTIONS)})")
    if eq and not value:
        raise RuleError(f"{part!r}: a value must follow '='")
    if name == "drop":
        if eq:
            raise RuleError(f"{part!r}: drop takes no value")
        return {"action": name}
    if name == "corrupt":
        if not eq:
            return {"action": name}
        if not _INT.match(value):
            raise RuleError(f"{part!r}: the byte index must be a whole number (0 is the unit "
                            "address, -1 the last CRC byte)")
        return {"action": name, "byte": int(value)}
    if name == "delay":
        if not eq:
            raise RuleError(f"{part!r}: delay needs a duration, e.g. delay=30ms or delay=10..30ms")
        low, dots, high = value.partition("..")
        if dots:
            return {"action": name, "delay_ms": _duration_ms(low, part),
                    "delay_max_ms": _duration_ms(high, part)}
        return {"action": name, "delay_ms": _duration_ms(value, part)}
    if name == "cut":
        return {"action": name, "keep": _uint(value, part, minimum=1)} if eq else {"action": name}
    if name == "garbage":
        return {"action": name, "count": _uint(value, part, minimum=1)} if eq else {"action": name}
    # disconnect
    if not eq or value.lower() in ("forever", "inf"):
        return {"action": name}
    return {"action": name, "duration_ms": _duration_ms(value, part)}


def _uint(value: str, part: str, *, minimum: int) -> int:
    if not _UINT.match(value) or int(value) < minimum:
        raise RuleError(f"{part!r}: {value!r} is not a whole number >= {minimum}")
    return int(value)


def _rate(value: str, part: str) -> float:
    percent = value.endswith("%")
    try:
        rate = float(value[:-1] if percent else value)
    except ValueError:
        raise RuleError(f"{part!r}: {value!r} is not a number") from None
    rate = rate / 100.0 if percent else rate
    if not math.isfinite(rate) or not 0.0 <= rate <= 1.0:
        raise RuleError(f"{part!r}: a rate is a probability 0..1 (or 0..100%)")
    return rate


def _duration_ms(value: str, part: str) -> float:
    match = _DURATION.match(value.strip().lower())
    if not match:
        raise RuleError(f"{part!r}: {value!r} is not a duration (e.g. 30ms, 0.5s, 250us; "
                        "a bare number is ms)")
    return float(match.group(1)) * _UNIT_MS[match.group(2)]


# -- the seeded plan --------------------------------------------------------------------------

def _as_rule(rule: Rule | str) -> Rule:
    rule = parse_rule(rule) if isinstance(rule, str) else rule
    if not isinstance(rule, Rule):
        raise RuleError(f"{rule!r} is not a Rule or a rule string")
    return rule


@dataclass
class Outcome:
    """What leaves the proxy for one frame: `prefix` (garbage), then `data` unless dropped,
    `delay_s` late; `disconnect_s` closes the link both ways (math.inf: for good)."""

    data: bytearray
    prefix: bytes = b""
    delay_s: float = 0.0
    dropped: bool = False
    disconnect_s: float | None = None
    applied: list[tuple[int, str]] = field(default_factory=list)   # (rule index, action)

    def payload(self) -> bytes:
        return self.prefix if self.dropped else self.prefix + bytes(self.data)


def _stream(seed: int, spec: str, copy: int, direction: str) -> np.random.SeedSequence:
    """The seed sequence of one rule's draws in one direction: from the run's seed, the rule's
    own text (and which copy of that text it is) and the direction, never from its position."""
    digest = hashlib.sha256(f"{spec}#{copy}#{direction}".encode()).digest()
    return np.random.SeedSequence(seed, spawn_key=tuple(int.from_bytes(digest[i:i + 4], "little")
                                                        for i in range(0, 16, 4)))


class FaultPlan:
    """The rules with their random streams: one numpy Generator per rule and direction, seeded
    from `seed` and the rule's own text, so the same seed over the same traffic gives the same
    faults, and adding, removing or reordering other rules does not move a rule's draws.

    Rules given at construction always act. Rules added later with `schedule()` start off and are
    switched with `enable()` while frames flow (from another thread than the one calling
    `apply`): a scheduled rule draws for every frame from when it was scheduled, on or off, so
    the same seed, traffic and on/off times give the same faults."""

    def __init__(self, rules: Sequence[Rule | str], seed: int = 0) -> None:
        if not _is_int(seed) or seed < 0:
            raise RuleError(f"seed {seed!r}: must be a whole number >= 0")
        self.rules = tuple(_as_rule(r) for r in rules)
        self.seed = int(seed)
        self._rngs = []
        self._copies: dict[str, int] = {}
        for rule in self.rules:
            self._rngs.append(self._streams(rule))
        self._by_direction = {d: [(i, r) for i, r in enumerate(self.rules) if r.applies_to(d)]
                              for d in (REQUEST, REPLY)}
        self.hits = [0] * len(self.rules)
        self.scheduled = (False,) * len(self.rules)     # per rule: added by schedule()
        self._on = (True,) * len(self.rules)            # per rule: acting now
        self._lock = threading.Lock()                   # writers only; apply() reads without it

    def _streams(self, rule: Rule, seed: int | None = None) -> dict[str, np.random.Generator]:
        if seed is None:
            seed, copy = self.seed, self._copies.setdefault(rule.spec, -1) + 1
            self._copies[rule.spec] = copy
        else:
            copy = 0
        return {d: np.random.default_rng(_stream(seed, rule.spec, copy, d)) for d in (REQUEST, REPLY)}

    def schedule(self, rule: Rule | str, seed: int | None = None) -> int:
        """Add a rule that starts off; returns its index (its handle for enable(), its place in
        `rules` and `hits`). `seed`: its draws' own seed (a run's, so the same run draws the same
        faults however many runs the proxy relayed before); default the plan's, as a fixed rule."""
        rule = _as_rule(rule)
        with self._lock:
            index = len(self.rules)
            # Copy-on-write, the lists the relay thread looks up an index in first and the
            # per-direction lists that hand it the new index last.
            self._rngs = [*self._rngs, self._streams(rule, seed)]
            self.hits.append(0)
            self._on = (*self._on, False)
            self.scheduled = (*self.scheduled, True)
            self.rules = (*self.rules, rule)
            self._by_direction = {d: [*pairs, (index, rule)] if rule.applies_to(d) else pairs
                                  for d, pairs in self._by_direction.items()}
        return index

    def enable(self, index: int, on: bool) -> None:
        """Switch a scheduled rule on or off, from the next frame on."""
        with self._lock:
            if not (_is_int(index) and 0 <= index < len(self.rules) and self.scheduled[index]):
                raise ValueError(f"{index!r} is not the handle of a scheduled rule")
            on_now = list(self._on)
            on_now[index] = bool(on)
            self._on = tuple(on_now)

    def is_on(self, index: int) -> bool:
        return self._on[index]

    def active(self, direction: str) -> bool:
        return bool(self._by_direction[direction])

    def apply(self, direction: str, number: int, frame: bytes) -> Outcome | None:
        """Run frame `number` (from 1, per direction) through the rules in order; None when
        no rule touched it. A dropped frame is not acted on further (its rate draws still happen),
        nor is one a rule that is off selects (its draw happens too)."""
        out: Outcome | None = None
        pairs = self._by_direction[direction]     # first: what it names is already in the others
        rngs, on = self._rngs, self._on
        for index, rule in pairs:
            rng = rngs[index][direction]
            if not rule.selects(number, rng) or not on[index]:
                continue
            if out is None:
                out = Outcome(bytearray(frame))
            if out.dropped or not self._act(rule, out, rng):
                continue
            self.hits[index] += 1
            out.applied.append((index, rule.action))
        return out if out is not None and out.applied else None

    @staticmethod
    def _act(rule: Rule, out: Outcome, rng: np.random.Generator) -> bool:
        """Apply one action; False when it cannot act on this frame (index beyond it, cut
        longer than it), which then does not count as a hit."""
        data, action = out.data, rule.action
        if action == "drop":
            out.dropped = True
        elif action == "corrupt":
            if not data:
                return False
            index = int(rng.integers(len(data))) if rule.byte is None else rule.byte
            if not -len(data) <= index < len(data):
                return False
            data[index] ^= 1 << int(rng.integers(8))
        elif action == "delay":
            ms = rule.delay_ms if rule.delay_max_ms is None else \
                float(rng.uniform(rule.delay_ms, rule.delay_max_ms))
            out.delay_s += ms / 1e3
        elif action == "cut":
            if len(data) < 2:
                return False
            keep = int(rng.integers(1, len(data))) if rule.keep is None else rule.keep
            if keep >= len(data):
                return False
            del data[keep:]
        elif action == "garbage":
            count = int(rng.integers(1, GARBAGE_RANDOM_MAX + 1)) if rule.count is None else rule.count
            out.prefix += rng.integers(0, 256, count, dtype=np.uint8).tobytes()
        else:  # disconnect
            out.dropped = True
            out.disconnect_s = math.inf if rule.duration_ms is None else rule.duration_ms / 1e3
        return True

