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
import threading
from dataclasses import dataclass
from pathlib import Path

import tomlkit

from ..disk.files import ConfigError, atomic_write, read_toml
from ..disk.stamps import SharedLook

VIEWER, OPERATOR = "viewer", "operator"
ROLES = (VIEWER, OPERATOR)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")


def is_user_name(name: str) -> bool:
    """Letters, digits, `. _ @ -`, up to 64: what the users file and the history accept as a name."""
    return bool(_NAME.match(name))


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
        self._digests: dict[str, str] = {}
        self._path_text = str(path)
        self._looked = SharedLook(self._stamp_now)  # the file's stamp, one look for many requests
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
            data = read_toml(self.path).data
        except ConfigError as exc:
            # e.g. a file mounted into a container, owned by another uid: say who envboard is
            who = f" (envboard runs as uid {os.getuid()})" if "Permission denied" in exc.message else ""
            raise UsersError(f"users file {exc.path} {_users_words(exc.message)}{who}") from exc
        by_hash, by_name, digests = {}, {}, {}
        entries = data.get("users", [])
        if not isinstance(entries, list):
            raise UsersError(f"users file {self.path}: users must be [[users]] tables")
        for index, entry in enumerate(entries):
            entry = entry if isinstance(entry, dict) else {}
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
            digests[name] = digest
        self._by_hash, self._by_name, self._digests, self._stamp = by_hash, by_name, digests, stamp

    def _stamp_now(self) -> tuple | None:
        try:
            info = os.stat(self._path_text)
        except OSError:
            return None
        return (info.st_mtime_ns, info.st_size, info.st_ino)

    def _fresh(self, arrived: int | None = None) -> None:
        # a look at the file's stamp first, without the lock (and shared by the requests that
        # arrived before it began, SharedLook): every signed-in request asks, and the request
        # threads queueing on the lock for a stat made 64 clients slower than 16
        if self._looked(arrived) == self._stamp:
            return
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

    def get_with_digest(self, name: str, arrived: int | None = None) -> tuple[User | None, str | None]:
        """The user and the hash of their current token (a session opened with an older one has
        ended), from one look at the file: a signed-in request needs both. `arrived`: when the
        request arrived (time.monotonic_ns()), so that a look begun since serves it (SharedLook)."""
        self._fresh(arrived)
        return self._by_name.get(name), self._digests.get(name)

    def names(self) -> list[User]:
        self._fresh()
        return list(self._by_name.values())


def _read_document(path: Path) -> tomlkit.TOMLDocument:
    try:
        return tomlkit.parse(path.read_text(encoding="utf-8")) if path.exists() else tomlkit.document()
    except (OSError, UnicodeDecodeError, tomlkit.exceptions.ParseError) as exc:
        raise UsersError(f"users file {path} cannot be read: {exc}") from exc


def _users_words(message: str) -> str:
    """read_toml's words, as a sentence about the users file."""
    if message.startswith("cannot be read") or message.startswith("invalid TOML"):
        return message.replace("invalid TOML", "is not valid TOML", 1)
    return f"cannot be read: {message}"


def _write_document(path: Path, document: tomlkit.TOMLDocument) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, tomlkit.dumps(document).encode("utf-8"), mode=0o600)  # only hashes, but still


def _index_of(document: tomlkit.TOMLDocument, name: str) -> int | None:
    for index, entry in enumerate(document.get("users", [])):
        if entry.get("name") == name:
            return index
    return None


def list_users(path: Path) -> list[User]:
    """The users of the file, in file order (no tokens: the file has none)."""
    return UserDirectory(path).names() if path.exists() else []


def add_user(path: Path, name: str, role: str, *, replace: bool = False) -> str:
    """Add a user and return the new token; only its hash is written.

    An existing name is refused unless `replace`: a typo must not silently cut a colleague off.
    """
    if not _NAME.match(name):
        raise UsersError(f"{name!r} is not a valid user name (letters, digits, . _ @ -)")
    if role not in ROLES:
        raise UsersError(f"role must be one of {', '.join(ROLES)}")
    token = secrets.token_urlsafe(32)
    document = _read_document(path)
    users = document.get("users")
    if users is None:
        users = tomlkit.aot()
        document.append("users", users)
    index = _index_of(document, name)
    if index is not None:
        if not replace:
            raise UsersError(
                f"{name} already exists in {path}; pass --replace to give them a new token and role "
                f"(or use `envboard users rotate {name}` to keep the role)"
            )
        del users[index]
    entry = tomlkit.table()
    entry.add("name", name)
    entry.add("role", role)
    entry.add("token_sha256", hash_token(token))
    users.append(entry)
    _write_document(path, document)
    return token


def rotate_user(path: Path, name: str) -> str:
    """Give `name` a new token (same role) and return it; the old token stops working."""
    document = _read_document(path)
    index = _index_of(document, name)
    if index is None:
        raise UsersError(f"no user {name!r} in {path}")
    token = secrets.token_urlsafe(32)
    document["users"][index]["token_sha256"] = hash_token(token)
    _write_document(path, document)
    return token


def remove_user(path: Path, name: str) -> None:
    document = _read_document(path)
    index = _index_of(document, name)
    if index is None:
        raise UsersError(f"no user {name!r} in {path}")
    del document["users"][index]
    _write_document(path, document)
