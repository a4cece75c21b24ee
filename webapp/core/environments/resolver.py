"""The resolver: which Python environment a project uses, and how to run things in it.

`active` is the environment envboard was started in; `persistent_uv` is the virtual
environment uv uses for the project. Invocations built here are the only way
envboard runs anything in an environment (see `launcher.run`).
"""

from __future__ import annotations

import fnmatch
import itertools
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..disk.files import ConfigError, read_toml
from ..workspace.dg import MODE_ACTIVE, MODE_UV, PYPROJECT
from ..workspace.scan import Project
from .interpreters import ActivePython, pyvenv_version
from .output import last_words
from .processes import (
    CHECK_MARKER,
    NOT_CONFINED,
    Confinement,
    Invocation,
    UvLocation,
    child_environment,
    run,
)
from .uv import parse_plan

STATUS_MISSING = "missing"
STATUS_IN_SYNC = "in_sync"
STATUS_OUT_OF_SYNC = "out_of_sync"
STATUS_UNKNOWN = "unknown"
STATUS_UNMANAGED = "unmanaged"  # active mode: envboard does not manage that environment
STATUS_CHECK_TIMEOUT = 60.0


@dataclass(frozen=True)
class ResolvedEnvironment:
    """Where a project's commands run, and why there."""

    mode: str
    project_root: Path
    python: Path | None
    venv: Path | None
    why: tuple[str, ...] = ()
    warnings: tuple[str, ...] = field(default=())
    uv_root: Path | None = None  # the folder uv treats as the project (a uv workspace root)

    @property
    def exists(self) -> bool:
        return self.python is not None and self.python.exists()

    @property
    def site_packages(self) -> list[Path]:
        if self.venv is None:
            return []
        return sorted(self.venv.glob("lib/python*/site-packages"))

    @property
    def python_version(self) -> str | None:
        if self.venv is not None:
            return pyvenv_version(self.venv)
        return None


@dataclass(frozen=True)
class EnvironmentStatus:
    status: str
    reason: str
    # what `uv sync` would change, read from the plan `uv sync --check` prints: a tuple of
    # {"name", "action", "installed", "locked"}; empty when in sync or not known
    drift: tuple[dict[str, Any], ...] = field(default=(), hash=False)  # dicts cannot be hashed


