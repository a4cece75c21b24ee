"""What envboard shows must be what uv decides, on real projects with real uv: each test
here is a slip that was seen (a status cached past uv's own inputs, a lock error shown as
a resolver failure) and must not come back."""

import os


def test_a_touched_pyproject_is_asked_of_uv_again(uv_workspace, make_board):
    """uv decides a local project is stale by modification time (a checkout, a copy, an edit
    and its revert): a status cached on content alone would keep saying "in sync"."""
    alpha = uv_workspace / "projects" / "alpha"
    board = make_board(uv_workspace)
    project = board.workspace.projects[0]
    assert board.state(project, wait=True).status.status == "in_sync"
    env = board.resolve(project)
    assert board.cached_status(project, env) is not None
    pyproject = alpha / "pyproject.toml"
    later = pyproject.stat().st_mtime + 60
    os.utime(pyproject, (later, later))  # same bytes, newer file: what uv looks at
    assert board.cached_status(project, env) is None


def test_an_offline_lock_check_that_cannot_resolve_says_why_not_a_resolver_error(uv_workspace, make_board):
    import tomlkit

    alpha = uv_workspace / "projects" / "alpha"
    pyproject = alpha / "pyproject.toml"
    document = tomlkit.parse(pyproject.read_text())
    document["project"]["dependencies"].append("nowhere-plugin")  # from the index, never cached here
    pyproject.write_text(tomlkit.dumps(document))
    board = make_board(uv_workspace)
    project = board.workspace.projects[0]
    facts = board.lock_inspector.facts(project, board.resolve(project))
    assert "No solution found" not in facts.reason
    assert (facts.status, facts.reason.split(":")[0]) == ("unknown", "needs the package index to decide")


def test_the_locked_column_shows_only_what_uv_lock_pins(uv_workspace, make_board, wheelhouse):
    from tests.conftest import add_dependency
    from webapp.core.pages.inventory import package_list

    alpha = uv_workspace / "projects" / "alpha"
    add_dependency(alpha, "extra-plugin", next(wheelhouse.glob("extra_plugin-*.whl")))  # lock left behind
    board = make_board(uv_workspace)
    project = board.workspace.projects[0]
    state = board.state(project, wait=True)
    assert "extra-plugin" not in state.lock.locked
    (row,) = [r for r in package_list(state).rows if r.name == "extra-plugin"]
    assert row.to_json() == {
        "name": "extra-plugin", "version": None, "locked": None, "planned": "2.0.0", "direct": True
    }
