"""Projects whose code runs in one environment: a `.venv` linked to another project's. Both
say so, with what a sync of one would remove from the other (uv's own plan); such a sync
asks first; the Versions matrix counts that environment once. Real uv, real links."""

import re
from pathlib import Path

from tests.conftest import build_wheel, install_by_hand, uv, wait_for, write_project, write_workspace


def linked_beta(root: Path, wheelhouse: Path) -> Path:
    """projects/beta of the workspace, its `.venv` a link to projects/alpha's (a real uv's)."""
    beta = write_project(
        root / "projects" / "beta",
        "beta",
        mode="persistent_uv",
        dependencies=("dagster",),
        wheelhouse=wheelhouse,
    )
    (beta / ".venv").symlink_to(root / "projects" / "alpha" / ".venv")
    return beta


def token(client) -> str:
    return re.search(r'name="csrf-token" content="([^"]+)"', client.get("/").get_data(as_text=True)).group(1)


def test_a_venv_linked_to_another_project_s_is_shared_on_both_and_a_sync_asks_first(
    uv_workspace, wheelhouse, uv_bin, make_app
):
    root = write_workspace(uv_workspace, ["projects/alpha", "projects/beta"])
    alpha = root / "projects" / "alpha"
    beta = linked_beta(root, wheelhouse)
    uv(uv_bin, "lock", "--offline", cwd=beta)
    client = make_app(root).test_client()

    def known(project_id: str):
        data = client.get(f"/api/projects/{project_id}").get_json()
        env = data["environment"]
        return data if env and env["status"] not in ("checking",) and not data["pending"] else None

    beta_data = wait_for(lambda: known("projects-beta"))
    assert beta_data["environment"]["shared_with"] == [{"id": "projects-alpha", "name": "alpha"}]
    # beta's lock lacks alpha's plugin: uv's plan for beta removes it from the shared environment
    assert "acme-plugin" in beta_data["environment"]["sync_removes_from_shared"]
    alpha_data = wait_for(lambda: known("projects-alpha"))
    assert alpha_data["environment"]["shared_with"] == [{"id": "projects-beta", "name": "beta"}]
    page = client.get("/projects/projects-beta").get_data(as_text=True)
    assert 'name="confirm_shared"' in page and "would remove" in page

    refused = client.post("/projects/projects-beta/sync", headers={"X-CSRF-Token": token(client)})
    assert refused.status_code == 409
    assert "shared with alpha" in refused.get_data(as_text=True)
    site = next((alpha / ".venv" / "lib").glob("python*/site-packages"))
    assert list(site.glob("acme_plugin-*.dist-info"))  # nothing was run


def test_the_versions_matrix_counts_a_shared_environment_once(
    uv_workspace, wheelhouse, uv_bin, make_board, tmp_path
):
    from webapp.core.live.monitor import Monitor
    from webapp.core.pages.inventory import version_matrix

    root = write_workspace(uv_workspace, ["projects/alpha", "projects/beta", "projects/gamma"])
    linked_beta(root, wheelhouse)
    gamma = write_project(
        root / "projects" / "gamma",
        "gamma",
        mode="persistent_uv",
        dependencies=("dagster", "acme-plugin"),
        wheelhouse=wheelhouse,
    )
    uv(uv_bin, "sync", cwd=gamma)
    install_by_hand(uv_bin, gamma, str(build_wheel(tmp_path / "newer", "acme-plugin", "2.0.0", {})))
    board = make_board(root)
    monitor = Monitor(board, 0.2, 60.0, watch=False)
    for project in board.workspace.projects:
        board.state(project, wait=True)
    snapshot = monitor.refresh()
    row = next(r for r in version_matrix(list(snapshot.states)).rows if r.name == "acme-plugin")
    assert row.versions == {"projects-alpha": "1.0.0", "projects-beta": "1.0.0", "projects-gamma": "2.0.0"}
    # one environment has 1.0.0 and one has 2.0.0: neither is the common one
    assert row.skew and row.common is None
