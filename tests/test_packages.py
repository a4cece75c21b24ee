"""Lock facts and named drift, against real uv on real projects.

Each drift case is proven against uv itself: the drift envboard reports before a real
`uv sync` must equal what that sync then changes in site-packages.
"""

import dataclasses
import json

import pytest

from tests.conftest import add_dependency, build_wheel, install_by_hand, uv
from webapp.core.disk.cache import DependencyCache
from webapp.core.environments.status import drift_counts, parse_plan
from webapp.core.environments.uv import LockInspector, direct_requirements
from webapp.core.workspace.locked import read_locked_versions


def installed(project_dir) -> dict[str, str]:
    """name -> version as the environment's dist-info folders say."""
    site = next((project_dir / ".venv" / "lib").glob("python*/site-packages"))
    found = {}
    for info in site.glob("*.dist-info"):
        lines = (info / "METADATA").read_text().splitlines()
        fields = dict(line.split(": ", 1) for line in lines if ": " in line)
        found[fields["Name"].lower().replace("_", "-")] = fields["Version"]
    return found


def changes(before: dict[str, str], after: dict[str, str]) -> list[dict]:
    result = []
    for name in sorted(set(before) | set(after)):
        old, new = before.get(name), after.get(name)
        if old == new:
            continue
        action = "change" if old and new else ("install" if new else "remove")
        result.append({"name": name, "action": action, "installed": old, "locked": new})
    return result


@pytest.fixture
def alpha(uv_workspace):
    return uv_workspace / "projects" / "alpha"


def drift_of(make_board, workspace):
    board = make_board(workspace)
    project = board.workspace.projects[0]
    state = board.state(project, wait=True)
    return board, project, state


def assert_uv_sync_does_exactly(board, project, project_dir, drift, uv_bin):
    before = installed(project_dir)
    uv(uv_bin, "sync", cwd=project_dir)
    assert changes(before, installed(project_dir)) == drift
    assert board.check_status(project, board.resolve(project)).drift == ()


def test_a_package_installed_by_hand_is_to_remove(alpha, uv_workspace, make_board, wheelhouse, uv_bin):
    wheel = next(wheelhouse.glob("extra_plugin-*.whl"))
    install_by_hand(uv_bin, alpha, str(wheel))
    board, project, state = drift_of(make_board, uv_workspace)
    assert state.status.status == "out_of_sync"
    assert state.status.reason == "the environment differs from uv.lock: a sync brings it in line"
    drift = list(state.status.drift)
    assert drift == [{"name": "extra-plugin", "action": "remove", "installed": "2.0.0", "locked": None}]
    assert drift_counts(drift) == {"install": 0, "remove": 1, "change": 0, "reinstall": 0}
    # the same drift comes back from the cache, with no subprocess, and in `envboard list --json`
    again = make_board(uv_workspace).state(project, wait=True)
    assert list(again.status.drift) == drift
    assert again.to_json()["environment"]["drift"] == drift
    assert_uv_sync_does_exactly(board, project, alpha, drift, uv_bin)


def test_a_package_removed_by_hand_is_to_install(alpha, uv_workspace, make_board, uv_bin):
    uv(uv_bin, "pip", "uninstall", "--python", ".venv/bin/python", "acme-plugin", cwd=alpha)
    board, project, state = drift_of(make_board, uv_workspace)
    drift = list(state.status.drift)
    assert drift == [{"name": "acme-plugin", "action": "install", "installed": None, "locked": "1.0.0"}]
    assert_uv_sync_does_exactly(board, project, alpha, drift, uv_bin)


def test_a_package_at_another_version_is_to_change(alpha, uv_workspace, make_board, uv_bin, tmp_path):
    newer = build_wheel(tmp_path / "newer", "acme-plugin", "1.1.0", {"acme_plugin/__init__.py": ""})
    install_by_hand(uv_bin, alpha, str(newer))
    board, project, state = drift_of(make_board, uv_workspace)
    drift = list(state.status.drift)
    assert drift == [{"name": "acme-plugin", "action": "change", "installed": "1.1.0", "locked": "1.0.0"}]
    # another version again: uv's words are the same, the drift is not, and the row must redraw
    newest = build_wheel(tmp_path / "newest", "acme-plugin", "1.2.0", {"acme_plugin/__init__.py": ""})
    install_by_hand(uv_bin, alpha, str(newest))
    later = board.state(project, wait=True)
    assert later.status.reason == state.status.reason
    assert later.status.drift[0]["installed"] == "1.2.0"
    same_but_drift = dataclasses.replace(
        later, status=dataclasses.replace(later.status, drift=state.status.drift)
    )
    assert later.fingerprint() != same_but_drift.fingerprint()
    drift = list(later.status.drift)
    assert_uv_sync_does_exactly(board, project, alpha, drift, uv_bin)


