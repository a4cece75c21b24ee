"""The CPU a command costs from process start to its answer, against a bare interpreter.

    python benchmarks/command_cpu.py [--runs 6] [--compare OTHER_CHECKOUT]

Each light command (`--help`, `--version`, `users add/list/remove`) runs as a real process;
its CPU (user + system, children included) is compared with `python -c "import click"`, the
least any click command can cost, measured in the same run. `serve` is started on a
2-project workspace with an empty state folder and its CPU is read when it first answers
/healthz (with its children that had ended by then), against `python -c "import flask, waitress"`.
With `--compare`, another checkout's commands take turns with this one's. Unlike the other
benchmarks, run it with PYTHONDONTWRITEBYTECODE as your test runs have it: what a process
compiles at its start is part of what it costs.
"""

from __future__ import annotations

import argparse
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from harness import cpu_seconds, free_port, write_workspace

HERE = Path(__file__).resolve().parent.parent


def children_cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def timed(argv: list[str], env: dict[str, str], cwd: Path) -> float:
    before = children_cpu()
    subprocess.run(argv, env=env, cwd=cwd, check=True, capture_output=True)
    return children_cpu() - before


def serve_cpu(checkout: Path, workspace: Path, base: Path) -> float:
    """The server's CPU when /healthz first answers, with its children that had ended by then."""
    port = free_port()
    state = Path(tempfile.mkdtemp(dir=base))
    env = {**os.environ, "PYTHONPATH": str(checkout), "ENVBOARD_TOKEN": "t" * 32}
    argv = [sys.executable, "-m", "webapp", "serve", "--workspace", str(workspace), "--port", str(port)]
    process = subprocess.Popen(
        [*argv, "--state-dir", str(state)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2).read()
            break
        except OSError:
            if process.poll() is not None:
                raise RuntimeError("envboard serve ended before it answered") from None
            time.sleep(0.005)
    own = cpu_seconds(process.pid)
    reaped = _reaped_by(process.pid)
    process.send_signal(signal.SIGTERM)  # the stop is not part of the start
    process.wait(timeout=30)
    return own + reaped


def _reaped_by(pid: int) -> float:
    """What a process's finished children cost (fields 16 and 17 of /proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=6)
    parser.add_argument("--compare", type=Path, help="another checkout, measured in turns with this one")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="envboard-command-cpu-"))
    workspace = write_workspace(base / "ws", active_projects=2)
    checkouts = {"this": HERE, **({"other": args.compare.resolve()} if args.compare else {})}
    floors = {"click": ["-c", "import click"], "flask": ["-c", "import flask, waitress"]}
    commands = {
        "--help": ["-m", "webapp", "--help"],
        "--version": ["-m", "webapp", "--version"],
        "users add": ["-m", "webapp", "users", "add", "ann", "--role", "operator", "--users", "u.toml"],
        "users list": ["-m", "webapp", "users", "list", "--users", "u.toml"],
        "users remove": ["-m", "webapp", "users", "remove", "ann", "--users", "u.toml"],
    }
    samples: dict[tuple[str, str], list[float]] = {}
    for run in range(args.runs):
        order = list(checkouts.items()) if run % 2 == 0 else list(reversed(checkouts.items()))
        for name, argv in floors.items():
            samples.setdefault(("floor", name), []).append(
                timed([sys.executable, *argv], dict(os.environ), base)
            )
        for label, checkout in order:
            folder = Path(tempfile.mkdtemp(dir=base))
            env = {**os.environ, "PYTHONPATH": str(checkout), "XDG_STATE_HOME": str(folder)}
            for name, argv in commands.items():
                samples.setdefault((label, name), []).append(timed([sys.executable, *argv], env, folder))
            samples.setdefault((label, "serve to /healthz"), []).append(serve_cpu(checkout, workspace, base))
    click_floor = statistics.median(samples[("floor", "click")])
    flask_floor = statistics.median(samples[("floor", "flask")])
    print(f"floors (CPU s, median of {args.runs}): import click {click_floor:.3f}, ", end="")
    print(f"import flask, waitress {flask_floor:.3f}")
    print(f"{'command':<18} " + " ".join(f"{label + ' s':>10} {'x floor':>8}" for label in checkouts))
    for name in [*commands, "serve to /healthz"]:
        floor = flask_floor if name.startswith("serve") else click_floor
        cells = []
        for label in checkouts:
            value = statistics.median(samples[(label, name)])
            cells.append(f"{value:>10.3f} {value / floor:>7.2f}x")
        print(f"{name:<18} " + " ".join(cells))


if __name__ == "__main__":
    main()
