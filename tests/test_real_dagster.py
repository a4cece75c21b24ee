"""envboard against real Dagster and dg from PyPI (needs the package registry; CI has it).

The plugin list envboard shows must be exactly what `dg list registry-modules --json`
and `dg list components --json` print in the project's own environment.
"""

import json
import os
import subprocess
from pathlib import Path

import pytest

from webapp.cli import main as cli

pytestmark = pytest.mark.dagster

CREATE_DAGSTER = "create-dagster==1.13.27"  # its dagster pin has a matching dagster-dg-cli


@pytest.fixture(autouse=True)
def offline_uv(monkeypatch):
    """Overrides the offline default: these tests use the real registry."""
    monkeypatch.delenv("VIRTUAL_ENV", raising=False)
    monkeypatch.setenv("DAGSTER_DG_UPDATE_CHECK_ENABLED", "0")


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("UV_") and k != "VIRTUAL_ENV"}
    env["DAGSTER_DG_UPDATE_CHECK_ENABLED"] = "0"
    return env


@pytest.fixture(scope="module")
def dagster_project(tmp_path_factory, uv_bin) -> Path:
    base = tmp_path_factory.mktemp("dagster")
    env = _env()
    env["DAGSTER_HOME"] = str(base / "home")
    subprocess.run(
        [uv_bin, "tool", "run", "--from", CREATE_DAGSTER, "create-dagster", "project", "--uv-sync", "demo"],
        cwd=base,
        env=env,
        check=True,
        capture_output=True,
        timeout=900,
    )
    project = base / "demo"
    dg = project / ".venv" / "bin" / "dg"
    subprocess.run(
        [str(dg), "scaffold", "component", "GreetingComponent"], cwd=project, env=env, check=True, timeout=300
    )
    text = (project / "pyproject.toml").read_text()
    text = text.replace("[tool.dg.project]\n", '[tool.dg.project]\npython_environment = "persistent_uv"\n')
    (project / "pyproject.toml").write_text(text)
    subprocess.run([uv_bin, "sync"], cwd=project, env=env, check=True, capture_output=True, timeout=900)
    return project


def dg_json(project: Path, *args: str) -> dict:
    result = subprocess.run(
        [str(project / ".venv" / "bin" / "dg"), "list", *args, "--json"],
        cwd=project,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def envboard_json(project: Path, state_dir: Path, *extra: str) -> dict:
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli(["list", "--workspace", str(project), "--state-dir", str(state_dir), "--json", *extra])
    assert code == 0
    (entry,) = json.loads(out.getvalue())["projects"]
    return entry


def test_envboard_agrees_with_dg(dagster_project, tmp_path):
    modules = dg_json(dagster_project, "registry-modules")["items"]
    components = dg_json(dagster_project, "components")["items"]
    entry = envboard_json(dagster_project, tmp_path)
    assert entry["environment"]["status"] == "in_sync"
    plugins = entry["plugins"]
    assert plugins["errors"] == []
    assert plugins["registry_modules"] == modules
    assert [{"key": c["key"], "summary": c["summary"]} for c in plugins["components"]] == components
    assert "demo.components.greeting_component.GreetingComponent" in [c["key"] for c in components]
    assert "dagster.DefinitionsComponent" in [c["key"] for c in components]
    # and in active mode, started in the project's venv, the answer is the same
    text = (dagster_project / "pyproject.toml").read_text()
    active = text.replace('python_environment = "persistent_uv"', 'python_environment = "active"')
    (dagster_project / "pyproject.toml").write_text(active)
    try:
        python = str(dagster_project / ".venv" / "bin" / "python")
        entry = envboard_json(dagster_project, tmp_path, "--active-python", python)
        assert entry["mode"] == "active"
        assert entry["plugins"]["registry_modules"] == modules
        assert [
            {"key": c["key"], "summary": c["summary"]} for c in entry["plugins"]["components"]
        ] == components
    finally:
        (dagster_project / "pyproject.toml").write_text(text)


def test_a_component_that_raises_is_an_error_for_its_module_only(dagster_project, tmp_path):
    broken = dagster_project / "src" / "demo" / "components" / "broken.py"
    broken.write_text("raise ImportError('no such backend')\n")
    try:
        result = subprocess.run(
            [str(dagster_project / ".venv" / "bin" / "dg"), "list", "components", "--json"],
            cwd=dagster_project,
            env=_env(),
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 1 and result.stdout == ""  # dg lists nothing at all
        entry = envboard_json(dagster_project, tmp_path)
        errors = entry["plugins"]["errors"]
        assert [(e["module"], e["type"], e["message"]) for e in errors] == [
            ("demo.components.broken", "ImportError", "no such backend")
        ]
        keys = [c["key"] for c in entry["plugins"]["components"]]
        assert "demo.components.greeting_component.GreetingComponent" in keys
        assert "dagster.DefinitionsComponent" in keys
    finally:
        broken.unlink()
