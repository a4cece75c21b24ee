"""Ceiling (b), the stack's physical limit: a minimal WSGI app on waitress returning precomputed bytes.

    python benchmarks/ceiling.py SIZE PORT THREADS [keep-alive]

`/` answers SIZE bytes of text/html made once at start (the overview's size, so waitress
moves exactly as many bytes as for envboard's page), `/204` an empty 204 (the ceiling of
the overview's "nothing changed" poll), `/healthz` a short 200. No framework, no
templates, no logging: whatever envboard spends beyond this is its own. waitress closes the
connection after every 204 (it has no Content-Length); with `keep-alive` the server keeps
it open as envboard does (webapp/keep_alive.py), the ceiling for a poll on one connection.
"""

from __future__ import annotations

import sys

from waitress import serve


def create_app(size: int):
    body = (b"<tr><td>x</td></tr>\n" * (size // 20 + 1))[:size]
    page = [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(size))]

    def app(environ, start_response):
        path = environ.get("PATH_INFO", "/")
        if path == "/":
            start_response("200 OK", page)
            return [body]
        if path == "/204":
            start_response("204 No Content", [])
            return []
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
        return [b"ok"]

    return app


def main() -> None:
    size, port, threads = (int(value) for value in sys.argv[1:4])
    if sys.argv[4:] == ["keep-alive"]:
        from waitress.channel import HTTPChannel

        from webapp.keep_alive import KeepAliveTask

        HTTPChannel.task_class = KeepAliveTask
    serve(create_app(size), host="127.0.0.1", port=port, threads=threads, ident="ceiling")


if __name__ == "__main__":
    main()
