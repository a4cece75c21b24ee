"""The test suite's wall time against the floor its own CPU sets on this machine (Linux).

    python benchmarks/suite_cpu.py [-- PYTEST ARGS...]     # default: the README's whole suite

Runs `python -m pytest -p no:cacheprovider ARGS` from the checkout as a *child subreaper*:
every process the run starts is reaped here, also those whose parent ended first (chromium's,
`dg dev`'s, a server's children), so their CPU is counted. `/usr/bin/time` counts only what
each parent waited for: on this suite it reported about two thirds of the CPU.

Prints the wall time, the run's CPU (user + system, every descendant), the floor that CPU sets
(CPU / cores: no scheduling finishes sooner), wall / floor, and how busy the machine's cores
were meanwhile from /proc/stat (a figure near 100 % with wall / floor near 1 says the run is
bound by its CPU, not by waiting; anything else running on the machine counts there too).
"""

from __future__ import annotations

import ctypes
import os
import resource
import sys
import time
from pathlib import Path

PR_SET_CHILD_SUBREAPER = 36
CHECKOUT = Path(__file__).resolve().parent.parent


def machine_ticks() -> tuple[int, int]:
    """(busy, total) clock ticks of every core since boot; idle and iowait are not busy."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def run(argv: list[str]) -> tuple[float, float, float, int]:
    """Wall seconds, user and system CPU seconds of the whole tree, and the exit code."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "cannot become a child subreaper")
    started = time.monotonic()
    pid = os.fork()
    if pid == 0:
        os.chdir(CHECKOUT)
        os.execvp(argv[0], argv)
    exit_code = 1
    while True:  # every descendant ends up here once its parent is gone: reap them all
        try:
            ended, status = os.wait()
        except ChildProcessError:
            break
        if ended == pid:
            exit_code = os.waitstatus_to_exitcode(status)
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.monotonic() - started, usage.ru_utime, usage.ru_stime, exit_code


def main() -> int:
    args = sys.argv[1:]
    if args[:1] == ["--"]:
        args = args[1:]
    argv = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args]
    cores = os.cpu_count() or 1
    busy_before, total_before = machine_ticks()
    wall, user, system, exit_code = run(argv)
    busy_after, total_after = machine_ticks()
    cpu = user + system
    floor = cpu / cores
    busy = (busy_after - busy_before) / max(1, total_after - total_before)
    print(f"suite: {' '.join(argv[1:])} (exit {exit_code})")
    print(f"wall {wall:.0f} s; CPU {cpu:.0f} s (user {user:.0f}, system {system:.0f}) on {cores} cores")
    print(f"floor (CPU / cores) {floor:.0f} s; wall / floor {wall / floor:.2f}x")
    print(f"the machine's cores were {busy:.0%} busy meanwhile (load {os.getloadavg()[0]:.1f} at the end)")
    return exit_code


if __name__ == "__main__":
    raise SystemExit(main())
