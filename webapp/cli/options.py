"""What the subcommands share: how an option reads its ENVBOARD_* variable, the value types that
refuse a bad flag or variable (one line, exit 2, under the subcommand's usage), the options
every subcommand takes, and the Settings they make.

Imported by every command, `--help` included: what it needs of the core is read where it is used."""

from __future__ import annotations

import functools
import ipaddress
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click
from click.core import ParameterSource

from ..core.settings import Settings, default_state_dir

ENV_PREFIX = "ENVBOARD"

# Every subcommand names its variables ENVBOARD_<OPTION> (click would make them
# ENVBOARD_SERVE_PORT, ENVBOARD_USERS_LIST_USERS, ... below the top level).
CONTEXT = {"auto_envvar_prefix": ENV_PREFIX, "help_option_names": ["-h", "--help"], "max_content_width": 100}


class SettingOption(click.Option):
    """An option that is a setting of the box: it also reads ENVBOARD_<NAME> (the flag wins), the
    help shows the variable, and a bad value that came from the variable is reported as such."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("show_envvar", True)
        super().__init__(*args, **kwargs)

    def consume_value(self, ctx: click.Context, opts: Any) -> tuple[Any, ParameterSource]:
        value, source = super().consume_value(ctx, opts)
        ctx.meta[f"envboard.source.{self.name}"] = source  # click records it only after the type passed
        return value, source

    def get_error_hint(self, ctx: click.Context | None) -> str:
        hint = super().get_error_hint(ctx)
        if ctx is not None and ctx.meta.get(f"envboard.source.{self.name}") is ParameterSource.ENVIRONMENT:
            hint += f" (from {ctx.auto_envvar_prefix}_{(self.name or '').upper()})"
        return hint


def setting(*declarations: str, **attributes: Any) -> Callable:
    """An option read from the flag or its ENVBOARD_* variable."""
    return click.option(*declarations, cls=SettingOption, **attributes)


def dagster_url_option(function: Callable) -> Callable:
    """`serve`, `sync` and `check`: the Dagster webserver told to reload what loads."""
    return setting(
        "--dagster-url",
        type=HttpUrl(),
        help="a running Dagster webserver (dagster-webserver, dg dev), e.g. http://127.0.0.1:3000: after "
        "a sync, or a check that loads, envboard asks it to reload the project's code location (and the "
        "project page shows its load status too)",
    )(function)


def choice(*declarations: str, **attributes: Any) -> Callable:
    """An option of this one call (--json, --yes, --as): no variable sets it behind your back."""
    return click.option(*declarations, allow_from_autoenv=False, **attributes)


def command(name: str, **attributes: Any) -> Callable:
    return click.command(name, context_settings=CONTEXT, **attributes)


def group(name: str, **attributes: Any) -> Callable:
    """A subcommand with subcommands; without one it is an error naming what is missing."""
    return click.group(name, context_settings=CONTEXT, no_args_is_help=False, **attributes)


class Choice(click.Choice):
    """click's Choice, whose error for a missing value is one line like every other error."""

    def get_missing_message(self, param: click.Parameter, ctx: click.Context | None) -> str:
        return "Choose from " + ", ".join(map(str, self.choices))


class HttpUrl(click.ParamType):
    """An absolute http(s) URL with a host, as people type it in a browser."""

    name = "URL"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        parts = urlsplit(str(value))
        if parts.scheme not in ("http", "https") or not parts.hostname:
            self.fail(f"{value!r} is not a URL such as https://envboard.example.com", param, ctx)
        try:
            parts.port  # noqa: B018 - raises for a port that is no number or out of range
        except ValueError:
            self.fail(f"{value!r} has no valid port", param, ctx)
        if parts.username is not None or parts.password is not None:
            # the URL is shown on pages anyone may read and in logs: no secret goes in it
            self.fail(
                "a URL with a user or password in it is refused (envboard shows it on its pages)", param, ctx
            )
        if parts.query or parts.fragment:
            self.fail(f"{value!r}: give the server's address without a query or fragment", param, ctx)
        return str(value)


