"""The resolver: which Python environment a project uses, and how to run things in it.

It follows the project's own dg (`workspace/eras.py`): in the 0.26 eras `active` is the
environment envboard was started in and `persistent_uv` the virtual environment uv uses for
the project; from dagster-dg-core 1.10.20 on, dg runs a project's code with
`<project>/.venv/bin/python` whatever the config says, or with the interpreter a `.env`
names. Invocations built here are the only way envboard runs anything in an environment
(see `launcher.run`).
"""

from __future__ import annotations

import fnmatch
import itertools
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..disk.files import MAX_CONFIG_BYTES, MAX_LOCK_BYTES, ConfigError, read_toml, regular_file_problem
from ..workspace.dg import MODE_ACTIVE, MODE_UV, PYPROJECT
from ..workspace.eras import IGNORED
from ..workspace.reading import Reading
from ..workspace.scan import Project
from .confinement import NOT_CONFINED, Confinement, child_environment
from .interpreters import ActivePython, pyvenv_version
from .leftovers import CHECK_MARKER
from .processes import Invocation, UvLocation


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
    dg_version: str | None = None  # the dg that reads the project's config (which_dg.find_dg)
    described: str = ""  # the environment in words, as that dg sees it
    dg_warnings: tuple[str, ...] = field(default=())  # what that dg itself warns, in its words

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
        """The project's environment, the one its dg runs its code with; with `mode`, the one it
        would have in that mode (in an era whose dg reads the mode)."""
        reading = project.reading
        if reading is not None and reading.era.name == IGNORED:
            python = reading.python
            env = self._resolve_named(project, python) if python else self._resolve_own(project)
        else:
            mode = mode if mode in (MODE_ACTIVE, MODE_UV) else None
            mode = mode or (project.mode.mode if project.mode else MODE_ACTIVE)
            env = self._resolve_uv(project) if mode == MODE_UV else self._resolve_active(project)
        return _as_dg_sees_it(env, reading)

    def _resolve_own(self, project: Project) -> ResolvedEnvironment:
        """Today's dg: `<project>/.venv/bin/python`, which `uv sync` at the project root makes."""
        reading = project.reading
        assert reading is not None
        venv = project.path / ".venv"
        why = [_mode_reason(project), reading.rule]
        warnings = []
        uv_env = self._resolve_uv(project)
        if not _same_path(uv_env.venv, venv):
            warnings.append(
                f"uv syncs {uv_env.venv} for this project ({uv_env.why[-1]}), but {reading.dg.label} runs "
                f"its code with {venv / 'bin' / 'python'}: a sync does not reach the environment dg uses"
            )
        if self.uv.path is None:
            why.append(self.uv.reason)
        return ResolvedEnvironment(
            MODE_UV,
            project.path,
            venv / "bin" / "python",
            venv,
            tuple(why),
            tuple(warnings),
            uv_root=uv_env.uv_root,
        )

    def _resolve_named(self, project: Project, python: Path) -> ResolvedEnvironment:
        """Today's dg with `DG_PROJECT_PYTHON_EXECUTABLE` in the project's .env: that interpreter."""
        reading = project.reading
        assert reading is not None
        candidate = python.parent.parent
        venv = candidate if (candidate / "pyvenv.cfg").is_file() else None
        why = (_mode_reason(project), reading.rule, f"{python}")
        return ResolvedEnvironment(MODE_ACTIVE, project.path, python, venv, why)

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

    def inputs_problem(self, env: ResolvedEnvironment) -> str | None:
        """Why uv must not be started for this environment: a file it reads is a FIFO, a device,
        too large, or a uv.lock that links out of its folder ("file: reason"); None when fine.

        uv would wait on a FIFO until its timeout, holding a worker, or read a device forever.
        """
        if env.mode != MODE_UV:
            return None
        root = env.uv_root or env.project_root
        lock = root / "uv.lock"
        return (
            regular_file_problem(lock, MAX_LOCK_BYTES, within=lock.parent)
            or regular_file_problem(root / PYPROJECT, MAX_CONFIG_BYTES)
            or regular_file_problem(env.project_root / PYPROJECT, MAX_CONFIG_BYTES)
        )

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


def _as_dg_sees_it(env: ResolvedEnvironment, reading: Reading | None) -> ResolvedEnvironment:
    """The environment with the dg that decided it: its version, its words, its warnings."""
    if reading is None:
        return env
    found = f"{reading.dg.label}: {reading.dg.source}" if reading.dg.version else reading.dg.source
    return replace(
        env,
        why=(found, *env.why) if reading.era.name == IGNORED else (found, *env.why, reading.rule),
        dg_version=reading.dg.version,
        described=reading.environment,
        dg_warnings=reading.warnings,
    )


def _mode_reason(project: Project) -> str:
    setting = project.mode
    if project.reading is not None and project.reading.era.name == IGNORED:
        if setting is None or setting.spelling == "default":
            return "python_environment is not set (today's dg ignores it anyway)"
        where = f"{setting.file}:{setting.line}" if setting.line else str(setting.file)
        return f"{setting.key} = {setting.raw} in {where}, which {project.reading.dg.label} ignores"
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
