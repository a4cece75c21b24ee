"""The options every subcommand shares, and the Settings they make."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from ..core.settings import Settings, default_state_dir


def env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(f"ENVBOARD_{name}", default)


def add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--workspace",
        default=env("WORKSPACE", "."),
        help="workspace folder, or any folder inside it (ENVBOARD_WORKSPACE; default: .)",
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


def settings_from(args: argparse.Namespace) -> Settings:
    state_dir = Path(args.state_dir).expanduser() if args.state_dir else default_state_dir()
    return Settings(
        workspace=Path(args.workspace).expanduser(),
        state_dir=state_dir,
        active_python=args.active_python,
        uv=args.uv,
        cache_dir=Path(args.cache_dir).expanduser() if args.cache_dir else None,
    )
