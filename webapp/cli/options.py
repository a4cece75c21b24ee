"""The options every subcommand shares, and the Settings they make."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from urllib.parse import urlsplit

from ..core.environments.confinement import JobUser
from ..core.settings import Settings, default_state_dir, names_to_pass
from .locate import locate_or_exit


def env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(f"ENVBOARD_{name}", default)


# Types for argparse. A default read from ENVBOARD_* is a string, so argparse runs it through
# the same type as the flag: a bad variable is refused like a bad flag (one line, exit 2).


def port(text: str) -> int:
    """0 (any free port) to 65535."""
    number = whole_number(text)
    if not 0 <= number <= 65535:
        raise argparse.ArgumentTypeError(f"{number} is not a port (0-65535)")
    return number


def whole_number(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None


def at_least_one(text: str) -> int:
    number = whole_number(text)
    if number < 1:
        raise argparse.ArgumentTypeError(f"{number} is too small: it must be 1 or more")
    return number


def http_url(text: str) -> str:
    """An absolute http(s) URL with a host, as people type it in a browser."""
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise argparse.ArgumentTypeError(f"{text!r} is not a URL such as https://envboard.example.com")
    try:
        parts.port  # noqa: B018 - raises for a port that is no number or out of range
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} has no valid port") from None
    return text


def add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--workspace",
        default=None,
        metavar="DIR",
        help="the dg workspace or project folder, or any folder inside it (ENVBOARD_WORKSPACE; "
        "default: found from the current folder the way dg finds it, walking up)",
    )
    parser.add_argument(
        "--active-python",
        default=env("ACTIVE_PYTHON"),
        help="interpreter of the 'active' environment (ENVBOARD_ACTIVE_PYTHON; "
        "default: $VIRTUAL_ENV, else python3 on PATH)",
    )
    parser.add_argument("--uv", default=env("UV"), help="uv executable (ENVBOARD_UV)")
    parser.add_argument(
        "--state-dir",
        default=env("STATE_DIR"),
        help=f"history, logs and cache (ENVBOARD_STATE_DIR; default: {default_state_dir()})",
    )
    parser.add_argument("--cache-dir", default=env("CACHE_DIR"), help="plugin cache (ENVBOARD_CACHE_DIR)")
    parser.add_argument(
        "--job-user",
        default=env("JOB_USER"),
        metavar="USER",
        help="when envboard runs as root: run project code (probes, checks, syncs) as this unprivileged "
        "user, to whom the state dir is unreadable (ENVBOARD_JOB_USER)",
    )
    parser.add_argument(
        "--pass-env",
        action="append",
        default=None,
        metavar="NAME",
        help="pass this variable to project code beyond the built-in allow-list; repeat for several "
        "(ENVBOARD_PASS_ENV, comma-separated; ENVBOARD_* variables are never passed)",
    )


def days(text: str) -> float:
    try:
        number = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of days") from None
    if not 0 <= number < 100_000:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of days (0 or more)")
    return number


def _from_env(name: str, kind, default):
    """A setting only an ENVBOARD_* variable gives; a bad value ends the command (exit 2)."""
    text = env(name)
    if text is None:
        return default
    try:
        return kind(text)
    except argparse.ArgumentTypeError as exc:
        print(f"envboard: ENVBOARD_{name}: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def workspace_from(args: argparse.Namespace) -> Path:
    """The folder to scan, checked (a wrong one ends the command with exit 2)."""
    if args.workspace is not None:
        return locate_or_exit(args.workspace)
    if env("WORKSPACE") is not None:
        return locate_or_exit(env("WORKSPACE"), "ENVBOARD_WORKSPACE")
    return locate_or_exit(None)


def settings_from(args: argparse.Namespace, need_workspace: bool = True) -> Settings:
    """`need_workspace=False` for commands that only touch the state dir (`cache clear`)."""
    state_dir = Path(args.state_dir).expanduser() if args.state_dir else default_state_dir()
    if args.job_user:
        try:
            JobUser.named(args.job_user)
        except ValueError as exc:
            print(f"envboard: {exc}", file=sys.stderr)
            raise SystemExit(2) from None
    return Settings(
        workspace=workspace_from(args) if need_workspace else Path.cwd(),
        kept_jobs=_from_env("KEEP_JOBS", at_least_one, Settings.kept_jobs),
        kept_days=_from_env("KEEP_DAYS", days, Settings.kept_days),
        state_dir=state_dir,
        active_python=args.active_python,
        uv=args.uv,
        cache_dir=Path(args.cache_dir).expanduser() if args.cache_dir else None,
        job_user=args.job_user or None,
        pass_env=tuple(args.pass_env) if args.pass_env else names_to_pass(os.environ),
    )
