"""The register-level differential at any size: the Python server and the C core fed the same
random request stream (hil/differential.py), the C in chunks of several sizes.

    .venv/bin/python benchmarks/differential.py --requests 100000 [--seed 1] [--chunks 1,3,17,512]

Each chunk size gets its own stream of --requests items (seeds seed, seed+1, ...). Prints one
line per chunk size and a total; exits 1 if any reply differs beyond float32 rounding of a
commanded value.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hil import differential  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=40_000, help="items per chunk size (default 40000)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--chunks", default="1,3,17,512", help="bytes per C feed, comma-separated")
    args = parser.parse_args()
    try:
        chunks = [int(c) for c in args.chunks.split(",")]
    except ValueError:
        parser.error(f"--chunks: whole numbers separated by commas, got {args.chunks!r}")
    if args.requests < 1 or any(c < 1 for c in chunks):
        parser.error("--requests and every chunk size must be at least 1")
    total = replies = mismatches = float_diffs = noise = 0
    largest = 0.0
    for i, chunk in enumerate(chunks):
        started = time.perf_counter()
        out = differential.run(args.requests, seed=args.seed + i, chunk=chunk)
        total += out.requests
        replies += out.replies
        mismatches += len(out.mismatches)
        float_diffs += out.float_differences
        noise += out.noise_answers
        largest = max(largest, out.largest_float_difference)
        print(f"chunk {chunk:>4} B  seed {args.seed + i}: {out.requests} requests, {out.replies} replies, "
              f"{out.float_differences} differ in float32 LSBs only (largest {out.largest_float_difference:.2g}), "
              f"{out.noise_answers} noise answers, {len(out.mismatches)} mismatches  [{time.perf_counter() - started:.1f} s]")
        for m in out.mismatches[:3]:
            print(f"  item {m.index} ({m.kind}): {m.why}\n    request {m.request.hex()}\n"
                  f"    python  {m.python.hex()}\n    c       {m.c.hex()}")
    print(f"total: {total} requests, {replies} replies, {float_diffs} float32-only differences "
          f"(largest {largest:.2g}, tolerance {differential.FLOAT_TOLERANCE:g}), {noise} noise answers "
          f"(hil/differential.py: NOISE_ANSWERS), {mismatches} mismatches")
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
