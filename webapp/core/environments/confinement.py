"""Confinement: how project code is kept from envboard's secrets.

Every process envboard starts for a project runs project code, so what it is given is
decided here: the allow-listed part of envboard's environment (`child_environment`),
bubblewrap hiding the state dir and users file, and the unprivileged `--job-user`.
Separate from the launcher because it is a security policy, read and reviewed on its
own; the launcher (`processes.py`) only applies what an `Invocation` carries.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


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
        if not can_switch_users():
            raise ValueError(
                f"--job-user {name}: only envboard running as root (or with the capabilities setuid "
                "and setgid, as in the container image) can switch users"
            )
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
        # before anything is started, job user or not: with no job user (ENVBOARD_JOB_USER
        # emptied in the image) project code would otherwise inherit setuid and chown
        keep_capabilities_to_myself()
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
        """Lets the job user write a scratch folder envboard made for it (the probe's answer);
        envboard's own group keeps it too, so a server that is not root reads and removes it."""
        if self.user is not None:
            os.chown(path, self.user.uid, os.getegid())
            os.chmod(path, 0o770)


NOT_CONFINED = Confinement()

SETGID, SETUID = 6, 7  # capability numbers (linux/capability.h)
PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 47, 4  # prctl (linux/prctl.h)


def _capabilities(kind: str) -> int:
    """This process's capability set `kind` (CapEff, CapAmb, ...) from /proc; 0 where unknown."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(kind + ":"):
                return int(line.split()[1], 16)
    except (OSError, ValueError):
        pass
    return 0


def can_switch_users() -> bool:
    """Root, or a process given setuid and setgid (the container image's server, not root)."""
    wanted = (1 << SETUID) | (1 << SETGID)
    return os.geteuid() == 0 or _capabilities("CapEff") & wanted == wanted


def keep_capabilities_to_myself() -> None:
    """Empties the ambient set, which every program envboard starts would otherwise inherit.

    The image's server is given its capabilities (setuid, setgid, chown, kill) as ambient
    ones, the one way a program that is not root keeps them through exec; left there, project
    code started as the job user would have them too, and setuid back to envboard's user.
    RuntimeError when they cannot be cleared: project code must not start with them.
    """
    if _capabilities("CapAmb") == 0:
        return
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 or _capabilities("CapAmb"):
        raise RuntimeError(f"cannot clear the ambient capabilities: {os.strerror(ctypes.get_errno())}")


def _working_bwrap() -> tuple[str | None, str | None]:
    found = shutil.which("bwrap")
    if found is None:
        return None, "bwrap is not installed"
    try:
        info = os.stat(found)
    except OSError as exc:
        return None, f"bwrap cannot run here: {exc.strerror or exc}"
    # once per process and binary: every board (an app, a command, a test) would otherwise
    # start it again to learn the same thing; another binary at that path is tried anew. A
    # timeout (a loaded box) is not an answer: the next board asks again rather than turning
    # bubblewrap off for the rest of the process.
    stamp = (found, info.st_ino, info.st_size, info.st_mtime_ns)
    if stamp in _BWRAP_ANSWERS:
        return _BWRAP_ANSWERS[stamp]
    argv = [found, "--dev-bind", "/", "/", "--unshare-pid", "--proc", "/proc", "--", "true"]
    try:
        subprocess.run(argv, capture_output=True, timeout=10, check=True)  # noqa: S603 - argv list
    except subprocess.TimeoutExpired:
        return None, "bwrap cannot run here: it did not answer within 10 s"
    except (OSError, subprocess.SubprocessError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        reason = detail.decode(errors="replace").strip() or str(exc)
        answer: tuple[str | None, str | None] = (None, f"bwrap cannot run here: {reason[:200]}")
    else:
        answer = (found, None)
    _BWRAP_ANSWERS[stamp] = answer
    return answer


# whether each bubblewrap binary runs here, by path and stamp (inode, size, modification time)
_BWRAP_ANSWERS: dict[tuple[str, int, int, int], tuple[str | None, str | None]] = {}


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
