"""The Versions page's data: the matrix of packages by project, with the skew warnings.

The data of `/versions`, `/fragments/versions`, `/api/versions` and `envboard versions`.
The table itself is built in `inventory.py` from the snapshot alone; here it is built once per
snapshot version and filter, with the host's Dagster the skew rules compare against.
"""

from __future__ import annotations

from dataclasses import replace

from ..app import Envboard
from ..upgrades.skew import dagster_in, host_environment, skew_warnings
from .inventory import VersionFilters, Versions, version_matrix


def versions(envboard: Envboard, filters: VersionFilters = VersionFilters()) -> Versions:  # noqa: B008
    """The matrix of the monitor's snapshot; built once per snapshot version and filter."""
    snapshot = envboard.monitor.snapshot
    board = envboard.board
    host = dagster_in(host_environment(board.workspace.root, board.active.venv))  # a folder listing
    states = list(snapshot.states)
    return envboard.renders.get(
        ("versions", snapshot.version, filters, host),
        lambda: replace(
            version_matrix(states, filters),
            version=snapshot.version,
            warnings=tuple(skew_warnings(states, host)),
        ),
    )
