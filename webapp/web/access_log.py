"""One structured line per request on stderr: plain text, or JSON with --log-format json.

Request threads only put the record on a queue; one listener thread formats and writes
it (the standard library's QueueHandler/QueueListener). Writing under the stream
handler's lock on every request serialised the workers: with 64 clients the overview
answered a fifth of what it did without the log. The queue wakes no one (`Batches`): the
writer looks every WRITE_EVERY seconds and writes what has gathered, so a request does
not hand the interpreter's lock to the writer thread for each line. A request's line goes
on that queue as a plain tuple of its fields (`QueuedLine`); the writer thread makes the log
record of it, so a request pays for no LogRecord, and the lines are those of `access.info`.
"""

from __future__ import annotations

import collections
import json
import logging
import queue
import re
import threading
import time
from logging.handlers import QueueHandler, QueueListener
from typing import NamedTuple, TextIO

from flask import Flask, g, request

access = logging.getLogger("envboard.access")
_ROOT = logging.getLogger("envboard")
_direct: _Queued | None = None  # the handler configure() installed, while it is the only one
WRITE_EVERY = 0.05  # seconds: how long a line may wait before the writer thread writes it


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data = {"time": round(record.created, 3), "level": record.levelname.lower(), "logger": record.name}
        data.update(getattr(record, "fields", {}) or {"message": record.getMessage()})
        return json.dumps(data, ensure_ascii=True)  # control characters always escaped


class TextFormatter(logging.Formatter):
    """logging's own Formatter, its time of day made once per second (a line per request)."""

    _second: tuple[int, str] = (-1, "")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        if datefmt is not None or self.converter is not time.localtime:
            return super().formatTime(record, datefmt)
        second = int(record.created)
        cached = self._second
        if cached[0] != second:
            cached = self._second = (second, time.strftime(self.default_time_format, time.localtime(second)))
        return self.default_msec_format % (cached[1], record.msecs)


_PLAIN = re.compile(r"[!#-~]*")  # printable ASCII without space and double quote


def text_value(value: object) -> str:
    """A field for the text log: bare when plain, else a JSON string (controls, spaces escaped).

    A path is attacker-chosen: `%0a` or a space must not start a forged line or field.
    """
    if type(value) is int or type(value) is float:
        return str(value)  # digits, a point, a sign: always plain
    text = "-" if value is None else str(value)
    if _PLAIN.fullmatch(text) and "=" not in text:
        return text
    return json.dumps(text)  # ensure_ascii: \n, \u2028 and every other control become escapes


class Batches:
    """The listener's queue: `put` appends and wakes nobody; `get` looks every WRITE_EVERY seconds.

    A queue.SimpleQueue wakes the waiting writer on every put, and under load each wake-up
    took the interpreter's lock from a request thread.
    """

    def __init__(self) -> None:
        self._items: collections.deque = collections.deque()
        self._stopping = threading.Event()

    def put_nowait(self, item: object) -> None:
        self._items.append(item)  # atomic: no lock needed
        if item is None:  # QueueListener's sentinel: it is being stopped, and waits for the writer
            self._stopping.set()

    put = put_nowait

    def get(self, block: bool = True) -> object:
        while True:
            try:
                return self._items.popleft()
            except IndexError:
                if not block:
                    raise queue.Empty from None
                if self._stopping.wait(WRITE_EVERY):
                    self._stopping.clear()


class _Queued(QueueHandler):
    """Puts records on the listener's queue; closing it (logging.shutdown at exit) drains it."""

    def __init__(self, listener_queue: Batches, stream: TextIO | None, formatter: logging.Formatter):
        super().__init__(listener_queue)
        writer = logging.StreamHandler(stream)
        writer.setFormatter(formatter)
        self.listener = _Listener(listener_queue, writer, respect_handler_level=True)
        self.listener.start()
        self.running = True  # stop() twice would wait for a thread already gone

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        return record  # same process: the listener formats it, off the request's thread

    def close(self) -> None:
        if self.running:
            self.running = False
            self.listener.stop()  # writes out what is queued
        super().close()


class QueuedLine(NamedTuple):
    """A request's line as a request thread queues it: the writer thread makes the record."""

    created: float  # time.time() when the request was answered
    fields: dict


class _Listener(QueueListener):
    """The writer thread: a queued line becomes the record `access.info` would have made."""

    def prepare(self, record):
        if type(record) is not QueuedLine:
            return record
        line = (_Line(record.fields),)
        made = access.makeRecord(access.name, logging.INFO, "(unknown file)", 0, "%s", line, None)
        made.fields = record.fields
        # the time of the request, not of the writing (LogRecord's own arithmetic)
        made.created = record.created
        made.msecs = int((record.created - int(record.created)) * 1000) + 0.0
        made.relativeCreated = (record.created - logging._startTime) * 1000
        return made


def configure(log_format: str, stream: TextIO | None = None) -> None:
    """Log envboard's lines to `stream` (stderr by default) through a queue and one writer thread."""
    formatter = JsonFormatter() if log_format == "json" else TextFormatter("%(asctime)s %(name)s %(message)s")
    root = logging.getLogger("envboard")
    for previous in root.handlers:
        previous.close()
    global _direct
    _direct = _Queued(Batches(), stream, formatter)
    root.handlers[:] = [_direct]
    root.setLevel(logging.INFO)
    root.propagate = False
    # no line says which source line, thread or process logged it: the logging HOWTO's
    # "Optimization" settings, so that a record costs a request no stack walk
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False


def drain() -> None:
    """Write out every line logged so far (the lines are written by a thread of their own)."""
    for handler in logging.getLogger("envboard").handlers:
        if isinstance(handler, _Queued) and handler.running:
            handler.listener.stop()
            handler.listener.start()


def init_app(app: Flask) -> None:
    @app.before_request
    def _start_clock():
        g.request_started = time.perf_counter()

    @app.after_request
    def _log(response):
        user = g.get("user")
        started = g.get("request_started", time.perf_counter())
        log_request(request.method, request.path, response.status_code, started, user, request.remote_addr)
        return response


def log_request(method: str, path: str, status: int, started: float, user, remote: str | None) -> None:
    """The access log's line for one request (Flask's hook above and the front both write it)."""
    fields = {
        "method": method,
        "path": path,
        "status": status,
        "ms": round((time.perf_counter() - started) * 1000, 1),
        "user": user.name if user else None,
        "remote": remote,
    }
    handler = _direct
    # the fast path only while logging is as configure() left it: every step `access.info` takes
    # to reach a handler (the logger's level, filters, handlers, propagation; the one handler's
    # level and filters; envboard's lines not passed on) would have taken the line to that writer
    if (
        handler is not None
        and handler.running
        and _ROOT.handlers == [handler]
        and not _ROOT.propagate
        and not handler.filters
        and handler.level <= logging.INFO
        and not access.handlers
        and not access.filters
        and access.propagate
        and access.isEnabledFor(logging.INFO)
    ):
        handler.queue.put_nowait(QueuedLine(time.time(), fields))  # as configured: straight to the writer
    else:
        access.info("%s", _Line(fields), extra={"fields": fields})


class _Line:
    """The text line of a request's fields, made when the writer thread formats the record."""

    __slots__ = ("fields",)

    def __init__(self, fields: dict) -> None:
        self.fields = fields

    def __str__(self) -> str:
        return " ".join(f"{k}={text_value(v)}" for k, v in self.fields.items())