class Duration(click.ParamType):
    """`90`, `90s`, `30m`, `12h`, `7d`, as seconds."""

    name = "DURATION"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        if isinstance(value, float):
            return value
        from ..core.access.sessions import parse_duration

        try:
            return parse_duration(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


class Names(click.ParamType):
    """A repeatable option whose variable lists its values separated by commas or spaces."""

    name = "NAME"

    def split_envvar_value(self, rv: str) -> list[str]:
        return rv.replace(",", " ").split()


class Network(Names):
    """An IP address or network (10.0.0.0/24)."""

    name = "ADDR"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
        if isinstance(value, ipaddress.IPv4Network | ipaddress.IPv6Network):
            return value
        try:
            return ipaddress.ip_network(str(value).strip(), strict=False)
        except ValueError:
            self.fail(f"{value!r} is not an IP address or network", param, ctx)


@dataclass(frozen=True)
class Common:
    """The options every subcommand that reads the workspace takes."""

    workspace: str | None
    workspace_origin: str  # how the person gave it: "--workspace" or "ENVBOARD_WORKSPACE"
    active_python: str | None
    uv: str | None
    state_dir: str | None
    cache_dir: str | None
    job_user: str | None
    pass_env: tuple[str, ...]
    keep_jobs: int
    keep_days: float


_COMMON = (
    setting(
        "--workspace",
        metavar="DIR",
        type=click.Path(),
        help="the dg workspace or project folder, or any folder inside it (default: found from the "
        "current folder the way dg finds it, walking up)",
    ),
    setting(
        "--active-python",
        metavar="PYTHON",
        help="interpreter of the 'active' environment (default: $VIRTUAL_ENV, else python3 on PATH)",
    ),
    setting("--uv", metavar="PATH", help="uv executable"),
    setting(
        "--state-dir",
        metavar="DIR",
        type=click.Path(file_okay=False),
        help=f"history, logs and cache (default: {default_state_dir()})",
    ),
    setting("--cache-dir", metavar="DIR", type=click.Path(file_okay=False), help="plugin cache"),
    setting(
        "--job-user",
        metavar="USER",
        help="when envboard runs as root: run project code (probes, checks, syncs) as this "
        "unprivileged user, to whom the state dir is unreadable",
    ),
    setting(
        "--pass-env",
        metavar="NAME",
        multiple=True,
        type=Names(),
        help="pass this variable to project code beyond the built-in allow-list; repeat for several "
        "(the variable: comma-separated; ENVBOARD_* variables are never passed)",
    ),
    # how long a job's replaced files stay kept for "Roll back": given by the variables alone (README)
    setting("--keep-jobs", hidden=True, type=click.IntRange(min=1), default=Settings.kept_jobs),
    setting(
        "--keep-days",
        hidden=True,
        type=click.FloatRange(0, 100_000, max_open=True),
        default=Settings.kept_days,
    ),
)


def common_options(function: Callable) -> Callable:
    """Adds the shared options; the command receives them as one `common` argument."""

    @functools.wraps(function)
    def with_common(*args: Any, **kwargs: Any) -> Any:
        named = {name: kwargs.pop(name) for name in Common.__dataclass_fields__ if name in kwargs}
        from_variable = click.get_current_context().get_parameter_source("workspace")
        origin = f"{ENV_PREFIX}_WORKSPACE" if from_variable is ParameterSource.ENVIRONMENT else "--workspace"
        named["pass_env"] = tuple(named["pass_env"])
        return function(*args, common=Common(workspace_origin=origin, **named), **kwargs)

    for option in reversed(_COMMON):
        with_common = option(with_common)
    return with_common


def settings_from(common: Common, need_workspace: bool = True) -> Settings:
    """`need_workspace=False` for commands that only touch the state dir (`cache clear`).
    The workspace is checked here (a wrong one ends the command with exit 2)."""
    from ..core.environments.confinement import JobUser
    from .locate import locate_or_exit

    state_dir = Path(common.state_dir).expanduser() if common.state_dir else default_state_dir()
    if common.job_user:
        try:
            JobUser.named(common.job_user)
        except ValueError as exc:
            print(f"envboard: {exc}", file=sys.stderr)
            raise SystemExit(2) from None
    return Settings(
        workspace=locate_or_exit(common.workspace, common.workspace_origin) if need_workspace else Path.cwd(),
        kept_jobs=common.keep_jobs,
        kept_days=common.keep_days,
        state_dir=state_dir,
        active_python=common.active_python,
        uv=common.uv,
        cache_dir=Path(common.cache_dir).expanduser() if common.cache_dir else None,
        job_user=common.job_user or None,
        pass_env=common.pass_env,
    )
