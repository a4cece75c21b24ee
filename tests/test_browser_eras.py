"""The project page as the project's own dg sees it, in a real browser: its era, dg's own
warnings, and the one mode change today's dg honours (removing the deprecated key)."""

import pytest
from playwright.sync_api import expect

from tests.conftest import (
    build_dagster_stand_in,
    build_wheel,
    install_by_hand,
    signed_in,
    uv,
    write_project,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_today_s_dg_is_shown_with_its_warnings_and_the_key_is_removed_from_the_page(
    tmp_path, wheelhouse, uv_bin, live_server, page
):
    project = write_project(
        tmp_path / "now", "now", mode="active", dependencies=("dagster",), wheelhouse=wheelhouse
    )
    uv(uv_bin, "sync", "--offline", cwd=project)
    wheels = tmp_path / "dg-wheels"
    dagster = build_dagster_stand_in(wheels, "1.13.27")
    core = build_wheel(wheels, "dagster-dg-core", "1.12.22", {"dagster_dg_core_stub.py": ""})
    cli = build_wheel(wheels, "dagster-dg-cli", "1.12.22", {"dagster_dg_cli_stub.py": ""})
    install_by_hand(uv_bin, project, str(dagster), str(core), str(cli))
    url = live_server(project)
    page.goto(signed_in(url + "/projects/now"))
    expect(page.locator("#dg-era")).to_contain_text("dg 1.12.22")
    expect(page.locator("#dg-era")).to_contain_text("own .venv (dg 1.12 ignores python_environment)")
    warnings = page.locator(".dg-warning")
    expect(warnings.first).to_have_text(
        "Setting `tool.dg.project.python_environment` is deprecated. This key can be removed."
    )
    # said once the probe has reported the versions (the fragment asks every 5 s; a busy machine is slow)
    expect(warnings.last).to_contain_text("dg 1.12.22 is older than dagster 1.13.27", timeout=60_000)
    link = page.locator("#switch-mode")
    expect(link).to_have_text("Remove the deprecated python_environment key of now…")
    link.click()
    expect(page.locator("#mode-diff")).to_contain_text('-python_environment = "active"')
    page.locator("#apply-mode").click()
    expect(page.locator("#dg-era")).to_contain_text("own .venv")
    expect(page.locator(".dg-warning")).to_have_count(1, timeout=30_000)  # only the version warning is left
    assert "python_environment" not in (project / "pyproject.toml").read_text()
