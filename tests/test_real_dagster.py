"""envboard against real Dagster and dg from PyPI (needs the package registry; CI has it).

The plugin list envboard shows must be exactly what that environment's own dg prints:
`dg list registry-modules --json` and `dg list components --json` today, and
`dg list plugins --json` (entries whose features include "component") in the Dagster
1.10 / dagster-dg 0.26 era. Without the package index these tests skip, saying so.

Building both environments takes about a minute from a warm uv cache, several from a
cold one; each is built once per module.
"""

import json
import os
import subprocess
import textwrap
from pathlib import Path

import pytest

from tests.dagster_projects import create_dagster_project, registry_env
from tests.shared_bytecode import share_bytecode
from webapp.cli import main as cli

pytestmark = pytest.mark.dagster

# the dg 0.26 era, with an integration that imports offline (dagster-sling 0.26 downloads
# its binary at import time, and dg 0.26 then dies on a JSON decode error)
LEGACY_PINS = ("dagster==1.10.17", "dagster-dg==0.26.17", "dagster-dbt==0.26.17")


@pytest.fixture(scope="module")
def dagster_project(tmp_path_factory, uv_bin, package_index, bytecode_donors) -> Path:
    base = tmp_path_factory.mktemp("dagster")
    project = create_dagster_project(base, "demo", uv_bin)
    share_bytecode(project / ".venv", bytecode_donors)
    env = {**registry_env(), "DAGSTER_HOME": str(base / "home")}
    dg = project / ".venv" / "bin" / "dg"
    subprocess.run(
        [str(dg), "scaffold", "component", "GreetingComponent"], cwd=project, env=env, check=True, timeout=300
    )
    subprocess.run([uv_bin, "sync"], cwd=project, env=env, check=True, capture_output=True, timeout=900)
    return project


