"""Where and how `envboard serve` listens: loopback rules, trusted hosts, the port, limits, the key.

Facts about the socket and the process, decided before the app starts, so a mistake is
one line and exit 2 instead of a traceback after the workspace has been scanned.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import os
import secrets
import socket
from pathlib import Path

from ..core.disk.files import atomic_write
from ..core.disk.private import private_folder


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def load_secret_key(state_dir: Path) -> str:
    """Kept across restarts so that open pages and sessions survive a restart."""
    path = state_dir / "secret_key"
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError:
        pass
    key = secrets.token_hex(32)
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(key)
    except FileExistsError:
        return path.read_text(encoding="utf-8").strip()
    except OSError:
        pass  # read-only state dir: sessions last until the next restart
    return key


MIN_TOKEN_LENGTH = 16


def single_user_token(state_dir: Path, given: str | None) -> str:
    """The operator's token in single-user mode: `given` (--token), else a new random one.

    Written to the state dir (0600, its user's alone) so that the same user can find it
    again; a start makes a new one, which ends the browser sessions opened with the old.
    ValueError when a given token is too short to be a secret.
    """
    if given is not None and len(given) < MIN_TOKEN_LENGTH:
        raise ValueError(
            f"--token: at least {MIN_TOKEN_LENGTH} characters, please (or leave it out for a random one)"
        )
    token = given or secrets.token_urlsafe(32)
    private_folder(state_dir)  # 0700 from the start, before the token is in it
    with contextlib.suppress(OSError):  # a read-only state dir: the printed link is enough
        atomic_write(state_dir / TOKEN_FILE, (token + "\n").encode(), mode=0o600)
    return token


TOKEN_FILE = "token"


def trusted_hosts(host: str, public_url: str | None) -> list[str]:
    from urllib.parse import urlsplit

    names = {host.strip("[]")}
    if is_loopback(host):
        names |= {"localhost", "127.0.0.1", "::1"}
    if host in ("0.0.0.0", "::"):
        names = set()  # any interface: only the public URL's host (and loopback) are trusted
        names |= {"localhost", "127.0.0.1", "::1"}
    if public_url:
        names.add(urlsplit(public_url).hostname or "")
    return sorted(n for n in names if n)


def public_url_warning(host: str, public_url: str | None, port: int) -> str | None:
    """What to say at start when people will reach a non-loopback --host by a name nobody trusts."""
    if public_url or is_loopback(host):
        return None
    trusted = ", ".join(trusted_hosts(host, public_url))
    return (
        f"warning: --host {host} without --public-url: only {trusted} are trusted in the Host header, "
        f"so people reaching envboard by this machine's name get a 400. Pass --public-url "
        f"http://NAME:{port} (ENVBOARD_PUBLIC_URL)."
    )


def bind_problem(host: str, port: int, error: OSError | None = None) -> str | None:
    """Why waitress could not listen on host:port, in one line; None when it can.

    Checked before the app starts (so a busy port fails at once, before any probe runs),
    and used again for the error of the real bind (someone may take the port meanwhile).
    """
    if error is None:
        try:
            addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        except socket.gaierror as exc:
            return f"cannot bind {host}: {exc.strerror}"
        for family, kind, proto, _, address in addresses:
            with socket.socket(family, kind, proto) as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as waitress does
                try:
                    probe.bind(address)
                except OSError as exc:
                    error = exc
                    break
        if error is None:
            return None
    if error.errno == errno.EADDRINUSE:
        return f"port {port} is in use; pass --port"
    if error.errno == errno.EACCES:
        return f"port {port} needs privileges here; pass --port with a number above 1023"
    if error.errno == errno.EADDRNOTAVAIL:
        return f"{host} is not an address of this machine; pass --host"
    return f"cannot listen on {host}:{port}: {error.strerror or error}"


def allow_open_files(wanted: int) -> None:
    """Raise the soft limit on open files so that --connection-limit sockets fit (never above hard)."""
    try:
        import resource
    except ImportError:  # not on this platform
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        with contextlib.suppress(ValueError, OSError):  # keep the limit we have
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