class Resolver:
    """Resolves projects to environments and builds the invocations that run in them."""

    def __init__(
        self,
        active: ActivePython,
        uv: UvLocation,
        environ: dict[str, str] | None = None,
        confinement: Confinement = NOT_CONFINED,
        pass_env: tuple[str, ...] = (),
        owner: str | None = None,
    ):
        self.active = active
        self.uv = uv
        self.environ = dict(os.environ if environ is None else environ)
        self.confinement = confinement  # how every process started for a project is kept from secrets
        self.pass_env = pass_env  # variables the operator passes beyond the allow-list
        self.owner = owner  # CHECK_MARKER values start with it, so a stop or the next start finds them
        self._numbers = itertools.count(1)

    def resolve(self, project: Project, mode: str | None = None) -> ResolvedEnvironment:
        """The project's environment; with `mode`, the one it would have in that mode."""
        mode = mode or (project.mode.mode if project.mode else MODE_ACTIVE)
        if mode == MODE_UV:
            return self._resolve_uv(project)
        return self._resolve_active(project)

    def _resolve_active(self, project: Project) -> ResolvedEnvironment:
        why = [
            _mode_reason(project),
            f"active environment: {self.active.reason}"
            + (f" ({self.active.python})" if self.active.python else ""),
        ]
        warnings = []
        own_venv = project.path / ".venv"
        if (own_venv / "pyvenv.cfg").is_file() and not _same_path(own_venv, self.active.venv):
            warnings.append(
                f"{own_venv} exists but is not the active environment; it is not used in "
                'active mode (set python_environment = "persistent_uv" to use it, or start '
                "envboard with --active-python pointing into it)"
            )
        if self.active.python is None:
            warnings.append(self.active.reason)
        return ResolvedEnvironment(
            MODE_ACTIVE, project.path, self.active.python, self.active.venv, tuple(why), tuple(warnings)
        )

    def _resolve_uv(self, project: Project) -> ResolvedEnvironment:
        why = [_mode_reason(project)]
        uv_root = uv_workspace_root(project.path)
        base = uv_root or project.path
        if uv_root is not None and uv_root != project.path:
            why.append(f"member of the uv workspace at {uv_root}, whose environment it shares")
        configured = self.environ.get("UV_PROJECT_ENVIRONMENT")
        if configured:
            venv = Path(configured) if os.path.isabs(configured) else base / configured
            why.append(f"UV_PROJECT_ENVIRONMENT={configured}")
        else:
            venv = base / ".venv"
            why.append(f"uv's project environment: {venv}")
        if self.uv.path is None:
            why.append(self.uv.reason)
        return ResolvedEnvironment(
            MODE_UV, project.path, venv / "bin" / "python", venv, tuple(why), uv_root=base
        )

    # -- invocations -------------------------------------------------------------------------

    def unavailable(self, env: ResolvedEnvironment) -> str | None:
        """Why nothing can run in this environment right now, or None."""
        if env.mode == MODE_UV and self.uv.path is None:
            return self.uv.reason
        if env.mode != MODE_UV and env.python is None:
            return "no interpreter for the active environment: " + self.active.reason
        return None

    def invocation(self, env: ResolvedEnvironment, args: list[str], *, sync: bool = True) -> Invocation:
        """Run `args` inside the environment; args[0] == "python" means its interpreter.

        In persistent_uv mode `uv run` syncs the environment first, as dg did. Inspections
        pass sync=False (`uv run --no-sync`): looking at an environment must not change it.
        """
        if env.mode == MODE_UV:
            return self.uv_invocation(env.project_root, ["run", *([] if sync else ["--no-sync"]), *args])
        python = str(env.python) if env.python else "python"
        program = python if args[0] == "python" else str(Path(python).parent / args[0])
        environ = child_environment(self.environ, keep=self.pass_env, extra=self._marker())
        return Invocation((program, *args[1:]), env.project_root, environ, self.confinement)

    def uv_invocation(self, project_root: Path, uv_args: list[str]) -> Invocation:
        """uv at the project root with any activated virtual environment removed, as dg did."""
        uv = self.uv.path or "uv"
        env = child_environment(self.environ, drop=("VIRTUAL_ENV",), keep=self.pass_env, extra=self._marker())
        return Invocation((uv, *uv_args), project_root, env, self.confinement)

    def _marker(self) -> dict[str, str]:
        return {CHECK_MARKER: f"{self.owner}.{next(self._numbers)}"} if self.owner else {}

    def check_status(self, env: ResolvedEnvironment) -> EnvironmentStatus:
        """missing / in_sync / out_of_sync / unknown from uv's own check; never syncs."""
        if env.mode != MODE_UV:
            if not env.exists:
                return EnvironmentStatus(STATUS_MISSING, f"interpreter {env.python} not found")
            return EnvironmentStatus(
                STATUS_UNMANAGED, "active mode: envboard uses this environment but does not manage it"
            )
        if not env.exists:
            return EnvironmentStatus(STATUS_MISSING, f"no environment at {env.venv} yet; sync to create it")
        problem = self.unavailable(env)
        if problem:
            return EnvironmentStatus(STATUS_UNKNOWN, problem)
        result = run(
            self.uv_invocation(env.project_root, ["sync", "--check"]),
            capture=True,
            timeout=STATUS_CHECK_TIMEOUT,
        )
        text = result.text
        if result.error:
            return EnvironmentStatus(STATUS_UNKNOWN, result.error)
        if result.exit_code == 0:
            return EnvironmentStatus(STATUS_IN_SYNC, last_words(text) or "uv: would make no changes")
        if "outdated" in text or "Would " in text:
            return EnvironmentStatus(STATUS_OUT_OF_SYNC, _out_of_sync_reason(text), tuple(parse_plan(text)))
        return EnvironmentStatus(STATUS_UNKNOWN, last_words(text) or f"uv exited {result.exit_code}")


def _out_of_sync_reason(text: str) -> str:
    """What uv's plan means for the person looking, in place of its `error: ... run uv sync` line."""
    if "Would update lockfile" in text or "Would create lockfile" in text:
        return "uv.lock is behind pyproject.toml: a sync updates the lock, then the environment"
    return "the environment differs from uv.lock: a sync brings it in line"


def _mode_reason(project: Project) -> str:
    setting = project.mode
    if setting is None or setting.spelling == "default":
        return "python_environment is not set, so the mode is active (the default)"
    where = f"{setting.file}:{setting.line}" if setting.line else str(setting.file)
    return f"{setting.key} = {setting.raw} in {where}"


def _same_path(a: Path | None, b: Path | None) -> bool:
    if a is None or b is None:
        return False
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False


def uv_workspace_root(project_root: Path) -> Path | None:
    """The root of the uv workspace whose members include this project, if any."""
    for folder in (project_root, *project_root.parents):
        pyproject = folder / PYPROJECT
        if not pyproject.is_file():
            continue
        try:
            data = read_toml(pyproject).data
        except ConfigError:
            continue
        tool = data.get("tool")
        uv = tool.get("uv") if isinstance(tool, dict) else None
        workspace = uv.get("workspace") if isinstance(uv, dict) else None
        if not isinstance(workspace, dict):
            continue
        if folder == project_root:
            return folder
        rel = project_root.relative_to(folder).as_posix()
        members = workspace.get("members", [])
        excluded = workspace.get("exclude", [])
        if any(fnmatch.fnmatch(rel, m) for m in members) and not any(
            fnmatch.fnmatch(rel, e) for e in excluded
        ):
            return folder
        return None  # uv stops at the first workspace root above
    return None
