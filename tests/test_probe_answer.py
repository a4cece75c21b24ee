"""What one probe run reports besides plugins: versions, installed packages, patterns that
matched nothing; and that it leaves without waiting for the interpreter's teardown."""

import json
import textwrap

from tests.conftest import build_wheel, install_by_hand, uv, write_project
from webapp.cli import main as cli
from webapp.core.probe.runner import PROBE_SCRIPT


def site_packages(project_dir):
    return next((project_dir / ".venv" / "lib").glob("python*/site-packages"))


def count_probes(monkeypatch):
    """The argv of every process envboard starts from now on (all go through one place)."""
    from webapp.core.environments import processes

    spawned = []
    real_start = processes._start

    def counting(invocation):
        spawned.append(invocation.argv)
        return real_start(invocation)

    monkeypatch.setattr(processes, "_start", counting)
    return spawned


def test_versions_and_packages_come_from_the_one_probe_and_follow_the_environment(
    uv_workspace, make_board, monkeypatch, tmp_path, uv_bin
):
    project_dir = uv_workspace / "projects" / "alpha"
    spawned = count_probes(monkeypatch)
    board = make_board(uv_workspace)
    project = board.workspace.projects[0]
    plugins = board.state(project, wait=True).plugins
    probes = [argv for argv in spawned if str(PROBE_SCRIPT) in map(str, argv)]
    assert len(probes) == 1  # the plugin list, versions and packages: one subprocess
    assert plugins.dagster_version == "0.0.1"
    assert plugins.dg_version is None  # no dg installed in this environment
    installed = {
        p.name.split("-")[0].replace("_", "-").lower() for p in site_packages(project_dir).glob("*.dist-info")
    }
    assert [p["name"] for p in plugins.packages] == sorted(installed)
    assert {"name": "acme-plugin", "version": "1.0.0"} in plugins.packages
    assert plugins.package_count == len(installed)

    # a dg of the 1.10 era, then the current one: the newer distribution name wins
    wheels = tmp_path / "dg-wheels"
    legacy = build_wheel(wheels, "dagster-dg", "0.26.17", {"dagster_dg/__init__.py": ""})
    install_by_hand(uv_bin, project_dir, str(legacy))
    after = board.state(project, wait=True).plugins
    assert not after.cached and after.dg_version == "0.26.17"
    assert after.package_count == plugins.package_count + 1
    current = build_wheel(wheels, "Dagster_DG.cli", "1.13.27", {"dagster_dg_cli/__init__.py": ""})
    install_by_hand(uv_bin, project_dir, str(current))
    latest = board.state(project, wait=True).plugins
    assert latest.dg_version == "1.13.27"
    assert {"name": "dagster-dg-cli", "version": "1.13.27"} in latest.packages  # normalised name

    # a later look is served from the cache, with the same facts and no subprocess
    spawned.clear()
    again = make_board(uv_workspace).state(project, wait=True).plugins
    assert again.cached and spawned == []
    assert (again.dg_version, again.dagster_version, again.packages) == (
        latest.dg_version,
        latest.dagster_version,
        latest.packages,
    )


def test_list_json_carries_the_versions(uv_workspace, tmp_path, capsys):
    state_dir = str(tmp_path / "s")
    assert cli(["list", "--workspace", str(uv_workspace), "--state-dir", state_dir, "--json"]) == 0
    (project,) = json.loads(capsys.readouterr().out)["projects"]
    environment = project["environment"]
    assert environment["dagster_version"] == "0.0.1"
    assert environment["dg_version"] is None
    assert environment["package_count"] == len(project["plugins"]["packages"]) >= 3


def test_a_pattern_that_matches_no_module_is_reported(tmp_path, wheelhouse, uv_bin, make_board):
    project_dir = write_project(
        tmp_path / "ingest",
        "ingest",
        mode="persistent_uv",
        dependencies=("dagster",),
        wheelhouse=wheelhouse,
        registry_modules=("nowhere.at_all",),
        local_components=True,  # adds ingest.components.*, empty once greeting.py is gone
    )
    uv(uv_bin, "sync", cwd=project_dir)
    (project_dir / "src" / "ingest" / "components" / "greeting.py").unlink()
    board = make_board(project_dir)
    plugins = board.state(board.workspace.projects[0], wait=True).plugins
    assert plugins.unmatched_patterns == ["nowhere.at_all", "ingest.components.*"]
    assert plugins.to_json()["unmatched_patterns"] == ["nowhere.at_all", "ingest.components.*"]
    # a module appears: the pattern matches, and the cached answer is not served
    (project_dir / "src" / "ingest" / "components" / "orders.py").write_text("X = 1\n")
    again = board.state(board.workspace.projects[0], wait=True).plugins
    assert not again.cached
    assert again.unmatched_patterns == ["nowhere.at_all"]
    assert "ingest.components.orders" in [m["module"] for m in again.registry_modules]


def test_the_probe_does_not_wait_for_a_plugins_teardown(tmp_path, uv_bin, make_board, wheelhouse):
    """A plugin's exit handlers (here: a marker file and a long sleep) never run or delay the answer."""
    marker = tmp_path / "teardown-ran"
    plugin = build_wheel(
        tmp_path / "wheels",
        "slow-exit",
        "1.0.0",
        {
            "slow_exit/__init__.py": textwrap.dedent(f"""
                import atexit
                import time

                def _teardown():
                    open({str(marker)!r}, "w").close()
                    time.sleep(30)

                atexit.register(_teardown)
            """)
        },
        entry_points={"dagster_dg.plugin": {"slow_exit": "slow_exit"}},
    )
    project_dir = write_project(
        tmp_path / "p", "p", mode="persistent_uv", dependencies=("dagster",), wheelhouse=wheelhouse
    )
    uv(uv_bin, "sync", cwd=project_dir)
    install_by_hand(uv_bin, project_dir, str(plugin))
    board = make_board(project_dir)
    plugins = board.state(board.workspace.projects[0], wait=True).plugins
    assert plugins.failure is None and "slow_exit" in [m["module"] for m in plugins.registry_modules]
    assert plugins.duration < 20
    assert not marker.exists()


