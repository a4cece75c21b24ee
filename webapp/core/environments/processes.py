"""The launcher: the only place in envboard that starts, stops or finds processes.

Commands are argv lists, never shell strings. Output (stdout and stderr merged) is
read in chunks so that a huge log or a line without a newline keeps memory flat.
Every command runs in a process group of its own, so stopping it reaches whatever it
started; job children carry a marker in their environment, so a restarted envboard
can find and end the groups a killed one left behind, and nothing else.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import psutil

CHUNK = 64 * 1024
MAX_CAPTURE = 8 * 1024 * 1024  # a captured answer larger than this is cut
TERM_GRACE = 5.0  # seconds between TERM and KILL when a command is stopped
JOB_MARKER = "ENVBOARD_JOB"  # set in job children so a restarted server can find them
CHECK_MARKER = "ENVBOARD_CHECK"  # set in every other child (probes, checks): <owner>.<number>


@dataclass(frozen=True)
class JobUser:
    """The unprivileged account project code runs as when envboard runs as root."""

    name: str
    uid: int
    gid: int
    home: str

    @classmethod
    def named(cls, name: str) -> JobUser:
        """The account by name; ValueError with a sentence when it cannot be used."""
        import pwd

        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            raise ValueError(f"--job-user {name}: no such user (create it with useradd)") from None
        if entry.pw_uid == 0:
            raise ValueError(f"--job-user {name}: that is root; name an unprivileged user")
        if os.geteuid() != 0:
            raise ValueError(f"--job-user {name}: only envboard running as root can switch users")
        return cls(entry.pw_name, entry.pw_uid, entry.pw_gid, entry.pw_dir)

    def may_read(self, path: Path) -> bool:
        """Whether the file's own mode lets this user read it (its folders' modes not counted)."""
        import grp

        try:
            info = path.stat()
        except OSError:
            return False
        if info.st_uid == self.uid:
            return bool(info.st_mode & 0o400)
        groups = {self.gid} | {g.gr_gid for g in grp.getgrall() if self.name in g.gr_mem}
        if info.st_gid in groups:
            return bool(info.st_mode & 0o040)
        return bool(info.st_mode & 0o004)


@dataclass(frozen=True)
class Confinement:
    """How project code is kept from envboard's secrets: the paths it must not reach, and how.

    Every process envboard starts for a project (probe, status and lock checks, syncs)
    runs project code: plugin modules are imported, `.pth` files run at interpreter start.
    It gets the allow-listed environment (`child_environment`) and, where possible, cannot
    see `hidden` (the state dir with the session key, sessions and history, the users file):
    as `user`, to whom they are unreadable (state dir 0700), and/or inside bubblewrap, which
    mounts an empty tmpfs over each hidden folder and /dev/null over each hidden file, with
    its own process namespace and /proc (so envboard's process, its environment and memory
    are out of sight too). Bubblewrap over Landlock: it hides a path outright, whereas
    Landlock only grants, so hiding one folder means granting every other path by name.
    """

    hidden: tuple[Path, ...] = ()
    user: JobUser | None = None
    bwrap: str | None = None  # the bubblewrap binary, when it works here
    bwrap_problem: str | None = None  # why not, when it does not

    @classmethod
    def decide(cls, hidden: Sequence[Path], user: JobUser | None = None) -> Confinement:
        """Checks once whether bubblewrap can run here (user namespaces may be disabled)."""
        paths = [Path(os.path.abspath(path)) for path in hidden]
        # a path inside another hidden one is hidden with it (mounting it too would show its name)
        unique = dict.fromkeys(paths)
        outermost = tuple(p for p in unique if not any(o != p and p.is_relative_to(o) for o in unique))
        bwrap, problem = _working_bwrap()
        return cls(outermost, user, bwrap, problem)

    @property
    def exposed(self) -> tuple[Path, ...]:
        """Hidden paths the job user could still read by their modes (bubblewrap hides them anyway)."""
        if self.user is None or self.bwrap is not None:
            return ()
        return tuple(path for path in self.hidden if self.user.may_read(path))

    @property
    def isolated(self) -> bool:
        return (self.user is not None and not self.exposed) or self.bwrap is not None

    @property
    def method(self) -> str:
        ways = ([f"job user {self.user.name}"] if self.user else []) + (["bubblewrap"] if self.bwrap else [])
        return " + ".join(ways) or "none"

    @property
    def notice(self) -> str | None:
        """What the pages say when project code can reach envboard's secrets."""
        if self.isolated:
            return None
        if self.exposed:
            names = ", ".join(str(path) for path in self.exposed)
            return (
                f"Project code runs as {self.user.name}, who can read {names}: anyone who can change a "
                "project can read what is in it. Make it readable by envboard's user alone (chmod 600)."
            )
        return (
            "Project code (plugin modules, .pth files, builds) runs as envboard's own user and can read "
            "envboard's state dir, including the session signing key, and the users file: anyone who can "
            "change a project can act as an operator. Install bubblewrap"
            + (f" ({self.bwrap_problem})" if self.bwrap_problem else "")
            + ", or start envboard as root with --job-user."
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "isolated": self.isolated,
            "method": self.method,
            "job_user": self.user.name if self.user else None,
            "sandbox": "bubblewrap" if self.bwrap else None,
            "notice": self.notice,
        }

    def command(self, argv: Sequence[str], cwd: Path) -> tuple[str, ...]:
        """`argv` as started: inside bubblewrap when there is one."""
        if self.bwrap is None:
            return tuple(argv)
        # the whole file system as it is, but a process namespace and /proc of its own
        wrapped = [self.bwrap, "--dev-bind", "/", "/", "--unshare-pid", "--proc", "/proc"]
        wrapped.append("--die-with-parent")
        for path in self.hidden:
            if path.is_dir():
                wrapped += ["--tmpfs", str(path)]
            elif path.exists():
                wrapped += ["--ro-bind", "/dev/null", str(path)]
        return (*wrapped, "--chdir", str(cwd), "--", *argv)

    def environment(self, env: Mapping[str, str]) -> dict[str, str]:
        """The job user's own HOME and names in place of envboard's."""
        if self.user is None:
            return dict(env)
        return {**env, "HOME": self.user.home, "USER": self.user.name, "LOGNAME": self.user.name}

    def popen_options(self) -> dict[str, Any]:
        if self.user is None:
            return {}
        return {"user": self.user.uid, "group": self.user.gid, "extra_groups": []}

    def hand_over(self, path: Path) -> None:
        """Lets the job user write a scratch folder envboard made for it (the probe's answer)."""
        if self.user is not None:
            os.chown(path, self.user.uid, self.user.gid)