def dg_json(project: Path, *args: str) -> dict:
    result = subprocess.run(
        [str(project / ".venv" / "bin" / "dg"), "list", *args, "--json"],
        cwd=project,
        env=registry_env(),
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
    # `active` written into a project of today's dg: dg ignores the key (and warns), so the
    # project still runs in its own .venv, as envboard says, and the answer is the same
    text = (dagster_project / "pyproject.toml").read_text()
    active = text.replace('python_environment = "persistent_uv"', 'python_environment = "active"')
    (dagster_project / "pyproject.toml").write_text(active)
    try:
        python = str(dagster_project / ".venv" / "bin" / "python")
        entry = envboard_json(dagster_project, tmp_path, "--active-python", python)
        assert entry["mode"] == "persistent_uv"
        assert any("deprecated" in warning for warning in entry["environment"]["dg_warnings"])
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
            env=registry_env(),
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


def _legacy_files(project: Path) -> None:
    """A dg 0.26 project as that era wrote them: components in `<pkg>.lib`, found through
    the `dagster_dg.plugin` entry point, the environment in the table spelling."""
    package = project / "src" / "legacy"
    (package / "lib").mkdir(parents=True)
    (package / "defs").mkdir()
    (package / "__init__.py").write_text("")
    (package / "defs" / "__init__.py").write_text("")
    (package / "lib" / "__init__.py").write_text(
        "from legacy.lib.greeting import GreetingComponent as GreetingComponent\n"
    )
    (package / "lib" / "greeting.py").write_text(
        textwrap.dedent('''
            from dagster.components import Component, ComponentLoadContext


            class GreetingComponent(Component):
                """Says hello, the 1.10 way.

                More words that are not part of the summary.
                """

                def build_defs(self, context: ComponentLoadContext):
                    from dagster import Definitions

                    return Definitions()
        ''')
    )
    dependencies = ", ".join(f'"{pin}"' for pin in LEGACY_PINS)
    (project / "pyproject.toml").write_text(
        textwrap.dedent(f"""
            [project]
            name = "legacy"
            version = "0.1.0"
            requires-python = ">=3.9,<3.13"
            dependencies = [{dependencies}]

            [project.entry-points."dagster_dg.plugin"]
            legacy = "legacy.lib"

            [build-system]
            requires = ["hatchling"]
            build-backend = "hatchling.build"

            [tool.hatch.build.targets.wheel]
            packages = ["src/legacy"]

            [tool.dg]
            directory_type = "project"

            [tool.dg.project]
            root_module = "legacy"
            python_environment = {{ uv_managed = true }}
        """).lstrip()
    )


def _legacy_env(uv_bin: str) -> dict[str, str]:
    env = registry_env()
    env["PATH"] = os.path.dirname(uv_bin) + os.pathsep + env.get("PATH", "")  # dg 0.26 runs `uv`
    return env


@pytest.fixture(scope="module")
def legacy_project(tmp_path_factory, uv_bin, package_index, bytecode_donors) -> Path:
    project = tmp_path_factory.mktemp("legacy") / "legacy"
    _legacy_files(project)
    env = _legacy_env(uv_bin)
    env["DAGSTER_HOME"] = str(project.parent / "home")
    subprocess.run([uv_bin, "sync"], cwd=project, env=env, check=True, capture_output=True, timeout=900)
    share_bytecode(project / ".venv", bytecode_donors)
    return project


def legacy_dg_components(project: Path, uv_bin: str) -> list[dict]:
    """`dg list plugins --json` of dg 0.26: component types are entries with the "component" feature."""
    result = subprocess.run(
        [str(project / ".venv" / "bin" / "dg"), "list", "plugins", "--json"],
        cwd=project,
        env=_legacy_env(uv_bin),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    # it prints "Using .../dagster-components" before the JSON list
    start = result.stdout.index("\n[") + 1 if not result.stdout.startswith("[") else 0
    entries = json.loads(result.stdout[start:])
    return [{"key": e["key"], "summary": e["summary"]} for e in entries if "component" in e["features"]]


def test_the_dagster_1_10_era_agrees_with_its_own_dg(legacy_project, uv_bin, tmp_path):
    components = legacy_dg_components(legacy_project, uv_bin)
    keys = [c["key"] for c in components]
    assert "legacy.lib.GreetingComponent" in keys
    assert any(k.startswith("dagster_dbt.") for k in keys), keys  # the integration's own
    assert any(k.startswith("dagster.") for k in keys), keys  # the built-in ones
    entry = envboard_json(legacy_project, tmp_path)
    assert entry["mode"] == "persistent_uv"
    plugins = entry["plugins"]
    assert plugins["failure"] is None and plugins["errors"] == []
    assert [{"key": c["key"], "summary": c["summary"]} for c in plugins["components"]] == components
    greeting = next(c for c in plugins["components"] if c["key"] == "legacy.lib.GreetingComponent")
    assert greeting["summary"] == "Says hello, the 1.10 way."
    environment = entry["environment"]
    assert environment["dagster_version"] == "1.10.17"
    assert environment["dg_version"] == "0.26.17"  # dagster-dg: there is no dagster-dg-cli yet
    assert environment["package_count"] == len(plugins["packages"]) > 50


def test_the_current_era_reports_its_versions(dagster_project, tmp_path):
    environment = envboard_json(dagster_project, tmp_path)["environment"]
    assert environment["dagster_version"] == "1.13.27"
    assert environment["dg_version"] == "1.13.27"  # dagster-dg-cli


# Dagster 1.11 and 1.12: dagster-dg-cli, the `dagster_dg_cli.registry_modules` group,
# and the project's own components found through `registry_modules`
MIDDLE_ERAS = {"1.11": "1.11.16", "1.12": "1.12.22"}


@pytest.fixture(scope="module", params=sorted(MIDDLE_ERAS))
def middle_era_project(request, tmp_path_factory, uv_bin, package_index, bytecode_donors) -> Path:
    version = MIDDLE_ERAS[request.param]
    project = tmp_path_factory.mktemp(f"era-{request.param}") / "midera"
    components = project / "src" / "midera" / "components"
    components.mkdir(parents=True)
    (project / "src" / "midera" / "__init__.py").write_text("")
    (components / "__init__.py").write_text("")
    (components / "greeting.py").write_text(
        textwrap.dedent('''
            import dagster as dg


            class GreetingComponent(dg.Component):
                """Says hello from the middle era.

                More words that are not part of the summary.
                """

                def build_defs(self, context):
                    return dg.Definitions()
        ''')
    )
    (project / "pyproject.toml").write_text(
        textwrap.dedent(f"""
            [project]
            name = "midera"
            version = "0.1.0"
            requires-python = ">=3.10,<3.14"
            dependencies = ["dagster=={version}", "dagster-dg-cli=={version}"]

            [build-system]
            requires = ["hatchling"]
            build-backend = "hatchling.build"

            [tool.hatch.build.targets.wheel]
            packages = ["src/midera"]

            [tool.dg]
            directory_type = "project"

            [tool.dg.project]
            root_module = "midera"
            registry_modules = ["midera.components.*"]
        """).lstrip()
    )
    env = registry_env()
    subprocess.run([uv_bin, "sync"], cwd=project, env=env, check=True, capture_output=True, timeout=900)
    share_bytecode(project / ".venv", bytecode_donors)
    return project


def dg_items(answer: dict | list) -> list:
    return answer["items"] if isinstance(answer, dict) else answer


def test_dagster_1_11_and_1_12_agree_with_their_own_dg(middle_era_project, tmp_path):
    project = middle_era_project
    # dg 1.11 prints a bare list; later ones wrap it as {"items": [...]}
    modules = dg_items(dg_json(project, "registry-modules"))
    components = dg_items(dg_json(project, "components"))
    assert "midera.components.greeting.GreetingComponent" in [c["key"] for c in components]
    # the project is in active mode (the default): envboard is given the project's interpreter
    entry = envboard_json(project, tmp_path, "--active-python", str(project / ".venv" / "bin" / "python"))
    plugins = entry["plugins"]
    assert plugins["errors"] == [] and plugins["unmatched_patterns"] == []
    assert plugins["registry_modules"] == modules
    assert [{"key": c["key"], "summary": c["summary"]} for c in plugins["components"]] == components
    assert entry["environment"]["dagster_version"] == entry["environment"]["dg_version"]
    assert entry["environment"]["dagster_version"].rsplit(".", 1)[0] in MIDDLE_ERAS
