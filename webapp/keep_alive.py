"""waitress's task, keeping the connection open after a 204 or 304.

waitress closes the connection after any HTTP/1.1 response without a Content-Length,
and a 204 or 304 may not carry one (RFC 9110 8.6), although it has no body and its end
is plain. The overview's poll answers 204 every 2 s for as long as a page is open, so
every poll paid for a new connection. `KeepAliveTask` marks the connection as closing
before waitress decides (it then adds no `Connection: close`) and keeps it open after;
a client that asked for close, HTTP/1.0, and every other response are waitress's as before.
"""

from __future__ import annotations

from waitress.task import WSGITask

BODILESS = ("204", "304")


class KeepAliveTask(WSGITask):
    def build_response_header(self) -> bytes:
        keep = (
            not self.close_on_finish
            and self.version == "1.1"
            and self.status[:3] in BODILESS
            and self.request.headers.get("CONNECTION", "").lower() != "close"
        )
        if keep:
            self.close_on_finish = True  # waitress then leaves its "close" undecided and unsaid
        try:
            return super().build_response_header()
        finally:
            if keep:
                self.close_on_finish = False
