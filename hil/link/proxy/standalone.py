"""The proxy as a process: `python -m hil.link.proxy --device URL --rule SPEC ... --seed N`.

Prints `PTY <path>` as its first line (the convention of the SIL firmware, so a rig's process
device can start it and find the port), relays until SIGTERM or SIGINT, then prints the counters
and exits 0. Exit 2 with one line on stderr for a bad rule, an unopenable device, or a device
side that failed while relaying.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys

from hil.errors import HilError
from hil.link.proxy.relay import FRAME_TIMEOUT_S, LinkProxy
from hil.link.proxy.rules import parse_rule

PROG = "hil.link.proxy"
EXIT_OK = 0
EXIT_ERROR = 2


class _OneLineParser(argparse.ArgumentParser):
    """Usage errors in one line, exit 2, as the rest of the project does."""

    def error(self, message: str):
        print(f"{self.prog}: error: {message} (see --help)", file=sys.stderr)
        sys.exit(EXIT_ERROR)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The proxy's options, for this entry and for a `hil proxy` subcommand."""
    parser.add_argument("--device", required=True, metavar="URL",
                        help="the device side: a pty path, /dev/ttyACM0, rfc2217://host:port, socket://...")
    parser.add_argument("--rule", action="append", default=[], metavar="SPEC",
                        help="DIRECTION:ACTION[=VALUE]:SELECTOR..., e.g. reply:drop:at=1497, "
                             "reply:corrupt:rate=0.01, request:delay=30ms:every (repeatable; applied in order)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the rules' random draws (default 0)")
    parser.add_argument("--baudrate", type=int, default=115200, help="device side baud rate (default 115200)")
    parser.add_argument("--frame-timeout-ms", type=float, default=FRAME_TIMEOUT_S * 1e3,
                        help="quiet after which bytes that form no frame are relayed raw "
                             f"(default {FRAME_TIMEOUT_S * 1e3:g})")
    parser.add_argument("--link", metavar="PATH",
                        help="also make PATH a symlink to the host pty (a stable name for a rig file; "
                             "removed at exit)")
    parser.add_argument("--json", action="store_true", help="print the counters at exit as one JSON line")


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(prog=PROG, description="A Modbus RTU link proxy that drops, corrupts, delays "
                            "or cuts frames on purpose, seeded (docs/link-proxy.md).")
    add_arguments(parser)
    return parser


def run(args: argparse.Namespace, *, prog: str = PROG) -> int:
    """Relay until SIGTERM/SIGINT; the exit code."""
    try:
        rules = [parse_rule(spec) for spec in args.rule]
        if args.seed < 0:
            raise HilError(f"--seed {args.seed}: must be >= 0")
        if not args.frame_timeout_ms > 0:
            raise HilError(f"--frame-timeout-ms {args.frame_timeout_ms:g}: must be > 0")
        proxy = LinkProxy(args.device, rules, seed=args.seed, baudrate=args.baudrate,
                          frame_timeout_s=args.frame_timeout_ms / 1e3)
        path = proxy.start()
    except HilError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    link = args.link
    try:
        if link:
            try:
                if os.path.islink(link):
                    os.unlink(link)
                os.symlink(path, link)
            except OSError as exc:
                print(f"{prog}: error: cannot make the link {link}: {exc.strerror}", file=sys.stderr)
                return EXIT_ERROR
        for signo in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signo, lambda *_: proxy.request_stop())
        _say(f"PTY {path}")
        _say(f"relaying {path} <-> {args.device}, seed {proxy.seed}, "
             f"rules: {' '.join(r.spec for r in proxy.rules) or 'none'}")
        proxy.wait()
    finally:
        proxy.stop()
        if link and os.path.islink(link) and os.readlink(link) == path:
            os.unlink(link)
    counters = proxy.counters()
    _say(json.dumps(counters.as_dict()) if args.json else _report(counters))
    failure = proxy.failure()
    if failure:
        print(f"{prog}: error: {failure}", file=sys.stderr)
        return EXIT_ERROR
    return EXIT_OK


def _report(counters) -> str:
    lines = [counters.summary()]
    lines += [f"rule {i + 1} {spec}: {hits} frames" for i, (spec, hits) in
              enumerate(zip(counters.rules, counters.rule_hits))]
    return "\n".join(lines)


def _say(text: str) -> None:
    try:
        print(text, flush=True)
    except BrokenPipeError:          # nobody reads our output any more; relaying matters more
        pass


def main(argv: list[str] | None = None) -> int:
    return run(build_parser().parse_args(argv))
