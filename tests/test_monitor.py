"""The monitor re-reads only what changed, told by file-system events, and still sees everything."""

from __future__ import annotations

import time

import pytest

from tests.conftest import add_dependency, uv, wait_for, write_project, write_workspace
from webapp.core.app import Envboard
from webapp.core.settings import Settings


def _synced_workspace(tmp_path, wheelhouse, uv_bin):
    root = write_workspace(tmp_path / "ws", ["a", "b"])
    for name in ("a", "b"):
        write_project(
            root / name, name, mode="persistent_uv", dependencies=("dagster",), wheelhouse=wheelhouse
        )
        uv(uv_bin, "sync", cwd=root / name)
    return root


def _envboard(tmp_path, root, **settings) -> Envboard:
    envboard = Envboard(
        Settings(workspace=root, state_dir=tmp_path / "state", refresh_interval=0.2, **settings)
    )
    envboard.start()
    return envboard


def _settled(envboard: Envboard):
    def done():
        snapshot = envboard.monitor.snapshot
        ready = snapshot.states and all(
            s.status_name == "in_sync" and s.plugins is not None and not s.pending for s in snapshot.states
        )
        return snapshot if ready else None

    return wait_for(done, timeout=120)


def _count_wakes(monitor) -> list[int]:
    """How often the monitor's thread woke up and considered a pass, counted from now on."""
    wakes = [0]
    original = monitor._pass

    def counted():
        try:
            return original()
        finally:
            wakes[0] += 1

    monitor._pass = counted  # the thread looks it up on every wake
    return wakes


def test_an_edit_shows_from_its_event_alone_and_other_projects_are_not_read_again(
    tmp_path, wheelhouse, uv_bin
):
    root = _synced_workspace(tmp_path, wheelhouse, uv_bin)
    envboard = _envboard(tmp_path, root, full_refresh_interval=3600)  # no safety-net pass during the test
    try:
        before = _settled(envboard)
        assert envboard.monitor.watching
        add_dependency(root / "a", "acme-plugin", next(wheelhouse.glob("acme_plugin-*.whl")))
        changed = time.monotonic()
        after = wait_for(
            lambda: (
                envboard.monitor.snapshot.get("a").status_name == "out_of_sync" and envboard.monitor.snapshot
            ),
            timeout=10,
        )
        assert time.monotonic() - changed < 5
        assert after.get("b") is before.get("b")  # b's folder saw nothing: not one stat for it
        assert after.version > before.version
    finally:
        envboard.close()


@pytest.mark.slow
def test_an_idle_monitor_looks_at_nothing(tmp_path, wheelhouse, uv_bin):
    root = _synced_workspace(tmp_path, wheelhouse, uv_bin)
    envboard = _envboard(tmp_path, root, full_refresh_interval=3600)
    try:
        snapshot = _settled(envboard)
        monitor = envboard.monitor
        wakes = _count_wakes(monitor)
        # the last probe's own writes settle: five wakes in a row (a second) that looked at nothing
        quiet = {"since": 0, "passes": monitor.passes}

        def settled():
            if monitor.passes != quiet["passes"]:
                quiet.update(since=wakes[0], passes=monitor.passes)
            return wakes[0] - quiet["since"] >= 5

        wait_for(settled, timeout=30, interval=0.02)
        passes, version, start = monitor.passes, monitor.snapshot.version, wakes[0]
        wait_for(lambda: wakes[0] - start >= 7, timeout=30, interval=0.02)  # seven intervals
        assert monitor.passes == passes
        assert monitor.snapshot.version == version == snapshot.version
    finally:
        envboard.close()


def test_without_file_system_events_every_pass_reads_everything(tmp_path, wheelhouse, uv_bin):
    root = _synced_workspace(tmp_path, wheelhouse, uv_bin)
    envboard = _envboard(tmp_path, root, watch=False)
    try:
        _settled(envboard)
        assert not envboard.monitor.watching
        add_dependency(root / "b", "acme-plugin", next(wheelhouse.glob("acme_plugin-*.whl")))
        wait_for(lambda: envboard.monitor.snapshot.get("b").status_name == "out_of_sync", timeout=5)
    finally:
        envboard.close()


def test_a_project_added_to_the_workspace_appears(tmp_path, wheelhouse, uv_bin):
    root = _synced_workspace(tmp_path, wheelhouse, uv_bin)
    envboard = _envboard(tmp_path, root, full_refresh_interval=3600)
    try:
        _settled(envboard)
        write_project(root / "c", "c", mode="persistent_uv")
        write_workspace(root, ["a", "b", "c"])
        wait_for(lambda: envboard.monitor.snapshot.get("c") is not None, timeout=5)
    finally:
        envboard.close()
