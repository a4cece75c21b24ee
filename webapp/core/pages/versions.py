"""The Versions page's data: the matrix of packages by project, with the skew warnings.

The data of `/versions`, `/fragments/versions`, `/api/versions` and `envboard versions`.
The table itself is built in `inventory.py` from the snapshot alone; here it is built once per
snapshot version and filter, with the host's Dagster the skew rules compare against.
"""

from __future__ import annotations

from dataclasses import replace

from ..app import Envboard
from ..live.state import ProjectState
from ..upgrades.skew import dagster_in, host_environment, skew_warnings
from .inventory import VersionFilters, Versions, version_matrix


def versions(
    envboard: Envboard,
    filters: VersionFilters = VersionFilters(),  # noqa: B008 - frozen
    *,
    ask_index: bool = True,
) -> Versions:
    """The matrix of the monitor's snapshot; built once per snapshot version, outdated answers and
    filter. Its token grows with either: an answer that marks a cell newer reaches an open page.
    `ask_index=False` (the command line) marks from the cached answers and asks for none."""
    snapshot = envboard.monitor.snapshot
    board = envboard.board
    host = dagster_in(host_environment(board.workspace.root, board.active.venv))  # a folder listing
    states = list(snapshot.states)
    answers = envboard.outdated.generation
    return envboard.renders.get(
        ("versions", snapshot.version, answers, filters, host, ask_index),
        lambda: replace(
            version_matrix(states, filters),
            version=snapshot.version + answers,  # both only grow: their sum never repeats
            warnings=tuple(skew_warnings(states, host)),
            newer=newer_releases(envboard, states, ask_index),
        ),
    )


def newer_releases(
    envboard: Envboard, states: list[ProjectState], ask_index: bool = True
) -> dict[str, dict[str, str]]:
    """Per project, the packages whose installed version has a newer release on the project's own
    index: the cached outdated answers (a missing or expired one is asked in the background)."""
    found = {}
    for state in states:
        plugins = state.plugins
        if plugins is None or plugins.failure:
            continue
        installed = {package["name"]: package["version"] for package in plugins.packages}
        report = envboard.outdated.report(state.project, state.env, ask=ask_index)
        # an answer from before the environment changed marks only the versions it was about
        marks = {p.name: p.latest for p in report.packages if installed.get(p.name) == p.version}
        if marks:
            found[state.id] = marks
    return found
