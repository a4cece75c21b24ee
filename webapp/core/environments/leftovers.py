"""Leftovers: finding and ending the processes envboard marked, wherever they went.

Job children carry JOB_MARKER in their environment and every other child (probes,
checks) CHECK_MARKER, so a restarted envboard can find and end, with psutil, the groups
a killed one left behind, and nothing else; a stopping one ends its own, and a cancel
reaches what left its process group. Separate from the launcher because it works on
processes envboard did not (or no longer) start itself: found by marker, not by pid.
The launcher (`processes.py`) uses the markers and `kill_group` from here; `TERM_GRACE`, the
default grace, is a setting (`settings.py`), which the command line reads without psutil.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import psutil

from ..settings import TERM_GRACE

JOB_MARKER = "ENVBOARD_JOB"  # set in job children so a restarted server can find them
CHECK_MARKER = "ENVBOARD_CHECK"  # set in every other child (probes, checks): <owner>.<number>


def kill_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def marked_processes(name: str, match: Callable[[str], bool]) -> list[psutil.Process]:
    """Live processes whose environment has `name` set to a value `match` accepts.

    Pids are reused, so the marker, not a remembered pid, says what is ours; a process that
    left its group (setsid) or whose group leader is gone still carries it. psutil reads
    each process's environment (where no /proc exists nothing is found, nothing is ended).
    """
    found = []
    for process in psutil.process_iter():
        try:
            value = process.environ().get(name)
        except (psutil.Error, OSError):  # gone meanwhile, a zombie, or not ours to read
            continue
        if value is not None and match(value):
            found.append(process)
    return found


def marked_groups(marker: str) -> set[int]:
    """The process groups with a live member started with JOB_MARKER=marker."""
    return {group for group in map(_group_of, marked_processes(JOB_MARKER, marker.__eq__)) if group}


def end_marked(name: str, match: Callable[[str], bool], grace: float = TERM_GRACE) -> bool:
    """End every process carrying the marker, with its process group: TERM, up to `grace`, KILL.

    Not (all) our children, so they cannot be waited for; polled instead. Returns whether
    anything was found.
    """
    found = marked_processes(name, match)
    if not found:
        return False
    _signal_with_groups(found, signal.SIGTERM)
    alive = _still_running(found, timeout=grace)
    left = alive + [process for process in marked_processes(name, match) if process not in alive]
    if left:  # ignored TERM, or started meanwhile
        _signal_with_groups(left, signal.SIGKILL)
        _still_running(left, timeout=1)
    return True


def _still_running(processes: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    """Those of `processes` still running after at most `timeout` seconds.

    A zombie has ended: only its parent's wait is missing. Orphans go to an init that may never
    reap them (a container's first process often does not, and bubblewrap's inner process is
    such an orphan once its outer one is gone), so `psutil.wait_procs`, which waits for the
    pid to vanish, would spend the whole grace on processes that ended at once.
    """
    deadline = time.monotonic() + timeout
    delay = 0.005
    while True:
        alive = [process for process in processes if _running(process)]
        remaining = deadline - time.monotonic()
        if not alive or remaining <= 0:
            return alive
        time.sleep(min(delay, remaining))
        delay = min(delay * 2, 0.1)


def _running(process: psutil.Process) -> bool:
    try:
        # is_running first: it tells a reused pid from the process we found
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.Error:  # not ours to look at: running, as far as we can tell
        return True


def _signal_with_groups(processes: list[psutil.Process], sig: signal.Signals) -> None:
    for group in {_group_of(process) for process in processes} - {None, os.getpgrp()}:
        kill_group(group, sig)
    for process in processes:
        with contextlib.suppress(psutil.Error):
            process.send_signal(sig)


def check_owner(state_dir: Path) -> str:
    """What this envboard's CHECK_MARKER values start with: its state dir, then its pid."""
    key = hashlib.sha256(os.path.abspath(state_dir).encode()).hexdigest()[:12]
    return f"{key}.{os.getpid()}"


def end_checks(owner: str, grace: float = TERM_GRACE) -> bool:
    """At a stop: end every process this envboard started that is still running."""
    return end_marked(CHECK_MARKER, lambda value: value.startswith(owner + "."), grace)


def end_checks_of_gone_servers(owner: str, grace: float = TERM_GRACE) -> bool:
    """At a start: end what an envboard of the same state dir that is gone (killed) left."""
    key = owner.split(".")[0]

    def left_behind(value: str) -> bool:
        parts = value.split(".")
        if len(parts) != 3 or parts[0] != key or not parts[1].isdigit():
            return False
        pid = int(parts[1])
        return pid != os.getpid() and not psutil.pid_exists(pid)

    return end_marked(CHECK_MARKER, left_behind, grace)


def end_leftover_groups(marker: str, grace: float = TERM_GRACE) -> bool:
    """End what is left of a job (a killed envboard's, or a cancelled one's grandchildren)."""
    return end_marked(JOB_MARKER, marker.__eq__, grace)


def _group_of(process: psutil.Process) -> int | None:
    try:
        return os.getpgid(process.pid)
    except OSError:
        return None
