"""Make the README's screenshots of the bundled example, in a real browser: the overview and Versions.

    envboard sync --workspace examples/workspace pipelines widgets   # README command 1
    python examples/screenshot.py     # writes examples/overview.png and examples/versions.png

Starts `envboard serve --workspace examples/workspace` on a free loopback port (with a
state dir of its own), waits until every row is filled in and the `pipelines` row lists
its component types, takes the picture with Playwright driving Debian's chromium
(no browser download), and stops the server. The picture shows the workspace's path:
run it from a checkout whose path you are happy to publish.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


TOKEN = secrets.token_urlsafe(32)  # single-user mode's operator token for this run


def serve(workspace: Path, state_dir: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "webapp",
            "serve",
            "--workspace",
            str(workspace),
            "--port",
            str(port),
            "--state-dir",
            str(state_dir),
        ],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO), "ENVBOARD_TOKEN": TOKEN},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url + "/healthz", timeout=2).read()
            return process, url
        except OSError:
            if process.poll() is not None:
                raise SystemExit(f"envboard serve ended: {process.stderr.read().decode()}") from None
            time.sleep(0.2)
    process.terminate()
    raise SystemExit("envboard serve did not answer within 60 s")


def screenshot(url: str, out: Path, versions_out: Path | None = None, width: int = 1280) -> None:
    from playwright.sync_api import expect, sync_playwright

    chromium = shutil.which("chromium")
    if chromium is None:
        raise SystemExit("chromium is not installed: apt-get install -y chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": width, "height": 720}, device_scale_factor=1)
        page.goto(f"{url}/?token={TOKEN}")  # the printed link: the operator's view, buttons enabled
        pipelines = page.locator("tr.project-row", has=page.locator("a.project-name", has_text="pipelines"))
        expect(pipelines.locator(".plugins-cell")).to_contain_text("components", timeout=120_000)
        expect(page.locator("[aria-busy=true]")).to_have_count(0, timeout=120_000)
        expect(page.locator(".badge.status-checking")).to_have_count(0, timeout=120_000)
        out.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(out), full_page=True)
        if versions_out is not None:
            # every shared package, so the skew between the projects shows; the first screenful
            page.set_viewport_size({"width": width, "height": 900})
            page.goto(url + "/versions?all=1")
            expect(page.locator('tr[data-package="dagster"]')).to_have_count(1, timeout=120_000)
            page.screenshot(path=str(versions_out))
        browser.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workspace", default=str(REPO / "examples" / "workspace"))
    parser.add_argument("--out", default=str(REPO / "examples" / "overview.png"))
    parser.add_argument("--versions-out", default=str(REPO / "examples" / "versions.png"))
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="envboard-screenshot-") as state_dir:
        process, url = serve(Path(args.workspace), Path(state_dir))
        try:
            screenshot(url, Path(args.out), Path(args.versions_out))
        finally:
            process.terminate()
            process.wait(timeout=15)
    print(f"wrote {args.out} and {args.versions_out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
