"""Does each project load? What envboard says where no real dg can run (offline).

Real Dagster cannot be installed offline, and no stand-in could honestly play
`dg check defs`; the verdicts against real dg are in test_real_load_check.py. Here:
projects that cannot be loaded at all, as the overview, the JSON twins, /metrics and
`envboard check` tell them; a sync job's check cancelled midway, where a stand-in `dg`
plays only a check that takes its time (it decides nothing: the cancel ends it); and the
verdict shown before the definitions are counted, where a stand-in plays a listing that
takes its time.
"""

import json
import os
import re
from pathlib import Path

import pytest

from tests.conftest import build_stand_in_dg, core, wait_for, write_project, write_workspace
from tests.test_cli import envboard
from tests.test_shared import linked_beta
from webapp.core.jobs.history import History
from webapp.core.jobs.manager import JobManager

SLOW_DG = """
import os, sys, time

def main():
    if sys.argv[1:3] == ["list", "defs"]:
        print("{{}}")
        return 0
    print("checking the definitions", flush=True)
    with open({started!r}, "a") as said:
        said.write(str(os.getpid()) + "\\n")
    deadline = time.time() + 120  # until the test releases it, at most two minutes
    while time.time() < deadline and not os.path.exists({release!r}):
        time.sleep(0.05)
    print("All definitions loaded successfully.", flush=True)
    return 0
"""

SLOW_LISTING = """
import json, os, sys, time

def main():
    with open({niceness!r}, "a") as said:
        said.write(" ".join(sys.argv[1:3]) + "=" + str(os.nice(0)) + "\\n")
    if sys.argv[1:3] == ["check", "defs"]:
        print("All definitions loaded successfully.", flush=True)
        return 0
    deadline = time.time() + 120  # until the test releases it, at most two minutes
    while time.time() < deadline and not os.path.exists({release!r}):
        time.sleep(0.05)
    print(json.dumps({{"assets": [{{"key": "orders"}}, {{"key": "revenue"}}], "jobs": [{{"name": "daily"}}]}}))
    return 0
"""


def _slow_listing_project(folder: Path, tmp_path: Path) -> tuple[Path, Path, Path]:
    """A persistent_uv project whose stand-in dg says at once that it loads and lists its
    definitions only once the test touches `release`; each command writes its niceness to
    `niceness`. Returns the project's folder, `niceness` and `release`."""
    niceness, release = tmp_path / "niceness", tmp_path / "listing-release"
    wheels = tmp_path / "wheels"
    source = SLOW_LISTING.format(niceness=str(niceness), release=str(release))
    dependencies = build_stand_in_dg(wheels, "slow-listing-dg", source)
    project_dir = write_project(
        folder, "p", mode="persistent_uv", dependencies=dependencies, wheelhouse=wheels
    )
    return project_dir, niceness, release


def _workspace(tmp_path):
    root = write_workspace(tmp_path / "ws", ["plain", "broken"])
    write_project(root / "plain", "plain", mode="persistent_uv")
    broken = write_project(root / "broken", "broken")
    (broken / "pyproject.toml").write_text('[tool.dg]\ndirectory_type = "project"\n[tool.dg.project\n')
    return root


def test_the_command_line_fails_a_project_whose_config_cannot_be_read_with_its_location(tmp_path):
    root = _workspace(tmp_path)
    result = envboard("check", "--json", "--workspace", str(root), "--state-dir", str(tmp_path / "s"))
    assert result.returncode == 1, result.stderr
    by_id = {p["id"]: p for p in json.loads(result.stdout)["projects"]}
    assert set(by_id) == {"plain", "broken"}
    broken = by_id["broken"]
    assert broken["loads"] is False and broken["definitions"] is None
    assert broken["error"]["file"] == str(root / "broken" / "pyproject.toml")
    assert broken["error"]["line"] == 3
    # no environment yet: nothing to load it in, which is neither a pass nor a failure
    assert by_id["plain"]["loads"] is None and by_id["plain"]["error"] is None
    assert set(by_id["plain"]) == {"id", "name", "loads", "error", "definitions", "checked_at_iso"}


