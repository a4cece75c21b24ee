"""The ceiling for the overview benchmarks: a bare Flask app on waitress rendering the same rows.

    python benchmarks/bare_page.py ROWS_JSON PORT THREADS

ROWS_JSON is what envboard's /api/projects answered. Every request renders the whole
table with Jinja (the same columns, badges and sync forms as envboard's row macro), with
no sessions, security headers, polling or background work: what a page of this size
costs on this stack, and nothing more.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from flask import Flask
from waitress import serve

PAGE = Path(__file__).with_name("bare_page.html").read_text()


def iso(timestamp: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(timestamp)) if timestamp else "-"


def create_app(report: dict) -> Flask:
    app = Flask(__name__)
    app.jinja_env.filters["iso"] = iso
    page = app.jinja_env.from_string(PAGE)  # compiled once, as envboard compiles its templates at start

    @app.get("/")
    def index():
        return page.render(workspace=report["workspace"], projects=report["projects"], csrf="x" * 43)

    @app.get("/healthz")
    def healthz():
        return {"status": "ok"}

    return app


def main() -> None:
    report = json.loads(Path(sys.argv[1]).read_text())
    serve(create_app(report), host="127.0.0.1", port=int(sys.argv[2]), threads=int(sys.argv[3]), ident="bare")


if __name__ == "__main__":
    main()
