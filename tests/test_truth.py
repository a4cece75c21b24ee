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
        "name": "extra-plugin",
        "version": None,
        "locked": None,
        "planned": "2.0.0",
        "direct": True,
    }


def _release(fifo) -> None:
    """Let every interpreter blocked on the FIFO go (opening it to write frees all its readers)."""
    import errno

    try:
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    except OSError as exc:
        if exc.errno != errno.ENXIO:  # ENXIO: nobody is waiting
            raise


def test_a_project_probed_again_keeps_its_last_answer_marked_refreshing(
    uv_workspace, make_app, uv_bin, tmp_path
):
    from tests.conftest import build_wheel, install_by_hand, wait_for

    alpha = uv_workspace / "projects" / "alpha"
    client = make_app(uv_workspace).test_client()
    url = "/api/projects/projects-alpha"
    before = wait_for(lambda: (client.get(url).get_json()["plugins"] or {}).get("registry_modules"))
    # every interpreter of this environment now waits at start-up until the test lets it go,
    # so the probe that the install sets off is still running when the API is asked
    fifo = tmp_path / "hold"
    os.mkfifo(fifo)
    pth = f"import os; os.close(os.open({str(fifo)!r}, os.O_RDONLY))\n"
    hold = build_wheel(tmp_path / "hold-wheel", "hold", "1.0", {"zz_hold.pth": pth})
    install_by_hand(uv_bin, alpha, str(hold))
    try:
        during = wait_for(lambda: (lambda d: d if d["pending"] else None)(client.get(url).get_json()))
        assert during["refreshing"] is True
        assert during["plugins"]["registry_modules"] == before
        metrics = client.get("/metrics").get_data(as_text=True)
        assert 'envboard_project_registry_modules{project="projects-alpha"}' in metrics
    finally:
        site = next((alpha / ".venv" / "lib").glob("python*/site-packages"))
        (site / "zz_hold.pth").unlink()

    def answered():
        # an interpreter that read the .pth just before it went may reach the FIFO only after a
        # release: each look lets go whoever is blocked on it now
        _release(fifo)
        answer = client.get(url).get_json()
        return answer if not answer["pending"] and answer["plugins"] else None

    after = wait_for(answered)
    assert after["refreshing"] is False


def test_a_status_check_ended_by_a_signal_is_not_remembered_as_uvs_answer(uv_workspace, make_board, tmp_path):
    """A shell's `envboard sync` that exits while its follow-up check runs ends that check; the
    server started next read "uv exited -15" from the shared cache until a file changed.
    (The stand-in uv is ended by a signal the moment it is asked, as the real one was then.)"""
    ended = tmp_path / "bin" / "uv"
    ended.parent.mkdir()
    ended.write_text("#!/bin/sh\nkill -TERM 0\n")  # its whole process group, as envboard ends one
    ended.chmod(0o755)
    board = make_board(uv_workspace, uv=str(ended))
    project = board.workspace.projects[0]
    env = board.resolve(project)
    status = board.check_status(project, env)
    assert (status.status, status.reason) == (
        "unknown",
        "uv sync --check was stopped (signal 15) before it decided",
    )
    assert board.cached_status(project, env) is None  # asked again, not read back