LEGACY_STAND_IN = '''
"""The 1.10 layout: no top-level Component; the base lives in dagster.components."""

import abc


class Component(abc.ABC):
    """Base class of component types."""

    __dg_package_entry__ = True

    @abc.abstractmethod
    def build_defs(self, context): ...


class DefinitionsComponent(Component):
    """An arbitrary set of Dagster definitions."""

    def build_defs(self, context):
        return None
'''


def test_components_of_the_1_10_layout_are_found(tmp_path, uv_bin, make_board):
    """dagster 1.10 has no `dagster.Component`; its components were listed as none at all."""
    wheels = tmp_path / "wheels"
    dagster = build_wheel(
        wheels,
        "dagster",
        "1.10.17",
        {"dagster/__init__.py": "", "dagster/components/__init__.py": LEGACY_STAND_IN},
        entry_points={
            "dagster_dg.plugin": {"dagster": "dagster", "dagster.components": "dagster.components"}
        },
    )
    plugin = build_wheel(
        wheels,
        "old-plugin",
        "0.26.17",
        {
            "old_plugin/__init__.py": textwrap.dedent('''
                from dagster.components import Component


                class OldComponent(Component):
                    """Registered under dagster_dg.plugin."""

                    def build_defs(self, context):
                        return None
            ''')
        },
        entry_points={"dagster_dg.plugin": {"old_plugin": "old_plugin"}},
    )
    dg = build_wheel(wheels, "dagster-dg", "0.26.17", {"dagster_dg/__init__.py": ""})
    project_dir = write_project(tmp_path / "p", "p", mode="persistent_uv")
    uv(uv_bin, "sync", cwd=project_dir)
    install_by_hand(uv_bin, project_dir, str(dagster), str(plugin), str(dg))
    board = make_board(project_dir)
    plugins = board.state(board.workspace.projects[0], wait=True).plugins
    assert plugins.errors == [] and plugins.dagster_importable
    assert [(c["key"], c["summary"]) for c in plugins.components] == [
        ("dagster.components.DefinitionsComponent", "An arbitrary set of Dagster definitions."),
        ("old_plugin.OldComponent", "Registered under dagster_dg.plugin."),
    ]
    assert (plugins.dagster_version, plugins.dg_version) == ("1.10.17", "0.26.17")


def test_a_module_linked_into_site_packages_from_elsewhere_is_watched(
    tmp_path, uv_bin, make_board, wheelhouse
):
    """Stamping resolves folders once each, but a link still leads to the file it names."""
    source = tmp_path / "elsewhere" / "linked_plugin"
    source.mkdir(parents=True)
    component = textwrap.dedent('''
        from dagster import Component


        class LinkedComponent(Component):
            """{summary}"""

            def build_defs(self, context):
                return None
    ''')
    (source / "__init__.py").write_text(component.format(summary="Before the edit."))
    metadata_only = build_wheel(
        tmp_path / "wheels",
        "linked-plugin",
        "1.0.0",
        {},
        entry_points={"dagster_dg.plugin": {"linked_plugin": "linked_plugin"}},
    )
    project_dir = write_project(
        tmp_path / "p", "p", mode="persistent_uv", dependencies=("dagster",), wheelhouse=wheelhouse
    )
    uv(uv_bin, "sync", cwd=project_dir)
    install_by_hand(uv_bin, project_dir, str(metadata_only))
    (site_packages(project_dir) / "linked_plugin").symlink_to(source, target_is_directory=True)
    board = make_board(project_dir)
    project = board.workspace.projects[0]
    first = board.state(project, wait=True).plugins
    assert {"key": "linked_plugin.LinkedComponent", "summary": "Before the edit."} in first.components
    assert board.state(project, wait=True).plugins.cached
    (source / "__init__.py").write_text(component.format(summary="After the edit."))
    after = board.state(project, wait=True).plugins
    assert not after.cached
    assert {"key": "linked_plugin.LinkedComponent", "summary": "After the edit."} in after.components


def test_an_answer_from_another_interpreter_than_the_environment_is_a_failure_not_an_empty_list(
    tmp_path, wheelhouse, uv_bin, make_board
):
    """`uv run --no-sync` that does not find the project's .venv (a folder the job user lost sight
    of) runs another interpreter: its answer, with none of the project's plugins, is not the
    project's and must not be shown or kept as such."""
    project_dir = write_project(
        tmp_path / "p", "p", mode="persistent_uv", dependencies=("dagster",), wheelhouse=wheelhouse
    )
    uv(uv_bin, "sync", cwd=project_dir)
    board = make_board(project_dir)
    project = board.workspace.projects[0]
    env = board.resolve(project)
    assert not board.probe.probe(project, env).failure
    elsewhere = tmp_path / "elsewhere"
    board.resolver.environ["UV_PROJECT_ENVIRONMENT"] = str(elsewhere)  # what uv runs from now on
    answer = board.probe.probe(project, env)
    assert f"the probe ran in {elsewhere}, not in the project's environment {env.venv}" in answer.failure
    kept = board.probe.cached(project, env)  # the environment's own answer stays the one served
    assert kept is not None and kept.dagster_importable
