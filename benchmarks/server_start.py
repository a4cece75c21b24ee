"""What a test server costs: `python -m webapp serve` started fresh, against one forked from the
tests' preloaded Python (`tests/preloaded.py`), taking turns.

    python benchmarks/server_start.py [--runs 4] [--workspace DIR] [--seconds 8]

For each server: its own CPU (user + system) when /healthz first answers, and again after
`--seconds` more with a page load every 0.2 s, as a browser test keeps one busy. Without
`--workspace`, an empty one in a temporary folder (the start alone); `examples/workspace` gives
a server something to scan. Each server gets a new state folder. Prints each run and the medians.
Run it with PYTHONDONTWRITEBYTECODE as your test runs have it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from harness import cpu_seconds, free_port

CHECKOUT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(CHECKOUT))

from tests.preloaded import PreloadedPython  # noqa: E402 - the checkout first


def one_server(
    workspace: Path, base: Path, parent: PreloadedPython | None, seconds: float
) -> tuple[float, float]:
    """(CPU at the first /healthz, CPU after `seconds` of page loads) of one server."""
    port = free_port()
    state = Path(tempfile.mkdtemp(dir=base))
    log = state / "server.log"
    log.write_bytes(b"")
    args = ["serve", "--workspace", str(workspace), "--port", str(port), "--state-dir", str(state / "s")]
    env = {**os.environ, "PYTHONPATH": str(CHECKOUT), "ENVBOARD_TOKEN": "t" * 32}
    if parent is None:
        with open(log, "ab") as output:
            process = subprocess.Popen(
                [sys.executable, "-m", "webapp", *args], env=env, stdout=output, stderr=subprocess.STDOUT
            )
    else:
        process = parent.start(args, env, log)
    url = f"http://127.0.0.1:{port}"
    while True:
        try:
            urllib.request.urlopen(url + "/healthz", timeout=2).read()
            break
        except OSError:
            if process.poll() is not None:
                raise RuntimeError(log.read_text()) from None
            time.sleep(0.02)
    started = cpu_seconds(process.pid)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        urllib.request.urlopen(url + "/", timeout=10).read()
        time.sleep(0.2)
    lived = cpu_seconds(process.pid)
    process.terminate()
    process.wait(timeout=30)
    return started, lived


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=4)
    parser.add_argument("--workspace", type=Path)
    parser.add_argument("--seconds", type=float, default=8.0)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        base = Path(scratch)
        workspace = options.workspace
        if workspace is None:
            workspace = base / "ws"
            workspace.mkdir()
            (workspace / "dg.toml").write_text('directory_type = "workspace"\n\n[workspace]\nprojects = []\n')
        parent = PreloadedPython()
        results: dict[str, list[tuple[float, float]]] = {"fresh": [], "forked": []}
        try:
            for run in range(options.runs):
                for kind in ("fresh", "forked"):
                    started, lived = one_server(
                        workspace.resolve(), base, None if kind == "fresh" else parent, options.seconds
                    )
                    results[kind].append((started, lived))
                    print(f"run {run + 1} {kind:6s}: {started:.2f} s of CPU at /healthz, {lived:.2f} s after")
        finally:
            parent.close()
    medians = {
        kind: [statistics.median(value[i] for value in values) for i in (0, 1)]
        for kind, values in results.items()
    }
    for kind, (started, lived) in medians.items():
        print(f"median {kind:6s}: {started:.2f} s at /healthz, {lived:.2f} s after {options.seconds:g} s")
    fresh, forked = medians["fresh"], medians["forked"]
    print(f"forked / fresh: {forked[0] / fresh[0]:.2f}x at /healthz, {forked[1] / fresh[1]:.2f}x after")
    return 0


if __name__ == "__main__":
    sys.exit(main())
