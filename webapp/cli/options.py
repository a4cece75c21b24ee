"""The options every subcommand shares, and the Settings they make."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from ..core.settings import Settings, default_state_dir
from .locate import locate_or_exit


def env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(f"ENVBOARD_{name}", default)


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
    return Settings(
        workspace=workspace_from(args) if need_workspace else Path.cwd(),
        state_dir=state_dir,
        active_python=args.active_python,
        uv=args.uv,
        cache_dir=Path(args.cache_dir).expanduser() if args.cache_dir else None,
    )
