"""Mode changes keep every other byte of the file, keep its spelling, and refuse stale edits."""

import threading
import tomllib

import pytest

from tests.conftest import another_process_holds, write_project
from webapp.core.jobs.errors import JobError
from webapp.core.jobs.history import History
from webapp.core.jobs.manager import JobManager
from webapp.core.workspace import mode_preview, modes
from webapp.core.workspace.scan import scan_workspace

SHAPES = {
    "string with comments": (
        '# top comment\n[tool.dg]\ndirectory_type = "project"  # kind\n\n[tool.dg.project]\n'
        '# why uv\nroot_module = "x"\npython_environment = "active"   # trailing\nz = 1\n',
        'python_environment = "persistent_uv"   # trailing',
    ),
    "literal quotes": (
        "[tool.dg]\ndirectory_type = 'project'\n[tool.dg.project]\npython_environment = 'active'\n",
        "python_environment = 'persistent_uv'",
    ),
    "inline table": (
        '[tool.dg]\ndirectory_type = "project"\n[tool.dg.project]\npython_environment = { active = true }  # c\n',
        "python_environment = { uv_managed = true }  # c",
    ),
    "table": (
        '[tool.dg]\ndirectory_type = "project"\n[tool.dg.project.python_environment]\nactive = true\n',
        "[tool.dg.project.python_environment]\nuv_managed = true",
    ),
    "dotted keys": (
        '[tool.dg]\ndirectory_type = "project"\nproject.root_module = "x"\nproject.python_environment = "active"\n',
        'project.python_environment = "persistent_uv"',
    ),
    "dotted from the top": (
        'tool.dg.directory_type = "project"\ntool.dg.project.python_environment.active = true\n',
        "tool.dg.project.python_environment.uv_managed = true",
    ),
    "missing key": (
        '[tool.dg]\ndirectory_type = "project"\n\n[tool.dg.project]\nroot_module = "x"\n\n[tool.other]\na = 1\n',
        '[tool.dg.project]\nroot_module = "x"\npython_environment = "persistent_uv"\n\n[tool.other]',
    ),
    "missing table": (
        '[project]\nname = "p"\n\n[tool.dg]\ndirectory_type = "project"\n\n[tool.ruff]\nline-length = 1\n',
        '[tool.dg.project]\npython_environment = "persistent_uv"\n\n[tool.ruff]',
    ),
}


def project_with(tmp_path, text: str, filename: str = "pyproject.toml", raw: bytes | None = None):
    folder = tmp_path / "p"
    folder.mkdir()
    path = folder / filename
    if raw is not None:
        path.write_bytes(raw)
    else:
        path.write_text(text)
    (project,) = scan_workspace(folder).projects
    assert project.error is None, project.error
    return project, path


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_round_trip_keeps_everything_else(tmp_path, shape):
    text, expected = SHAPES[shape]
    project, path = project_with(tmp_path, text)
    change = mode_preview.preview(project, "persistent_uv")
    modes.apply(change, change.file_hash)
    written = path.read_text()
    assert expected in written
    for line in text.splitlines():
        if "python_environment" not in line and "active = true" not in line:
            assert line in written.splitlines(), f"lost line {line!r}"
    (project,) = scan_workspace(path.parent).projects
    assert project.mode.mode == "persistent_uv"
    back = mode_preview.preview(project, "active")
    modes.apply(back, back.file_hash)
    (project,) = scan_workspace(path.parent).projects
    assert project.mode.mode == "active"
    if shape not in ("missing key", "missing table"):
        assert path.read_text() == text, "switching back must restore the file byte for byte"