NOT_CONFINED = Confinement()


def _working_bwrap() -> tuple[str | None, str | None]:
    found = shutil.which("bwrap")
    if found is None:
        return None, "bwrap is not installed"
    argv = [found, "--dev-bind", "/", "/", "--unshare-pid", "--proc", "/proc", "--", "true"]
    try:
        subprocess.run(argv, capture_output=True, timeout=10, check=True)  # noqa: S603 - argv list
    except (OSError, subprocess.SubprocessError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        reason = detail.decode(errors="replace").strip() or str(exc)
        return None, f"bwrap cannot run here: {reason[:200]}"
    return found, None


@dataclass(frozen=True)
class Invocation:
    """What to start: argv, folder and environment, fully decided before spawning."""

    argv: tuple[str, ...]
    cwd: Path
    env: Mapping[str, str]
    confinement: Confinement = NOT_CONFINED  # applied by `run`; display() shows the command itself

    def display(self) -> str:
        """The command line as a person would type it (for showing, never for running)."""
        import shlex

        return shlex.join(self.argv)


@dataclass
class RunResult:
    argv: tuple[str, ...]
    exit_code: int | None
    duration: float
    error: str | None = None  # set when the command could not start or did not finish
    timed_out: bool = False
    cancelled: bool = False
    output: bytes = b""
    pid: int | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.exit_code == 0

    @property
    def text(self) -> str:
        return self.output.decode("utf-8", errors="replace")


@dataclass(frozen=True)
class UvLocation:
    path: str | None
    reason: str


def find_uv(override: str | None = None) -> UvLocation:
    """uv from `--uv`/ENVBOARD_UV, else the one the `uv` package ships, else PATH."""
    if override:
        found = shutil.which(override) or (override if Path(override).is_file() else None)
        if found:
            return UvLocation(str(found), "--uv / ENVBOARD_UV")
        return UvLocation(None, f"uv not found at {override!r} (from --uv / ENVBOARD_UV)")
    try:
        import uv  # the PyPI package ships the binary

        return UvLocation(uv.find_uv_bin(), "the uv package installed with envboard")
    except (ImportError, FileNotFoundError):
        pass
    on_path = shutil.which("uv")
    if on_path:
        return UvLocation(on_path, "uv on PATH")
    return UvLocation(None, "uv is not installed: pip install uv, or pass --uv PATH")


# What project code is given of envboard's environment: an allow-list, so nothing
# envboard-specific (ENVBOARD_METRICS_TOKEN and every other ENVBOARD_* setting) and
# nothing unrelated the server happened to inherit reaches a plugin module or a `.pth`
# file. Kept: what locates the user and their tools (PATH, HOME, USER, SHELL, XDG_*),
# language and time zone, temporary files, uv's own settings (UV_*, which the operator set
# for uv, indexes and credentials included), proxies and CA bundles (uv downloads through
# them), what compilers read when uv builds an sdist, the environment a project runs in
# (VIRTUAL_ENV, CONDA_*), and Dagster's own settings (DAGSTER_*), which load checks read.
# Anything else a project needs is named with --pass-env.
ALLOWED_NAMES = frozenset(
    {
        "PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TZ", "TERM", "NO_COLOR",
        "TMPDIR", "TEMP", "TMP",
        "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY",
        "http_proxy", "https_proxy", "all_proxy", "no_proxy",
        "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE",
        "CC", "CXX", "CFLAGS", "CXXFLAGS", "CPPFLAGS", "LDFLAGS", "PKG_CONFIG_PATH",
        "VIRTUAL_ENV", "PYTHONUTF8", "PYTHONIOENCODING",
    }
)  # fmt: skip
ALLOWED_PREFIXES = ("LC_", "XDG_", "UV_", "CONDA_", "DAGSTER_")
NEVER_PASSED_PREFIX = "ENVBOARD_"  # envboard's own settings and secrets, even if named with --pass-env


def allowed_variable(name: str, keep: Sequence[str] = ()) -> bool:
    """Whether a variable of envboard's environment is given to the processes it starts."""
    if name.startswith(NEVER_PASSED_PREFIX):
        return False
    return name in ALLOWED_NAMES or name.startswith(ALLOWED_PREFIXES) or name in keep


def child_environment(
    base: Mapping[str, str] | None = None,
    drop: Sequence[str] = (),
    extra: Mapping[str, str] = (),
    keep: Sequence[str] = (),
) -> dict[str, str]:
    """The allow-listed part of `base` (envboard's environment), minus `drop`, plus `extra`.

    `keep` names further variables the operator chose to pass (--pass-env).
    """
    source = os.environ if base is None else base
    env = {name: value for name, value in source.items() if allowed_variable(name, keep)}
    for name in drop:
        env.pop(name, None)
    env.update(dict(extra))
    return env


@dataclass
class Cancellation:
    """A cancel switch a job can flip from another thread."""

    event: threading.Event = field(default_factory=threading.Event)

    def cancel(self) -> None:
        self.event.set()

    @property
    def requested(self) -> bool:
        return self.event.is_set()


def _start(invocation: Invocation) -> subprocess.Popen:
    """The one line in envboard that starts a process (tests watch it here), confined as the
    invocation says (bubblewrap, a job user, an allow-listed environment)."""
    confinement = invocation.confinement
    return subprocess.Popen(  # noqa: S603 - argv list from a fixed table, no shell
        confinement.command(invocation.argv, invocation.cwd),
        cwd=invocation.cwd,
        env=confinement.environment(invocation.env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group, so cancel reaches grandchildren
        **confinement.popen_options(),
    )


def run(
    invocation: Invocation,
    *,
    sink: BinaryIO | None = None,
    timeout: float | None = None,
    cancel: Cancellation | None = None,
    on_start: Callable[[int], None] | None = None,
    capture: bool = False,
    term_grace: float = TERM_GRACE,
    niceness: int = 0,
) -> RunResult:
    """Run to completion, streaming output; never raises for a command that fails.

    `niceness` lowers the command's CPU priority (background checks give way to pages and jobs).

    Output goes to `sink` as it arrives (a chunk at a time) and, with `capture`, into
    the result. A cancel or a timeout TERMs the whole group, then KILLs it after
    `term_grace` seconds.
    """
    started = time.monotonic()
    argv = invocation.argv
    try:
        process = _start(invocation)
    except FileNotFoundError as exc:
        missing = exc.filename if exc.filename not in (None, str(invocation.cwd)) else argv[0]
        if not Path(invocation.cwd).is_dir():
            message = f"cannot start {argv[0]}: folder {invocation.cwd} does not exist"
        else:
            message = f"cannot start: {missing} not found"
        return RunResult(argv, None, time.monotonic() - started, error=message)
    except OSError as exc:
        message = f"cannot start {argv[0]}: {exc.strerror or exc}"
        return RunResult(argv, None, time.monotonic() - started, error=message)
    if niceness:
        # set on the leader right after the start (no preexec_fn: unsafe with threads); what it
        # starts from then on inherits it
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, process.pid, niceness)
    if on_start:
        on_start(process.pid)
    reader = _OutputReader(process, sink, capture)
    reader.start()
    result = RunResult(argv, None, 0.0, pid=process.pid)
    deadline = started + timeout if timeout else None
    poll = 0.002  # short commands return fast; long ones are polled at most every 50 ms
    while True:
        try:
            process.wait(timeout=poll)
            break
        except subprocess.TimeoutExpired:
            poll = min(poll * 2, 0.05)
        if cancel is not None and cancel.requested:
            result.cancelled = True
            result.error = "cancelled"
            stop_process_group(process, term_grace)
            break
        if deadline is not None and time.monotonic() > deadline:
            result.timed_out = True
            result.error = f"timed out after {timeout:g} s"
            stop_process_group(process, term_grace)
            break
    _kill_group(process.pid, signal.SIGKILL)  # nothing of the command may outlive it
    if result.cancelled or result.timed_out:  # nor what left its group (setsid), marker and all
        for name in (JOB_MARKER, CHECK_MARKER):
            if name in invocation.env:
                end_marked(name, invocation.env[name].__eq__, min(term_grace, 1.0))
    reader.join(timeout=5)
    result.exit_code = process.returncode
    if reader.sink_error is not None and result.error is None:  # the command ran; its output is lost
        result.error = f"its output could not be written: {reader.sink_error.strerror or reader.sink_error}"
    result.duration = time.monotonic() - started
    result.output = reader.captured()
    return result


def stop_process_group(process: subprocess.Popen, grace: float = TERM_GRACE) -> None:
    """TERM the whole group, then KILL it if it has not gone after `grace` seconds."""
    _kill_group(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        _kill_group(process.pid, signal.SIGKILL)
        process.wait()


def _kill_group(pgid: int, sig: signal.Signals) -> None:
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
    _, alive = psutil.wait_procs(found, timeout=grace)
    left = alive + [process for process in marked_processes(name, match) if process not in alive]
    if left:  # ignored TERM, or started meanwhile
        _signal_with_groups(left, signal.SIGKILL)
        psutil.wait_procs(left, timeout=1)
    return True


def _signal_with_groups(processes: list[psutil.Process], sig: signal.Signals) -> None:
    for group in {_group_of(process) for process in processes} - {None, os.getpgrp()}:
        _kill_group(group, sig)
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


class _OutputReader(threading.Thread):
    def __init__(self, process, sink, capture: bool) -> None:
        super().__init__(daemon=True, name=f"output-{process.pid}")
        self._fd = process.stdout.fileno()
        self._pipe = process.stdout
        self._sink = sink
        self._capture = bytearray() if capture else None
        self.sink_error: OSError | None = None  # a full disk: the rest is read and dropped

    def run(self) -> None:
        try:
            while chunk := os.read(self._fd, CHUNK):
                self._handle(chunk)
        except OSError:
            pass
        finally:
            self._pipe.close()

    def _handle(self, chunk: bytes) -> None:
        if self._sink is not None and self.sink_error is None:
            try:
                self._sink.write(chunk)
                self._sink.flush()
            except OSError as exc:  # reading on, so the command never blocks on a full pipe
                self.sink_error = exc
        if self._capture is not None:
            self._capture += chunk[: MAX_CAPTURE - len(self._capture)]

    def captured(self) -> bytes:
        return bytes(self._capture) if self._capture is not None else b""
