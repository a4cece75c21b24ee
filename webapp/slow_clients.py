"""Clients that hold connections without finishing a request: a limit per address, a deadline per request.

waitress closes a connection after `channel_timeout` seconds of silence, but every byte
received resets that clock, and its connection limit is global: a thousand sockets from one
address, each sending a header line every 10 s, kept everybody else out for as long as they
stayed. Two checks, added to waitress's own server and channel classes, close that:

- one address may hold at most `per_address` connections (a further one is closed as it is
  accepted), except the addresses of trusted proxies, through which everybody comes;
- a request must have arrived whole within `channel_timeout` seconds of its first byte,
  however steadily it trickles; otherwise its connection is closed like an idle one.

Each request is also stamped with when it arrived whole (`RECEIVED` in its environ,
`time.monotonic_ns()`; a pipelined one, when the request before it was answered): a look at
the users file or the sessions database begun after that serves it (core/disk/stamps.py
`SharedLook`).

waitress has no setting for either, and a proxy in front (nginx's `client_header_timeout`,
`limit_conn`) is not something every team runs, so they live here, a few lines over
waitress's classes.
"""

from __future__ import annotations

import ipaddress
import logging
import time
from collections.abc import Iterable

from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser
from waitress.server import TcpWSGIServer

from .keep_alive import KeepAliveTask

log = logging.getLogger("envboard.serve")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
RECEIVED = "envboard.received_ns"  # the environ's key: time.monotonic_ns() when the request was whole


class StampedRequest(HTTPRequestParser):
    """waitress's request, stamped when it has arrived whole (before a worker can take it)."""

    received_ns: int | None = None

    def received(self, data: bytes) -> int:
        consumed = super().received(data)
        if self.completed and self.received_ns is None:
            self.received_ns = time.monotonic_ns()
        return consumed


class StampedTask(KeepAliveTask):
    """The task of a stamped request: its environ says when the request arrived.

    A request sent behind others on its connection (HTTP/1.1 pipelining) is read with them but
    answered after them, in turn: it arrives, for this purpose, when the one before it was
    answered, so that what that one wrote (a sign-out) is seen by it.
    """

    def get_environment(self) -> dict:
        environ = super().get_environment()
        received = getattr(self.request, "received_ns", None)
        if received is not None:
            environ[RECEIVED] = max(received, getattr(self.channel, "answered_ns", 0))
        return environ

    def service(self) -> None:
        try:
            super().service()
        finally:  # the channel's next task is made only after this one returns
            self.channel.answered_ns = time.monotonic_ns()


class DeadlineChannel(HTTPChannel):
    """waitress's channel, remembering when the request being read began to arrive (and keeping
    the connection open after a 204, keep_alive.py, and stamping each request's arrival)."""

    task_class = StampedTask
    parser_class = StampedRequest

    reading_since: float | None = None  # time.time() of the current request's first byte

    def received(self, data: bytes) -> bool:
        before = self.request
        try:
            return super().received(data)
        finally:
            if self.request is None:  # nothing half-read: every request so far is whole
                self.reading_since = None
            elif self.request is not before or self.reading_since is None:
                self.reading_since = time.time()


class GuardedServer(TcpWSGIServer):
    """waitress's TCP server with the two checks above; made from one by `guard`."""

    per_address: int = 0  # 0: no limit per address
    exempt: tuple[Network, ...] = ()
    _refused: set[str]

    def handle_accept(self) -> None:
        # as waitress's own handle_accept, plus the limit per address
        try:
            accepted = self.accept()
            if accepted is None:
                return
            conn, addr = accepted
            self.set_socket_options(conn)
        except OSError:
            return
        addr = self.fix_addr(addr)
        if self._over_limit(addr[0]):
            conn.close()
            return
        DeadlineChannel(self, conn, addr, self.adj, map=self._map)

    def _over_limit(self, host: str) -> bool:
        if not self.per_address or _in(host, self.exempt):
            return False
        held = sum(1 for channel in self.active_channels.values() if channel.addr[0] == host)
        if held < self.per_address:
            return False
        if host not in self._refused:  # said once per address until the next clean-up
            self._refused.add(host)
            log.warning("%s holds %d connections, the limit per address: refusing more", host, held)
        return True

    def maintenance(self, now: float) -> None:
        super().maintenance(now)  # idle connections
        self._refused.clear()
        cutoff = now - self.adj.channel_timeout
        for channel in list(self.active_channels.values()):
            since = getattr(channel, "reading_since", None)
            if since is not None and since < cutoff and not channel.requests:
                channel.will_close = True  # a request trickling in for too long


def guard(socket_map: dict, per_address: int, exempt: Iterable[Network] = ()) -> None:
    """Give the listening servers of `socket_map` (made by waitress's create_server) the two checks.

    create_server decides how many listening sockets a host needs and builds each server
    itself; the servers it built become GuardedServers in place, which adds no state of
    waitress's and keeps every one of its settings.
    """
    for dispatcher in list(socket_map.values()):
        if type(dispatcher) is TcpWSGIServer:
            dispatcher.__class__ = GuardedServer
            dispatcher.per_address = per_address
            dispatcher.exempt = tuple(exempt)
            dispatcher._refused = set()


def _in(host: str, networks: tuple[Network, ...]) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return any(address in network for network in networks)
