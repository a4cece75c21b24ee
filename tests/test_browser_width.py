"""The overview at desktop widths (1280 and 1024 px): every row's Sync button is on screen
and the table needs no sideways scroll; long paths and notes wrap inside their cells."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.conftest import uv, write_project, write_workspace

pytestmark = pytest.mark.browser

LONG = "quarterly_revenue_reconciliation_pipeline"  # a module name as teams write them
DESKTOPS = [{"width": 1280, "height": 800}, {"width": 1024, "height": 768}]


@pytest.fixture
def long_named_workspace(tmp_path, wheelhouse, uv_bin):
    """Projects deep in long folders, in every state that writes a note into the row: a synced
    environment with plugins, an uncreated one, one in active mode and a config error."""
    root = write_workspace(
        tmp_path / "ws",
        [
            f"teams/finance/{LONG}",
            f"teams/marketing/{LONG}_backfills",
            f"teams/platform/shared_{LONG}",
            "teams/broken/misconfigured_project_with_a_long_name",
        ],
    )
    synced = write_project(
        root / "teams/finance" / LONG,
        LONG,
        mode="persistent_uv",
        dependencies=("dagster",),
        wheelhouse=wheelhouse,
    )
    uv(uv_bin, "sync", cwd=synced)
    write_project(
        root / "teams/marketing" / f"{LONG}_backfills",
        f"{LONG}_backfills",
        mode="persistent_uv",
        dependencies=("dagster",),
        wheelhouse=wheelhouse,
    )
    write_project(root / "teams/platform" / f"shared_{LONG}", f"shared_{LONG}")
    broken = root / "teams/broken/misconfigured_project_with_a_long_name"
    broken.mkdir(parents=True)
    (broken / "pyproject.toml").write_text('[tool.dg]\ndirectory_type = "project"\n[tool.dg.project\n')
    return root


@pytest.mark.parametrize("viewport", DESKTOPS, ids=lambda v: f"{v['width']}px")
def test_every_sync_button_fits_a_desktop_window_without_sideways_scroll(
    long_named_workspace, live_server, browser, viewport
):
    url = live_server(long_named_workspace)
    context = browser.new_context(viewport=viewport)
    page = context.new_page()
    page.goto(url + "/")
    expect(page.locator("tr.project-row")).to_have_count(4)
    # wait until the probes have answered, so the row holds everything it will say
    expect(page.locator("tr.project-row .placeholder")).to_have_count(0, timeout=60_000)
    wrap = page.locator(".projects-wrap")
    overflow = wrap.evaluate("element => element.scrollWidth - element.clientWidth")
    assert overflow <= 0, f"the table is {overflow} px wider than its box"
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
    buttons = page.locator("tr.project-row button.sync")
    assert buttons.count() == 4
    for index in range(4):
        box = buttons.nth(index).evaluate(
            "b => { const r = b.getBoundingClientRect(); return [r.left, r.right, window.innerWidth]; }"
        )
        left, right, inner = box
        assert left >= 0 and right <= inner, f"Sync of row {index} spans {left}..{right} of {inner}"
    # nothing was shortened to fit: the long paths are still there in full
    expect(page.locator("tr.project-row .path").first).to_contain_text(f"teams/finance/{LONG}")
    context.close()