def test_the_command_line_passes_when_nothing_fails_and_says_what_it_could_not_check(tmp_path):
    root = write_workspace(tmp_path / "ws", ["plain"])
    write_project(root / "plain", "plain", mode="persistent_uv")
    result = envboard("check", "plain", "--workspace", str(root), "--state-dir", str(tmp_path / "s"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("plain: not checked (no environment at ")
    assert "envboard: plain was not checked" in result.stderr


def test_the_overview_and_the_json_twins_say_why_a_project_is_not_checked(tmp_path, make_app):
    root = _workspace(tmp_path)
    client = make_app(root).test_client()
    page = client.get("/").get_data(as_text=True)
    assert '<th scope="col">Loads</th>' in page
    cells = dict(re.findall(r'id="project-(\w+)".*?data-check="(\w+)"', page, re.S))
    assert cells == {"plain": "not_applicable", "broken": "not_applicable"}
    check = client.get("/api/projects/plain").get_json()["definitions_check"]
    assert check["status"] == "not_applicable" and check["loads"] is None
    assert check["why"].startswith("no environment at ")
    twin = client.get("/api/projects/plain/definitions").get_json()
    assert twin["status"] == "not_applicable" and twin["keys"] == {}
    section = client.get("/projects/plain/fragments/definitions").get_data(as_text=True)
    assert "not applicable" in section and "no environment at" in section
    assert "Check unavailable: there is no environment yet" in section  # as Refresh plugins says
    # nothing checked, nothing claimed: no loads gauge for either
    assert "envboard_project_loads{" not in client.get("/metrics").get_data(as_text=True)


def test_check_and_check_all_are_posts_with_the_csrf_token(tmp_path, make_app):
    root = _workspace(tmp_path)
    client = make_app(root).test_client()
    page = client.get("/").get_data(as_text=True)
    assert 'id="check-all"' in page
    token = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
    assert client.post("/projects/plain/check").status_code == 403
    assert client.post("/check-all").status_code == 403
    checked = client.post("/projects/plain/check", data={"csrf_token": token})
    assert checked.status_code == 303 and checked.headers["Location"].endswith("/projects/plain")
    refused = client.post("/projects/broken/check", headers={"X-CSRF-Token": token, "HX-Request": "1"})
    assert refused.status_code == 409 and "config has an error" in refused.get_data(as_text=True)
    assert client.post("/check-all", data={"csrf_token": token}).status_code == 303


def test_the_bytecode_a_check_leaves_behind_does_not_make_its_answer_stale(tmp_path, make_board):
    """A check runs the project's code, which writes `__pycache__` folders (and dg, without
    DAGSTER_HOME, a `.tmp_dagster_home_*`): that alone must not ask for the check again, while
    a new module must."""
    from webapp.core.disk.cache import stamp_all
    from webapp.core.probe.loadcheck import dependencies

    root = write_workspace(tmp_path / "ws", ["p"])
    write_project(root / "p", "p")
    source = root / "p" / "src" / "p"
    source.mkdir(parents=True)
    (source / "__init__.py").write_text("")
    board = make_board(root)
    project = board.workspace.projects[0]
    env = board.resolve(project)
    before = stamp_all(dependencies(project, env))
    (source / "__pycache__").mkdir()
    (root / "p" / ".tmp_dagster_home_x1").mkdir()
    assert stamp_all(dependencies(project, env)) == before
    (source / "assets.py").write_text("")
    assert stamp_all(dependencies(project, env)) != before


def test_the_bytecode_of_an_environment_s_first_import_does_not_make_answers_stale(tmp_path):
    """Importing top-level modules writes `site-packages/__pycache__` the first time (when
    bytecode is written at all): what is installed has not changed, so neither has its stamp."""
    from webapp.core.disk.cache import site_packages_stamp

    site = tmp_path / "site-packages"
    site.mkdir()
    (site / "six.py").write_text("")
    (site / "six-1.16.0.dist-info").mkdir()
    before = site_packages_stamp(site)
    (site / "__pycache__").mkdir()
    assert site_packages_stamp(site) == before
    (site / "idna").mkdir()  # a package installed by hand
    assert site_packages_stamp(site) != before


def _shows_soon(log: Path, words: str) -> bool:
    """Whether the log shows `words` within a few seconds (kept as a fact, asserted at the end)."""
    try:
        return bool(wait_for(lambda: words in log.read_text(), timeout=10))
    except AssertionError:
        return False


def test_a_cancel_during_a_syncs_load_check_ends_it_and_is_no_verdict(tmp_path, make_board):
    """The sync changed the environment, then the check was cancelled: the job says both, the
    check decided nothing (not "fails"), no verdict is cached; the check's command line is in
    the log as it starts, its output as it comes."""
    started, release = tmp_path / "dg-started", tmp_path / "dg-release"
    wheels = tmp_path / "wheels"
    dependencies = build_stand_in_dg(
        wheels, "slow-dg", SLOW_DG.format(started=str(started), release=str(release))
    )
    project_dir = write_project(
        tmp_path / "p", "p", mode="persistent_uv", dependencies=dependencies, wheelhouse=wheels
    )
    board = make_board(project_dir)  # no monitor: the job's check is the only one
    jobs = JobManager(board, History(tmp_path / "state", board.workspace.root))
    try:
        project = board.workspace.projects[0]
        record, _ = jobs.sync(project, "alice")
        log = Path(record.log_path)
        wait_for(started.exists, timeout=120)
        said_at_start = log.read_text()
        streamed = _shows_soon(log, "checking the definitions")
        jobs.cancel(record.id, "alice")
        final = jobs.wait(record.id, timeout=60)
    finally:
        release.touch()
        jobs.close()
    text = log.read_text()
    assert (final.status, final.message) == ("cancelled", "synced; the definitions check was cancelled"), text
    check = final.detail["load_check"]
    assert check["status"] == "not_checked" and check["loads"] is None and check["error"] is None
    assert final.lock_after  # the sync itself finished: the environment changed
    assert board.definitions.cached(project, board.resolve(project)) is None
    assert "All definitions loaded successfully." not in text
    assert "definitions: not checked (the check was cancelled" in text
    # the command line was in the log when dg started, and its output streamed while it ran
    assert "--no-sync dg check defs\n" in said_at_start, said_at_start
    assert streamed


@pytest.mark.slow
def test_the_verdict_shows_as_dg_gives_it_and_the_counts_follow_when_listed(tmp_path, make_app):
    """dg's check is the verdict: the overview says "loads" as soon as it has said so, while the
    listing (a second load of the definitions, only to count them) still runs below it; the
    counts replace "counting" when it ends, and only the whole answer is stored."""
    from webapp.core.probe.loadcheck import CHECK_NICENESS, LISTING_NICENESS, cache_key

    root = write_workspace(tmp_path / "ws", ["p"])
    _, niceness, release = _slow_listing_project(root / "p", tmp_path)
    app = make_app(root)
    board = core(app).board
    client = app.test_client()
    try:
        record, _ = core(app).jobs.sync(board.workspace.projects[0], "alice")  # makes the environment
        release.touch()  # the sync's own check lists at once
        assert core(app).jobs.wait(record.id, timeout=120).status == "succeeded"
        release.unlink()
        project = board.workspace.projects[0]
        (root / "p" / "defs.py").write_text("# a change to the sources: checked again\n")

        def row() -> str:
            core(app).monitor.refresh()
            return client.get("/").get_data(as_text=True)

        page = wait_for(lambda: (text := row()) and "counting definitions" in text and text)
        assert re.search(r'data-check="loads"', page), page
        twin = client.get("/api/projects/p/definitions").get_json()
        assert (twin["status"], twin["loads"], twin["counting"], twin["definitions"]) == (
            "loads",
            True,
            True,
            None,
        )
        section = client.get("/projects/p/fragments/definitions").get_data(as_text=True)
        assert "Counting the definitions" in section and "data-poll" in section
        env = board.resolve(project)
        key = cache_key(project, env, board.definitions.plan(project, env))
        assert board.definitions.cache.load(f"defs:{project.path}", key) is None  # nothing stored yet
    finally:
        release.touch()
    page = wait_for(lambda: (text := row()) and "2 assets" in text and text)
    assert "counting definitions" not in page
    twin = client.get("/api/projects/p/definitions").get_json()
    assert (twin["counting"], twin["definitions"]["assets"], twin["definitions"]["jobs"]) == (False, 2, 1)
    assert board.definitions.cache.load(f"defs:{project.path}", key)["definitions"]["assets"] == 2
    ran = niceness.read_text().split()
    assert f"check defs={CHECK_NICENESS}" in " ".join(ran) and f"list defs={LISTING_NICENESS}" in " ".join(
        ran
    )


def test_a_cancel_while_the_definitions_are_counted_keeps_no_answer_without_its_counts(tmp_path, make_board):
    """dg's check said it loads and the job's log says so; a Cancel while `dg list defs` counts
    ends the listing: the job is cancelled, and nothing is stored that would lack its counts."""
    project_dir, _, release = _slow_listing_project(tmp_path / "p", tmp_path)
    board = make_board(project_dir)
    jobs = JobManager(board, History(tmp_path / "state", board.workspace.root))
    try:
        project = board.workspace.projects[0]
        record, _ = jobs.sync(project, "alice")
        log = Path(record.log_path)
        wait_for(lambda: "counting the definitions" in log.read_text(), timeout=120)
        jobs.cancel(record.id, "alice")
        final = jobs.wait(record.id, timeout=60)
    finally:
        release.touch()
        jobs.close()
    assert (final.status, final.message) == ("cancelled", "synced; the definitions check was cancelled")
    assert board.definitions.cached(project, board.resolve(project)) is None


def test_the_dagster_homes_of_a_killed_server_are_removed_by_the_next(tmp_path):
    """A server killed (SIGKILL, the box rebooted into a kept /tmp) cannot remove its homes, which
    hold Dagster's SQLite storage: the next server's first home removes them, not a live one's."""
    import signal
    import subprocess
    import sys

    from webapp.core.disk.scratch import ScratchRoot
    from webapp.core.environments.confinement import NOT_CONFINED
    from webapp.core.probe.homes import DagsterHomes
    from webapp.core.workspace.scan import scan_workspace

    root = write_workspace(tmp_path / "ws", ["p"])
    write_project(root / "p", "p")
    project = scan_workspace(root).projects[0]
    base = tmp_path / "tmp"
    base.mkdir()
    lends = (
        "import sys; from pathlib import Path\n"
        "from webapp.core.disk.scratch import ScratchRoot\n"
        "from webapp.core.environments.confinement import NOT_CONFINED\n"
        "from webapp.core.probe.homes import DagsterHomes\n"
        "from webapp.core.workspace.scan import scan_workspace\n"
        f"project = scan_workspace(Path({str(root)!r})).projects[0]\n"
        f"with DagsterHomes(NOT_CONFINED, ScratchRoot(Path({str(base)!r}))).lend(project, 'env') as home:\n"
        "    print(home, flush=True); sys.stdin.read()\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    server = subprocess.Popen(
        [sys.executable, "-c", lends], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
    )
    killed_home = Path(server.stdout.readline().strip())
    server.send_signal(signal.SIGKILL)
    server.wait(timeout=60)
    assert (killed_home / "dagster.yaml").is_file()  # left behind
    live = DagsterHomes(NOT_CONFINED, ScratchRoot(base))
    later = DagsterHomes(NOT_CONFINED, ScratchRoot(base))
    try:
        with live.lend(project, "env") as live_home:
            pass
        with later.lend(project, "env") as home:
            assert not killed_home.exists()
            assert live_home.is_dir() and home.parent != live_home.parent  # a live server's are kept
    finally:
        live.scratch.remove()
        later.scratch.remove()


def _synced_with_a_slow_listing(tmp_path, make_board):
    """A project synced with a stand-in dg whose listing waits for `release`, its sources then
    changed: the next check runs again, and its counts wait until the test releases them."""
    project_dir, _, release = _slow_listing_project(tmp_path / "p", tmp_path)
    board = make_board(project_dir)
    jobs = JobManager(board, History(tmp_path / "state", board.workspace.root))
    project = board.workspace.projects[0]
    release.touch()  # the sync's own check lists at once
    try:
        record, _ = jobs.sync(project, "alice")  # makes the environment
        assert jobs.wait(record.id, timeout=120).status == "succeeded"
    finally:
        jobs.close()
    release.unlink()
    (project_dir / "defs.py").write_text("# a change to the sources: checked again\n")
    return board, project, release


def test_a_check_that_ends_while_another_counts_leaves_the_others_verdict_shown(tmp_path, make_board):
    """A sync's check and a background one of the same project can both be counting at once: the
    one cancelled first must not take the other's verdict with it (the overview would fall back
    to "not checked" until the other's counts are in)."""
    import threading

    from webapp.core.environments.processes import Cancellation

    board, project, release = _synced_with_a_slow_listing(tmp_path, make_board)
    env = board.resolve(project)
    syncs, told = Cancellation(), [threading.Event(), threading.Event()]
    checks = [
        threading.Thread(
            target=board.definitions.check, args=(project, env, syncs, None, lambda _: told[0].set())
        ),
        threading.Thread(
            target=board.definitions.check, args=(project, env, None, None, lambda _: told[1].set())
        ),
    ]
    try:
        for check in checks:
            check.start()
        wait_for(lambda: all(event.is_set() for event in told), timeout=120)
        syncs.cancel()  # the sync's check ends; the background one still counts
        checks[0].join(timeout=60)
        shown = board.definitions.cached(project, env)
        assert shown is not None and (shown.status, shown.counting) == ("loads", True)
    finally:
        release.touch()
        for check in checks:
            check.join(timeout=120)
    shown = board.definitions.cached(project, env)
    assert (shown.counting, shown.definitions["assets"]) == (False, 2)


def test_a_source_saved_while_the_definitions_are_counted_makes_the_verdict_shown_stale(tmp_path, make_board):
    """dg's check said it loads, then a file was saved (a fix, or a new break) while the listing
    counts: the verdict shown is no longer the project's, as a stored one would not be; the
    overview says "checking" (the check under way is followed by a new one), not "loads"."""
    board, project, release = _synced_with_a_slow_listing(tmp_path, make_board)
    env = board.resolve(project)
    try:
        running = board.submit_check(project, env, "envboard (what it depends on changed)")
        shown = wait_for(lambda: board.definitions.cached(project, env), timeout=120)
        assert (shown.status, shown.counting) == ("loads", True)
        assert board.state(project).check_status == "loads"
        assert board.submit_check(project, env, "alice") is running  # Check pressed: joined, still "loads"
        assert board.state(project).check_status == "loads"
        (project.path / "defs.py").write_text("raise ImportError('saved while counting')\n")
        assert board.definitions.cached(project, env) is None
        assert board.state(project).check_status == "checking"
    finally:
        release.touch()
    running.result(timeout=120)
    assert board.definitions.cached(project, env) is None  # its answer, stored, is stale too


def test_a_listing_that_times_out_stores_no_verdict_without_its_counts(tmp_path, make_board, monkeypatch):
    """The listing runs at the lowest priority, so on a busy machine it is the one to time out:
    that is no answer about the counts, and it is not stored as if the project had none (a
    cancelled listing is not either); a later check counts them."""
    from webapp.core.probe import loadcheck

    board, project, release = _synced_with_a_slow_listing(tmp_path, make_board)
    monkeypatch.setattr(loadcheck, "LISTING_TIMEOUT", 1.0)
    env = board.resolve(project)
    try:
        verdict = board.definitions.check(project, env)
    finally:
        release.touch()
    assert (verdict.status, verdict.definitions, verdict.ran) == ("loads", None, False)
    assert board.definitions.cached(project, env) is None


@pytest.mark.slow  # it waits for a listing to time out
def test_a_check_that_timed_out_is_not_started_again_at_once(tmp_path, make_board, monkeypatch):
    """A check that ran out of time is remembered a while from when it ended: the next look shows
    it instead of starting the same check again (counted from its start, one that took longer
    than that while was never remembered, and ran over and over)."""
    from webapp.core.live import board as board_module
    from webapp.core.probe import loadcheck

    board, project, release = _synced_with_a_slow_listing(tmp_path, make_board)
    monkeypatch.setattr(loadcheck, "LISTING_TIMEOUT", 3.0)
    # remembered for less time than a check may take, as the real ones are (60 s against 300 s)
    monkeypatch.setattr(board_module, "FAILED_PROBE_RETRY", 1.5)
    try:
        board.state(project)  # the monitor's look: the check starts in the background
        wait_for(lambda: not board.is_checking(project) and project.path in board._check_failures)
        again = board.state(project)
    finally:
        release.touch()
    assert not again.checking and again.check is not None and not again.check.ran


def test_a_syncs_verdict_shows_on_the_overview_while_its_definitions_are_counted(tmp_path, make_app):
    """The sync's own check gives its verdict before its listing ends, as a background one does:
    the overview's monitor is told (no file changes then), the job still running."""
    root = write_workspace(tmp_path / "ws", ["p"])
    _, niceness, release = _slow_listing_project(root / "p", tmp_path)
    app = make_app(root)
    jobs, monitor = core(app).jobs, core(app).monitor
    try:
        record, _ = jobs.sync(core(app).board.workspace.projects[0], "alice")
        wait_for(lambda: "counting the definitions" in Path(record.log_path).read_text(), timeout=120)

        def counting():
            state = monitor.snapshot.get("p")
            return state is not None and state.check is not None and state.check.counting

        wait_for(counting, timeout=20)  # the monitor's own passes, every 0.2 s here
        assert jobs.history.get(record.id).status == "running"
    finally:
        release.touch()
    assert jobs.wait(record.id, timeout=120).status == "succeeded"


def test_a_projects_dagster_home_is_kept_while_what_is_installed_stays_the_same(tmp_path):
    """Dagster's storage in a home is of its version's schema: after an upgrade or a rollback the
    project's next check gets a new home (an older Dagster may not open a newer one's storage),
    and the homes of the environment before are removed, the one in use when it ends."""
    from webapp.core.disk.scratch import ScratchRoot
    from webapp.core.environments.confinement import NOT_CONFINED
    from webapp.core.probe.homes import DagsterHomes
    from webapp.core.workspace.scan import scan_workspace

    root = write_workspace(tmp_path / "ws", ["p"])
    write_project(root / "p", "p")
    project = scan_workspace(root).projects[0]
    homes = DagsterHomes(NOT_CONFINED, ScratchRoot(tmp_path))
    try:
        with homes.lend(project, "dagster 1.11") as first:
            (first / "history").mkdir()  # what Dagster makes there the first time
        with homes.lend(project, "dagster 1.11") as again:
            assert again == first and (again / "history").is_dir()
            with homes.lend(project, "dagster 1.10") as rolled_back:  # a rollback while it runs
                assert rolled_back != first and not (rolled_back / "history").exists()
        assert not first.exists()  # handed back after the change: removed, not kept
        with homes.lend(project, "dagster 1.10") as later:
            assert later == rolled_back
        with homes.lend(project, "dagster 1.11"):
            assert not rolled_back.exists()
    finally:
        homes.remove()


def test_a_listener_that_fails_on_the_verdict_leaves_no_counting_behind(tmp_path, make_board):
    """Whoever is told of the early verdict (the board, a job's log) may fail: the check ends
    with that error, and the project is not shown as "counting" for good."""
    board, project, release = _synced_with_a_slow_listing(tmp_path, make_board)
    env = board.resolve(project)

    def failing(_):
        raise RuntimeError("the listener failed")

    try:
        with pytest.raises(RuntimeError):
            board.definitions.check(project, env, on_verdict=failing)
    finally:
        release.touch()
    assert board.definitions.cached(project, env) is None


def test_a_look_during_a_sync_starts_no_check_beside_the_syncs_own(tmp_path, make_app):
    """The overview is looked at while a sync runs (the environment changed under it): the job
    checks the definitions at its end, so no background check runs beside it (a second
    `dg check defs` on a half-installed environment, and a second line in the history), nor
    after it: the job's verdict is the one shown."""
    started, release = tmp_path / "dg-started", tmp_path / "dg-release"
    wheels = tmp_path / "wheels"
    dependencies = build_stand_in_dg(
        wheels, "slow-dg", SLOW_DG.format(started=str(started), release=str(release))
    )
    root = write_workspace(tmp_path / "ws", ["p"])
    write_project(root / "p", "p", mode="persistent_uv", dependencies=dependencies, wheelhouse=wheels)
    app = make_app(root)
    jobs, monitor = core(app).jobs, core(app).monitor
    project = core(app).board.workspace.projects[0]
    try:
        record, _ = jobs.sync(project, "alice")
        wait_for(started.exists, timeout=120)  # the job's own check, after uv sync made the environment
        looked = monitor.refresh().get("p")  # a look at every project, as the monitor's passes make
        assert looked.check_status == "checking" and jobs.history.get(record.id).status == "running"
        # nor does a press of Check or Check all: there is no verdict to give on it yet
        client = app.test_client()
        token = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/").get_data(as_text=True))
        headers = {"X-CSRF-Token": token.group(1), "HX-Request": "1"}
        page = client.get("/projects/p").get_data(as_text=True)
        assert "Check unavailable: a job is changing its environment; it is checked once" in page
        why = client.get("/api/projects/p/definitions").get_json()["why"]
        assert why == "a job is changing its environment: it is checked once the job has ended"
        pressed = client.post("/projects/p/check", headers=headers)
        assert pressed.status_code == 409
        assert "a job is changing the environment it runs in" in pressed.get_data(as_text=True)
        assert 'id="definitions"' in pressed.get_data(as_text=True)  # the section stays, saying why
        everything = client.post(
            "/check-all", headers={"X-CSRF-Token": token.group(1)}, follow_redirects=True
        )
        assert "Nothing checked now. Not p: a job is changing" in everything.get_data(as_text=True)
    finally:
        release.touch()
    assert jobs.wait(record.id, timeout=120).status == "succeeded"
    assert monitor.refresh().get("p").check_status == "loads"  # the job's verdict: nothing to start
    assert len(started.read_text().split()) == 1  # one `dg check defs`: the job's
    assert [job.action for job in jobs.history.list("p")] == ["sync"]


GATED_DG = """
import os, sys, time

def main():
    if sys.argv[1:3] == ["list", "defs"]:
        print("{{}}")
        return 0
    project = os.path.basename(os.getcwd())  # run from the project's root
    with open({started!r}, "a") as said:
        said.write(project + "\\n")
    deadline = time.time() + 120  # until the test opens the project's gate, at most two minutes
    while time.time() < deadline and not os.path.exists(os.path.join({gates!r}, project)):
        time.sleep(0.05)
    print("All definitions loaded successfully.", flush=True)
    return 0
"""


def test_a_check_queued_before_a_sync_is_dropped_for_the_syncs_own(tmp_path, make_app):
    """p's background check waits behind q's (one check at a time) when p's sync starts: the
    sync checks p itself, so the queued one never runs, beside the job or after it."""
    started, gates = tmp_path / "started", tmp_path / "gates"
    gates.mkdir()
    wheels = tmp_path / "wheels"
    dependencies = build_stand_in_dg(
        wheels, "gated-dg", GATED_DG.format(started=str(started), gates=str(gates))
    )
    root = write_workspace(tmp_path / "ws", ["p", "q"])
    for name in ("p", "q"):
        write_project(root / name, name, mode="persistent_uv", dependencies=dependencies, wheelhouse=wheels)
        (gates / name).touch()
    app = make_app(root)
    jobs, monitor, board = core(app).jobs, core(app).monitor, core(app).board
    p, q = board.project("p"), board.project("q")
    for project in (p, q):  # each sync checks its project: both gates are open
        record, _ = jobs.sync(project, "alice")
        assert jobs.wait(record.id, timeout=120).status == "succeeded"
    assert started.read_text().split() == ["p", "q"]
    (gates / "q").unlink()
    try:
        (root / "q" / ".env").write_text("CHANGED=1\n")  # q's check starts and holds the pool
        monitor.refresh()
        wait_for(lambda: started.read_text().split() == ["p", "q", "q"], timeout=60)
        (root / "p" / ".env").write_text("CHANGED=1\n")
        monitor.refresh()
        assert board.is_checking(p)  # queued behind q's
        record, _ = jobs.sync(p, "alice")
        assert jobs.wait(record.id, timeout=120).status == "succeeded"
        assert not board.is_checking(p)
    finally:
        (gates / "q").touch()
    wait_for(lambda: not board.is_checking(q) and not board.is_checking(p), timeout=60)
    assert monitor.refresh().get("p").check_status == "loads"
    assert started.read_text().split() == ["p", "q", "q", "p"]  # the second p: the sync's own
    assert [job.action for job in jobs.history.list("p")] == ["sync", "sync"]


def test_a_job_holds_the_looks_at_every_project_sharing_its_environment(uv_workspace, wheelhouse, make_board):
    """beta's `.venv` is alpha's: while a job changes it for alpha, a look at beta starts
    nothing either; once the job lets go, the look at beta probes it."""
    root = write_workspace(uv_workspace, ["projects/alpha", "projects/beta"])
    linked_beta(root, wheelhouse)
    board = make_board(root)
    alpha_project, beta_project = board.project("projects-alpha"), board.project("projects-beta")
    with board.changing(alpha_project):
        during = board.state(beta_project)
        assert board.is_changing(beta_project) and during.plugins is None and during.pending
        assert not board.is_busy(beta_project) and not board.is_checking(beta_project)  # nothing started
        assert board.refresh_plugins(beta_project) is None  # nor by a press of Refresh: the job probes
        env = board.resolve(alpha_project)
        assert board.check_status_soon(alpha_project, env) is None
        assert board.check_status_soon(alpha_project, env, by_job=True) is not None  # the job's own
    assert not board.is_changing(beta_project)
    assert wait_for(lambda: board.state(beta_project).plugins, timeout=60)  # its look now probes it
