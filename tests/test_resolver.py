"""The resolver: which environment, why, and the exact command line the launcher uses."""

import sys

from tests.conftest import write_project, write_workspace
from webapp.core.environments.interpreters import ActivePython
from webapp.core.environments.processes import UvLocation
from webapp.core.environments.resolver import Resolver, uv_workspace_root
from webapp.core.workspace.scan import scan_workspace


def test_active_python_order(tmp_path):
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "pyvenv.cfg").write_text("version_info = 3.12.1\n")
    explicit = ActivePython.detect(sys.executable, {"VIRTUAL_ENV": str(venv), "PATH": ""})
    assert explicit.reason == "--active-python"
    from_venv = ActivePython.detect(None, {"VIRTUAL_ENV": str(venv), "PATH": ""})
    assert (from_venv.python, from_venv.reason, from_venv.venv) == (
        venv / "bin" / "python",
        "$VIRTUAL_ENV",
        venv,
    )
    assert from_venv.version == "3.12.1"
    on_path = ActivePython.detect(None, {"PATH": str(tmp_path / "empty")})
    assert on_path.python is None and "no python3" in on_path.reason


def test_uv_mode_runs_through_uv_run_without_virtual_env(tmp_path):
    project = write_project(tmp_path / "p", "p", mode="persistent_uv")
    resolver = Resolver(
        ActivePython(tmp_path / "act" / "bin" / "python", "test"),
        UvLocation("/opt/uv", "test"),
        {"VIRTUAL_ENV": "/somewhere", "PATH": "/usr/bin"},
    )
    env = resolver.resolve(scan_workspace(project).projects[0])
    assert env.mode == "persistent_uv"
    assert env.venv == project / ".venv"
    invocation = resolver.invocation(env, ["python", "-V"])
    assert invocation.argv == ("/opt/uv", "run", "python", "-V")
    assert invocation.cwd == project
    assert "VIRTUAL_ENV" not in invocation.env
    assert any("pyproject.toml:" in line for line in env.why)


def test_active_mode_runs_the_interpreter_directly_and_warns_about_an_unused_venv(tmp_path):
    project = write_project(tmp_path / "p", "p")
    (project / ".venv").mkdir()
    (project / ".venv" / "pyvenv.cfg").write_text("version = 3.11.0\n")
    active = ActivePython(tmp_path / "act" / "bin" / "python", "test")
    resolver = Resolver(active, UvLocation("/opt/uv", "test"), {"VIRTUAL_ENV": "/keep"})
    env = resolver.resolve(scan_workspace(project).projects[0])
    assert env.mode == "active" and env.python == active.python
    invocation = resolver.invocation(env, ["python", "-V"])
    assert invocation.argv == (str(active.python), "-V")
    assert invocation.env["VIRTUAL_ENV"] == "/keep"
    assert env.warnings and "is not the active environment" in env.warnings[0]


def test_uv_workspace_member_shares_the_root_environment(tmp_path):
    root = tmp_path / "repo"
    write_workspace(root, ["packages/a"])
    (root / "pyproject.toml").write_text('[tool.uv.workspace]\nmembers = ["packages/*"]\n')
    project = write_project(root / "packages" / "a", "a", mode="persistent_uv")
    assert uv_workspace_root(project) == root
    resolver = Resolver(ActivePython(None, "none"), UvLocation("/opt/uv", "test"), {})
    env = resolver.resolve(scan_workspace(root).projects[0])
    assert env.venv == root / ".venv"
    custom = Resolver(
        ActivePython(None, "none"), UvLocation("/opt/uv", "t"), {"UV_PROJECT_ENVIRONMENT": "envs/x"}
    )
    assert custom.resolve(scan_workspace(root).projects[0]).venv == root / "envs" / "x"


def test_an_interpreter_is_asked_its_version_once_until_it_changes(tmp_path):
    """Every envboard built in one process (a server restarted in-process, the tests) asks the
    active Python once; a replaced interpreter is asked again."""
    import os

    from webapp.core.environments.interpreters import python_version

    asked = tmp_path / "asked"
    python = tmp_path / "bin" / "python3"
    python.parent.mkdir()

    def interpreter(version: str) -> None:
        python.write_text(f"#!/bin/sh\necho >> {asked}\necho {version}\n")
        python.chmod(0o755)

    interpreter("3.99.1")
    assert python_version(python) == "3.99.1"
    assert python_version(python) == "3.99.1"
    assert len(asked.read_text().splitlines()) == 1
    link = tmp_path / "python"  # reached through a link: the same file, not asked again
    os.symlink(python, link)
    assert python_version(link) == "3.99.1"
    assert len(asked.read_text().splitlines()) == 1
    interpreter("3.99.2")
    assert python_version(link) == "3.99.2"
    assert len(asked.read_text().splitlines()) == 2