def test_dg_toml_is_edited_where_the_setting_lives(tmp_path):
    folder = tmp_path / "p"
    write_project(folder, "p")
    pyproject_before = (folder / "pyproject.toml").read_bytes()
    (folder / "dg.toml").write_text('directory_type = "project"\n\n[project]\nroot_module = "p"\n')
    (project,) = scan_workspace(folder).projects
    change = mode_preview.preview(project, "persistent_uv")
    assert change.file.name == "dg.toml"
    modes.apply(change, change.file_hash)
    assert tomllib.loads((folder / "dg.toml").read_text())["project"]["python_environment"] == "persistent_uv"
    assert (folder / "pyproject.toml").read_bytes() == pyproject_before


def test_crlf_and_bom_survive(tmp_path):
    text = '[tool.dg]\r\ndirectory_type = "project"\r\n\r\n[tool.dg.project]\r\nroot_module = "x"\r\n'
    project, path = project_with(tmp_path, "", raw=b"\xef\xbb\xbf" + text.encode())
    change = mode_preview.preview(project, "persistent_uv")
    modes.apply(change, change.file_hash)
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    body = raw[3:].decode()
    assert body.count("\r\n") == body.count("\n"), "every line ending stays CRLF"
    assert 'python_environment = "persistent_uv"\r\n' in body


def test_a_file_changed_since_the_preview_is_not_written(tmp_path):
    project, path = project_with(tmp_path, '[tool.dg]\ndirectory_type = "project"\n')
    change = mode_preview.preview(project, "persistent_uv")
    path.write_text('[tool.dg]\ndirectory_type = "project"\n# edited by hand\n')
    with pytest.raises(modes.StaleEdit, match="changed since the preview"):
        modes.apply(change, change.file_hash)
    assert path.read_text().endswith("# edited by hand\n")


def _jobs_for(tmp_path, make_board):
    board = make_board(tmp_path)
    return board, JobManager(board, History(tmp_path / "state", tmp_path))


def test_two_changes_at_once_exactly_one_wins(tmp_path, make_board):
    project, path = project_with(tmp_path, '# keep me\n[tool.dg]\ndirectory_type = "project"  # and me\n')
    board, jobs = _jobs_for(tmp_path, make_board)
    first = mode_preview.preview(project, "persistent_uv")
    second = mode_preview.preview(project, "active")
    outcomes = []

    def attempt(change):
        try:
            jobs.change_mode(change, change.file_hash, project, "someone")
            outcomes.append("written")
        except (modes.StaleEdit, JobError):
            outcomes.append("refused")

    threads = [threading.Thread(target=attempt, args=(c,)) for c in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    jobs.close()
    assert sorted(outcomes) == ["refused", "written"]
    text = path.read_text()
    tomllib.loads(text)
    assert "# keep me" in text and "# and me" in text
    recorded = sorted(job.status for job in jobs.history.list())
    assert recorded == ["failed", "succeeded"], "both attempts are in the history, with how they ended"


def test_a_mode_change_is_refused_while_another_process_holds_the_project(tmp_path, make_board):
    """`envboard sync` in a shell holds the project's lock: the server's mode change is refused."""
    project, path = project_with(tmp_path, '[tool.dg]\ndirectory_type = "project"\n')
    board, jobs = _jobs_for(tmp_path, make_board)
    try:
        with another_process_holds(tmp_path / "state" / "locks", project.path):
            before = path.read_bytes()
            change = mode_preview.preview(project, "persistent_uv")
            with pytest.raises(JobError, match="in progress"):
                jobs.change_mode(change, change.file_hash, project, "someone")
            assert path.read_bytes() == before, "nothing is written while another process holds the project"
    finally:
        jobs.close()
    jobs = JobManager(board, History(tmp_path / "state", tmp_path))
    change = mode_preview.preview(project, "persistent_uv")
    jobs.change_mode(change, change.file_hash, project, "someone")
    jobs.close()
    assert "persistent_uv" in path.read_text()


def test_unknown_target_is_refused(tmp_path):
    project, _ = project_with(tmp_path, '[tool.dg]\ndirectory_type = "project"\n')
    with pytest.raises(modes.ModeChangeError, match="unknown mode"):
        mode_preview.preview(project, "conda")
