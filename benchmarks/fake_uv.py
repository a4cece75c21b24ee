#!/usr/bin/env python3
"""A stand-in for uv in the live-log benchmark only: `sync` prints what the benchmark asks.

ENVBOARD_BENCH_OUTPUT=ticks  prints "tick <unix time>" every 50 ms for ENVBOARD_BENCH_SECONDS
ENVBOARD_BENCH_OUTPUT=flood  prints ENVBOARD_BENCH_MB megabytes of coloured lines, fast
Anything other than `sync` exits 0 at once (the dashboard's status checks).
"""

import os
import sys
import time


def main() -> int:
    if sys.argv[1:2] != ["sync"] or "--check" in sys.argv:
        return 0
    mode = os.environ.get("ENVBOARD_BENCH_OUTPUT", "ticks")
    if mode == "flood":
        line = ("\x1b[32m+\x1b[39m package-" + "x" * 90 + "\n").encode()
        total = int(float(os.environ.get("ENVBOARD_BENCH_MB", "100")) * 1024 * 1024)
        out = sys.stdout.buffer
        written = 0
        while written < total:
            out.write(line * 1000)
            written += len(line) * 1000
        out.flush()
        return 0
    deadline = time.time() + float(os.environ.get("ENVBOARD_BENCH_SECONDS", "20"))
    while time.time() < deadline:
        print(f"tick {time.time():.6f}", flush=True)
        time.sleep(0.05)
    return 0


if __name__ == "__main__":
    sys.exit(main())