def test_an_edited_lock_is_seen_and_its_drift_named(alpha, uv_workspace, make_board, wheelhouse, uv_bin):
    board = make_board(uv_workspace)
    project = board.workspace.projects[0]
    env = board.resolve(project)
    inspector = LockInspector(board.resolver, DependencyCache(alpha.parent / "lock-cache"))
    facts = inspector.facts(project, env)
    assert facts.status == "up_to_date" and not facts.cached
    assert facts.locked["acme-plugin"] == "1.0.0" and facts.locked["dagster"] == "0.0.1"
    assert facts.direct == ["acme-plugin", "alpha-src", "dagster"]
    assert inspector.facts(project, env).cached  # nothing changed: no `uv lock --check`

    add_dependency(alpha, "extra-plugin", next(wheelhouse.glob("extra_plugin-*.whl")))
    outdated = inspector.facts(project, env)
    assert outdated.status == "outdated" and not outdated.cached
    assert "needs to be updated" in outdated.reason
    assert "extra-plugin" in outdated.direct and "extra-plugin" not in outdated.locked

    uv(uv_bin, "lock", "--offline", cwd=alpha)
    relocked = inspector.facts(project, env)
    assert relocked.status == "up_to_date" and relocked.locked["extra-plugin"] == "2.0.0"
    state = board.state(project, wait=True)
    drift = list(state.status.drift)
    assert drift == [{"name": "extra-plugin", "action": "install", "installed": None, "locked": "2.0.0"}]
    assert_uv_sync_does_exactly(board, project, alpha, drift, uv_bin)


def test_no_lock_is_said_so(alpha, uv_workspace, make_board):
    (alpha / "uv.lock").unlink()
    board = make_board(uv_workspace)
    project = board.workspace.projects[0]
    facts = LockInspector(board.resolver, board.cache).facts(project, board.resolve(project))
    assert facts.status == "absent" and facts.lock_file is None and facts.locked == {}
    assert json.loads(json.dumps(facts.to_json()))["status"] == "absent"


def test_the_plan_parser_reads_every_line_kind_uv_prints():
    text = """Would use project environment at: .venv
Resolved 6 packages in 333ms
Would update lockfile at: uv.lock
Would uninstall 3 packages
Would install 3 packages
 - idna==3.6
 + idna==3.7
 - Old_Thing==1.0
 + six==1.16.0
 ~ alpha==0.1.0 (from file:///somewhere/alpha)
error: The environment is outdated; run `uv sync` to update the environment
"""
    assert parse_plan(text) == [
        {"name": "alpha", "action": "reinstall", "installed": "0.1.0", "locked": "0.1.0"},
        {"name": "idna", "action": "change", "installed": "3.6", "locked": "3.7"},
        {"name": "old-thing", "action": "remove", "installed": "1.0", "locked": None},
        {"name": "six", "action": "install", "installed": None, "locked": "1.16.0"},
    ]
    assert parse_plan("Would make no changes\n") == []


def test_a_local_project_uv_rebuilds_is_a_reinstall_not_a_removal():
    # what `uv sync --check` printed after `touch pyproject.toml`; the sync then printed `~ reporting==0.1.0`
    text = """Would uninstall 1 package
Would install 1 package
 - reporting==0.1.0 (from file:///ws/projects/reporting)
 + reporting @ file:///ws/projects/reporting
"""
    assert parse_plan(text) == [
        {"name": "reporting", "action": "reinstall", "installed": "0.1.0", "locked": "0.1.0"}
    ]


def test_lock_and_pyproject_readers_survive_bad_files(tmp_path):
    (tmp_path / "uv.lock").write_text("not toml [")
    assert read_locked_versions(tmp_path / "uv.lock") == {}
    assert read_locked_versions(tmp_path / "missing.lock") == {}
    (tmp_path / "pyproject.toml").write_text(
        '[project]\ndependencies = ["Foo_Bar>=1", "baz[x]; python_version>\'3\'", 3]\n'
        '[project.optional-dependencies]\nextra = ["qux"]\n'
        '[dependency-groups]\ndev = ["pytest", {include-group = "extra"}]\n'
    )
    assert direct_requirements(tmp_path / "pyproject.toml") == ["baz", "foo-bar", "pytest", "qux"]


def test_a_dependency_added_to_pyproject_is_to_install_after_relocking(
    alpha, uv_workspace, make_board, wheelhouse, uv_bin
):
    """As `uv add` would leave it, minus the lock: uv would update the lock, then install."""
    add_dependency(alpha, "extra-plugin", next(wheelhouse.glob("extra_plugin-*.whl")))
    board, project, state = drift_of(make_board, uv_workspace)
    assert state.status.status == "out_of_sync"
    assert (
        state.status.reason
        == "uv.lock is behind pyproject.toml: a sync updates the lock, then the environment"
    )
    drift = list(state.status.drift)
    assert drift == [{"name": "extra-plugin", "action": "install", "installed": None, "locked": "2.0.0"}]
    assert_uv_sync_does_exactly(board, project, alpha, drift, uv_bin)
