"""Users, roles and tokens: a TOML file of names, roles and token hashes (never tokens).

    [[users]]
    name = "alice"
    role = "operator"          # or "viewer"
    token_sha256 = "9f86d0..."

Tokens are 256-bit random strings, so a plain SHA-256 is enough to store them: there is
nothing to guess that a slow hash would protect.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import re
import secrets
import tempfile
import threading
import tomllib
from dataclasses import dataclass
from pathlib import Path

import tomlkit

VIEWER, OPERATOR = "viewer", "operator"
ROLES = (VIEWER, OPERATOR)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")


class UsersError(Exception):
    """The users file cannot be used; the message says why."""


@dataclass(frozen=True)
class User:
    name: str
    role: str

    @property
    def can_operate(self) -> bool:
        return self.role == OPERATOR


LOCAL_USER = User("local", OPERATOR)  # single-user mode on loopback


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class UserDirectory:
    """The users file, read again whenever it changes on disk."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stamp: tuple | None = None
        self._by_hash: dict[str, User] = {}
        self._by_name: dict[str, User] = {}
        self._load()

    def _load(self) -> None:
        try:
            info = self.path.stat()
        except OSError as exc:
            raise UsersError(f"users file {self.path} cannot be read: {exc.strerror}") from exc
        stamp = (info.st_mtime_ns, info.st_size, info.st_ino)
        if stamp == self._stamp:
            return
        try:
            raw = self.path.read_bytes()
        except PermissionError as exc:  # e.g. a file mounted into a container, owned by another uid
            raise UsersError(
                f"users file {self.path} cannot be read: {exc.strerror} (envboard runs as uid {os.getuid()})"
            ) from exc
        except OSError as exc:
            raise UsersError(f"users file {self.path} cannot be read: {exc.strerror}") from exc
        try:
            data = tomllib.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise UsersError(f"users file {self.path} is not valid TOML: {exc}") from exc
        by_hash, by_name = {}, {}
        for index, entry in enumerate(data.get("users", [])):
            name, role, digest = entry.get("name"), entry.get("role"), entry.get("token_sha256")
            if not (
                isinstance(name, str) and role in ROLES and isinstance(digest, str) and len(digest) == 64
            ):
                raise UsersError(
                    f"users file {self.path}: entry {index + 1} needs name, role and token_sha256"
                )
            user = User(name, role)
            by_hash[digest] = user
            by_name[name] = user
        self._by_hash, self._by_name, self._stamp = by_hash, by_name, stamp

    def _fresh(self) -> None:
        # keep the last good list rather than locking everybody out mid-edit
        with self._lock, contextlib.suppress(UsersError):
            self._load()

    def authenticate(self, token: str) -> User | None:
        self._fresh()
        digest = hash_token(token)
        for known, user in self._by_hash.items():
            if hmac.compare_digest(known, digest):
                return user
        return None

    def get(self, name: str) -> User | None:
        self._fresh()
        return self._by_name.get(name)


def add_user(path: Path, name: str, role: str) -> str:
    """Add (or replace) a user and return the new token; only its hash is written."""
    if not _NAME.match(name):
        raise UsersError(f"{name!r} is not a valid user name (letters, digits, . _ @ -)")
    if role not in ROLES:
        raise UsersError(f"role must be one of {', '.join(ROLES)}")
    token = secrets.token_urlsafe(32)
    document = tomlkit.parse(path.read_text(encoding="utf-8")) if path.exists() else tomlkit.document()
    users = document.get("users")
    if users is None:
        users = tomlkit.aot()
        document.append("users", users)
    for index, entry in enumerate(list(users)):
        if entry.get("name") == name:
            del users[index]
            break
    entry = tomlkit.table()
    entry.add("name", name)
    entry.add("role", role)
    entry.add("token_sha256", hash_token(token))
    users.append(entry)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(tomlkit.dumps(document))
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return token
