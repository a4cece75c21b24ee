"""Growing delays after failed sign-ins and bearer tokens (what `FailureLimiter` keeps)."""

from __future__ import annotations

import hashlib
import ipaddress
import threading
import time
from collections.abc import Callable

FREE_FAILURES = 5  # failures per key in WINDOW before delays start
WINDOW = 15 * 60.0
MAX_DELAY = 300.0
PREFIX_LENGTH = 8  # characters of a token that tell whose it is, without saying anything useful
MAX_KEYS = 20000  # memory bound against an attacker spraying addresses


class FailureLimiter:
    """Growing delays after failed sign-ins and bearer tokens, per address and per token prefix.

    Per address: after FREE_FAILURES failures in WINDOW, each further attempt waits
    2, 4, 8 … up to MAX_DELAY seconds after the last failure, unchecked (so a guesser
    learns nothing during the wait). One proxy or NAT is one address, so that alone
    would let an attacker lock out everyone behind it; hence the second key:

    Per token prefix: the first characters of every token that has signed in are
    remembered (hashed). A token with such a prefix is checked even from a delayed
    address: the colleague's own token works. A random guess has a 1 in 2^48 chance
    to carry a known prefix, so the attacker gains nothing; failures with a known
    prefix delay that prefix, so knowing a prefix does not make guessing the rest fast.
    """

    def __init__(
        self,
        free: int = FREE_FAILURES,
        window: float = WINDOW,
        max_delay: float = MAX_DELAY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.free, self.window, self.max_delay = free, window, max_delay
        self.clock = clock  # seconds, only ever compared (tests pass one they move on by hand)
        self._failures: dict[str, list[float]] = {}
        self._known_prefixes: set[str] = set()
        self._lock = threading.Lock()

    @staticmethod
    def address_key(address: str | None) -> str:
        """IPv6 clients usually own a whole /64: count it as one address."""
        try:
            ip = ipaddress.ip_address(address or "")
        except ValueError:
            return f"addr:{address}"
        if isinstance(ip, ipaddress.IPv6Address):
            if ip.ipv4_mapped is not None:
                return f"addr:{ip.ipv4_mapped}"
            return f"addr:{ipaddress.ip_network(f'{ip}/64', strict=False)}"
        return f"addr:{ip}"

    @staticmethod
    def _prefix_key(token: str) -> str:
        return "prefix:" + hashlib.sha256(token[:PREFIX_LENGTH].encode()).hexdigest()

    def blocked_for(self, address: str | None, token: str) -> float:
        """Seconds to wait before this token may be checked from this address; 0 means check it."""
        prefix = self._prefix_key(token)
        with self._lock:
            now = self.clock()
            if prefix in self._known_prefixes:
                return self._wait(prefix, now)
            return self._wait(self.address_key(address), now)

    def fail(self, address: str | None, token: str) -> None:
        prefix = self._prefix_key(token)
        with self._lock:
            now = self.clock()
            if len(self._failures) > MAX_KEYS:
                self._prune(now)
            keys = [self.address_key(address)]
            if prefix in self._known_prefixes:  # unknown prefixes are random: counting them is useless
                keys.append(prefix)
            for key in keys:
                self._failures.setdefault(key, []).append(now)

    def succeed(self, token: str) -> None:
        with self._lock:
            self._known_prefixes.add(self._prefix_key(token))

    def _wait(self, key: str, now: float) -> float:
        recent = [t for t in self._failures.get(key, ()) if now - t < self.window]
        if recent:
            self._failures[key] = recent
        else:
            self._failures.pop(key, None)
        over = len(recent) - self.free
        if over < 0:
            return 0.0
        delay = min(2.0 ** (over + 1), self.max_delay)
        return max(0.0, recent[-1] + delay - now)

    def _prune(self, now: float) -> None:
        for key in list(self._failures):
            self._wait(key, now)
        while len(self._failures) > MAX_KEYS:  # still full: forget the oldest
            self._failures.pop(next(iter(self._failures)))
