"""envboard's command line: `envboard list`, `serve`, `sync`, `mode`, `cache clear`.

Every flag also reads an ENVBOARD_* environment variable (flag wins).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from .core.board import Board, ProjectState, Settings, default_state_dir


def _env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(f"ENVBOARD_{name}", default)


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--workspace",
        default=_env("WORKSPACE", "."),
        help="workspace folder, or any folder inside it (ENVBOARD_WORKSPACE; default: .)",
    )
    parser.add_argument(
        "--active-python",
        default=_env("ACTIVE_PYTHON"),
        help="interpreter of the 'active' environment (ENVBOARD_ACTIVE_PYTHON; "
        "default: $VIRTUAL_ENV, else python3 on PATH)",
    )
    parser.add_argument("--uv", default=_env("UV"), help="uv executable (ENVBOARD_UV)")
    parser.add_argument(
        "--state-dir",
        default=_env("STATE_DIR"),
        help=f"history, logs and cache (ENVBOARD_STATE_DIR; default: {default_state_dir()})",
    )
    parser.add_argument("--cache-dir", default=_env("CACHE_DIR"), help="plugin cache (ENVBOARD_CACHE_DIR)")


def settings_from(args: argparse.Namespace) -> Settings:
    state_dir = Path(args.state_dir).expanduser() if args.state_dir else default_state_dir()
    return Settings(
        workspace=Path(args.workspace).expanduser(),
        state_dir=state_dir,
        active_python=args.active_python,
        uv=args.uv,
        cache_dir=Path(args.cache_dir).expanduser() if args.cache_dir else None,
    )


def settings_from_state_dir(state_dir: str | None) -> Path:
    """The state dir a flag names, or the default one (as `serve` would use)."""
    return Path(state_dir).expanduser() if state_dir else default_state_dir()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="envboard",
        description="A dashboard for the Python environments of a dg workspace.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    listing = commands.add_parser("list", help="list projects, environments and plugins")
    _add_common(listing)
    listing.add_argument("--json", action="store_true", help="print one JSON object")
    listing.add_argument("--no-cache", action="store_true", help="probe every project again")
    listing.set_defaults(handler=cmd_list)

    cache = commands.add_parser("cache", help="manage the plugin cache")
    cache_commands = cache.add_subparsers(dest="cache_command", required=True)
    clear = cache_commands.add_parser("clear", help="remove every cached plugin list")
    _add_common(clear)
    clear.set_defaults(handler=cmd_cache_clear)

    from .commands import add_commands

    add_commands(commands, _add_common)
    return parser


def cmd_list(args: argparse.Namespace) -> int:
    board = Board(settings_from(args))
    try:
        states = board.states(wait=True, refresh=args.no_cache)
        report = board.report(states, include_version=False)
    finally:
        board.close()
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(render_table(report, states))
    return 1 if report["workspace_error"] else 0


def render_table(report: dict, states: list[ProjectState]) -> str:
    lines = [f"workspace: {report['workspace']} ({report['workspace_kind']})"]
    active = report["active_python"]
    lines.append(f"active python: {active['python'] or '-'} ({active['reason']})")
    if report["workspace_error"]:
        lines.append(f"error: {report['workspace_error']}")
    rows = [("ID", "MODE", "STATUS", "PYTHON", "MODULES", "COMPONENTS", "ERRORS")]
    notes = []
    for state in states:
        project = state.project
        plugins = state.plugins
        if plugins is not None and plugins.failure:
            notes.append(f"{project.id}: plugin probe failed: {plugins.failure}")
        rows.append(
            (
                project.id,
                project.mode.mode if project.mode else "-",
                state.status_name,
                state.python_version or "-",
                str(len(plugins.registry_modules)) if plugins else "-",
                str(len(plugins.components)) if plugins else "-",
                str(len(plugins.errors)) if plugins else "-",
            )
        )
        if project.error:
            location = project.error_file
            where = (
                f"{location}:{project.error_line}" if project.error_line else str(location or project.path)
            )
            notes.append(f"{project.id}: {where}: {project.error}")
        elif state.status and state.status.status not in ("in_sync", "unmanaged"):
            notes.append(f"{project.id}: {state.status.reason}")
        for warning in state.env.warnings if state.env else ():
            notes.append(f"{project.id}: warning: {warning}")
        for error in plugins.errors if plugins else ():
            notes.append(f"{project.id}: {error['module']}: {error['type']}: {error['message']}")
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        lines.append("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    if not states:
        lines.append("(no projects found)")
    lines.extend(notes)
    return "\n".join(lines)


def cmd_cache_clear(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    from .core.cache import DependencyCache

    removed = DependencyCache(settings.resolved_cache_dir).clear()
    print(f"removed {removed} cached entries from {settings.resolved_cache_dir}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
