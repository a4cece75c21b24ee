"""The files jobs keep for "Roll back": stored once per content, pruned by the retention rule.

Real syncs with real uv on a local wheelhouse: every sync keeps pyproject.toml and uv.lock;
identical contents are one file on disk however many jobs keep them; the files of jobs
beyond the last N of a project and older than the days are removed when a job ends and
when a server starts, and History then says so instead of offering the rollback.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import core, wait_for
from webapp.core.app import Envboard
from webapp.core.jobs.errors import JobError
from webapp.core.jobs.kept import STORE, kept_dir, kept_files
from webapp.core.settings import Settings
from webapp.core.upgrades.apply import start_rollback

pytestmark = pytest.mark.slow


def synced(envboard: Envboard, times: int, between=None) -> list[str]:
    """Run `times` syncs of the workspace's project one after the other; their job ids, oldest first."""
    project = envboard.board.workspace.projects[0]
    ids = []
    for turn in range(times):
        if between is not None:
            between(turn)
        record, _ = envboard.jobs.sync(project, "ann")
        final = envboard.jobs.wait(record.id, timeout=120)
        assert final.status == "succeeded", Path(final.log_path).read_text()
        wait_for(lambda: envboard.jobs.active_job(project.id) is None)  # the next sync must not join it
        ids.append(record.id)
    return ids


def kept_ids(envboard: Envboard, ids: list[str]) -> list[str]:
    return [i for i in ids if kept_dir(envboard.jobs.get(i).log_path).is_dir()]


def stored(state: Path) -> list[Path]:
    return sorted(p for p in (state / "logs" / STORE).iterdir() if not p.name.startswith("."))


def test_a_project_keeps_the_files_of_its_last_jobs_each_content_once(tmp_path, uv_workspace):
    state = tmp_path / "state"
    settings = Settings(workspace=uv_workspace, state_dir=state, kept_jobs=2, kept_days=0)
    envboard = Envboard(settings)
    try:
        ids = synced(envboard, 4)
        # at each job's end the older ones beyond the last two were pruned
        assert kept_ids(envboard, ids) == ids[-2:]
        # nothing changed between the syncs: two files each, one copy of each content on disk
        assert len(stored(state)) == 2
        copies = [f.copy for i in ids[-2:] for f in kept_files(envboard.jobs.get(i).log_path)]
        assert len(copies) == 4 and len({c.stat().st_ino for c in copies}) == 2
        with pytest.raises(JobError, match="no longer kept .*the last 2 jobs of each project"):
            start_rollback(envboard.jobs, ids[0], "ann")
    finally:
        envboard.close()

    from webapp.web import create_app

    app = create_app({"ENVBOARD_SETTINGS": settings, "TESTING": True})
    try:
        client = app.test_client()
        page = client.get("/history").get_data(as_text=True)
        for job_id in ids[-2:]:
            assert f'action="/jobs/{job_id}/rollback"' in page
        for job_id in ids[:2]:
            assert f'action="/jobs/{job_id}/rollback"' not in page
        assert page.count("files no longer kept") == 2
        listed = {job["id"]: job["files_kept"] for job in client.get("/api/jobs").get_json()["jobs"]}
        assert [listed[i] for i in ids] == [False, False, True, True]
    finally:
        core(app).close()


def test_young_jobs_stay_kept_beyond_the_count(tmp_path, uv_workspace):
    settings = Settings(workspace=uv_workspace, state_dir=tmp_path / "state", kept_jobs=1, kept_days=14)
    envboard = Envboard(settings)
    try:
        ids = synced(envboard, 3)
        assert kept_ids(envboard, ids) == ids
    finally:
        envboard.close()


def test_a_starting_server_prunes_what_a_tighter_retention_no_longer_covers(tmp_path, uv_workspace):
    state = tmp_path / "state"
    pyproject = uv_workspace / "projects" / "alpha" / "pyproject.toml"

    def edit(turn: int) -> None:  # each job keeps a pyproject.toml of its own
        pyproject.write_text(pyproject.read_text() + f"# turn {turn}\n")

    envboard = Envboard(Settings(workspace=uv_workspace, state_dir=state))
    try:
        ids = synced(envboard, 3, between=edit)
        assert kept_ids(envboard, ids) == ids  # the default keeps them all (young, and fewer than 20)
        assert len(stored(state)) == 4  # three pyproject.toml contents and one uv.lock
    finally:
        envboard.close()

    tighter = Envboard(Settings(workspace=uv_workspace, state_dir=state, kept_jobs=1, kept_days=0))
    try:
        tighter.start()
        assert kept_ids(tighter, ids) == ids[-1:]
        # only what the kept job links to is left in the store
        assert len(stored(state)) == 2
        assert [f.copy.read_bytes() for f in kept_files(tighter.jobs.get(ids[-1]).log_path)][0].endswith(
            b"# turn 2\n"
        )
    finally:
        tighter.close()
