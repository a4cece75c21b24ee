"""A running Dagster webserver (`dagster-webserver`, `dg dev`), told and asked over its GraphQL API.

After a sync, or a check that loads, envboard asks it to reload the project's code location
(`reloadRepositoryLocation`), and it asks for the webserver's own load status of each location
(`workspaceOrError`), shown beside envboard's verdict. A remote service, not a process: one
HTTP POST per question (urllib, a timeout, no shell, nothing of envboard's sent along).

The code location's name is the one dg gives it in the workspace `dg dev` generates: the
project's `code_location_name` setting, else its folder's name (dg's
`DgContext.code_location_name`). A page never waits for the webserver: it reads the last
answer, and an answer older than `STATUS_LIFETIME` is asked again in the background.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from ..disk.times import iso
from ..workspace.scan import Project

log = logging.getLogger("envboard.webserver")

RELOAD_TIMEOUT = 120.0  # the webserver answers a reload once the location has loaded (or failed to)
STATUS_TIMEOUT = 10.0
STATUS_LIFETIME = 5.0  # seconds a status answer is shown before it is asked again
MAX_ANSWER_BYTES = 4 * 1024 * 1024
MAX_ERROR_CHARS = 4000
LOADED = "LOADED"  # Dagster's RepositoryLocationLoadStatus

_ENTRY = (
    "name loadStatus locationOrLoadError { __typename ... on PythonError { message causes { message } } }"
)
RELOAD = (
    "mutation EnvboardReload($name: String!) { reloadRepositoryLocation(repositoryLocationName: $name) {"
    f" __typename ... on WorkspaceLocationEntry {{ {_ENTRY} }} ... on Error {{ message }} }} }}"
)
STATUS = (
    "query EnvboardStatus { workspaceOrError { __typename"
    f" ... on Workspace {{ locationEntries {{ {_ENTRY} }} }} ... on PythonError {{ message }} }} }}"
)


def location_of(project: Project) -> str:
    """The code location's name, as dg names it in the workspace `dg dev` generates."""
    return project.location_name or project.path.name


@dataclass(frozen=True)
class LocationAnswer:
    """What the webserver said about one code location (or why it said nothing)."""

    url: str
    location: str
    asked_at: float
    reachable: bool
    load_status: str | None = None  # LOADED, LOADING; None when the webserver did not say
    error: str | None = None  # the webserver's own error for the location (its PythonError and causes)
    reason: str | None = None  # that error in one line: its innermost cause, e.g. a ModuleNotFoundError
    problem: str | None = None  # why there is no status: unreachable, no such location, refused

    @property
    def loads(self) -> bool | None:
        if self.error:
            return False
        return True if self.load_status == LOADED else None

    def words(self) -> str:
        """One line for a job's log."""
        if self.problem:
            return self.problem
        if self.error:
            return f"{self.load_status or 'answered'}, with an error: {self.reason}"
        return (
            f"{self.load_status or 'no status'}: the location loads" if self.loads else str(self.load_status)
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "location": self.location,
            "reachable": self.reachable,
            "load_status": self.load_status,
            "loads": self.loads,
            "error": self.error,
            "reason": self.reason,
            "problem": self.problem,
            "asked_at_iso": iso(self.asked_at),
        }


class WebserverError(Exception):
    """No usable answer: the webserver could not be reached, or answered with an error."""

    def __init__(self, problem: str, reachable: bool) -> None:
        super().__init__(problem)
        self.reachable = reachable


class DagsterWebserver:
    """One webserver at `url` (with its path prefix, if any); safe to use from many threads."""

    def __init__(self, url: str, *, lifetime: float = STATUS_LIFETIME) -> None:
        self.url = url.rstrip("/")
        self.endpoint = self.url + "/graphql"
        self.lifetime = lifetime
        self._answers: dict[str, LocationAnswer] = {}  # the latest answer per location (reload or listing)
        self._listing: tuple[float, set[str], WebserverError | None] | None = None  # the last status query
        self._asking = False
        self._reachable = True  # as last found: a change to unreachable is logged once
        self._lock = threading.Lock()

    def reload(self, location: str) -> LocationAnswer:
        """Ask the webserver to reload the location; its answer (it waits for the load) is kept."""
        asked = time.time()
        try:
            data = self._ask(RELOAD, {"name": location}, RELOAD_TIMEOUT)["reloadRepositoryLocation"]
        except WebserverError as exc:
            answer = LocationAnswer(self.url, location, asked, exc.reachable, problem=str(exc))
        else:
            if data.get("__typename") == "WorkspaceLocationEntry":
                answer = _entry_answer(self.url, data, asked)
            else:  # RepositoryLocationNotFound, ReloadNotSupported, UnauthorizedError, PythonError
                said = data.get("message") or data.get("__typename") or "no answer"
                problem = f"the Dagster webserver at {self.url} did not reload {location!r}: {said}"
                answer = LocationAnswer(self.url, location, asked, True, problem=problem)
        with self._lock:
            self._answers[location] = answer
        return answer

    def status(self, location: str) -> LocationAnswer | None:
        """The last answer about the location, without waiting (None before the first); an old
        one is asked again in the background, so the next look sees the new one."""
        with self._lock:
            answer = self._answers.get(location)
            if self._listing is not None:
                asked, names, error = self._listing
                if answer is None or answer.asked_at < asked:
                    if error is not None:
                        answer = LocationAnswer(
                            self.url, location, asked, error.reachable, problem=str(error)
                        )
                    elif location not in names:
                        shown = ", ".join(sorted(names)) or "none"
                        problem = f"the Dagster webserver at {self.url} has no code location {location!r}"
                        problem += f" (it has: {shown})"
                        answer = LocationAnswer(self.url, location, asked, True, problem=problem)
            stale = self._listing is None or time.time() - self._listing[0] >= self.lifetime
            start = stale and not self._asking
            self._asking = self._asking or start
        if start:
            threading.Thread(target=self._refresh, name="envboard-webserver", daemon=True).start()
        return answer

    def refresh(self) -> None:
        """Ask for every location's status now (one query), and keep the answers."""
        asked = time.time()
        try:
            data = self._ask(STATUS, {}, STATUS_TIMEOUT)["workspaceOrError"]
            if data.get("__typename") != "Workspace":
                raise WebserverError(
                    f"the Dagster webserver at {self.url} answered: {data.get('message')}", True
                )
            entries = [_entry_answer(self.url, e, asked) for e in data.get("locationEntries") or []]
        except WebserverError as exc:
            with self._lock:
                self._listing = (asked, set(), exc)
            return
        with self._lock:
            self._listing = (asked, {entry.location for entry in entries}, None)
            self._answers.update((entry.location, entry) for entry in entries)

    def _refresh(self) -> None:
        try:
            self.refresh()
        finally:
            with self._lock:
                self._asking = False

    def _ask(self, query: str, variables: dict[str, Any], timeout: float) -> dict[str, Any]:
        """The `data` of one GraphQL answer, or WebserverError saying why there is none."""
        try:
            data = self._post(query, variables, timeout)
        except WebserverError as exc:
            with self._lock:
                said, self._reachable = self._reachable and not exc.reachable, exc.reachable
            if said:  # said once, when it stops answering; not at every look
                log.warning("%s", exc)
            raise
        with self._lock:
            self._reachable = True
        return data

    def _post(self, query: str, variables: dict[str, Any], timeout: float) -> dict[str, Any]:
        body = json.dumps({"query": query, "variables": variables}).encode()
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        request = urllib.request.Request(self.endpoint, data=body, method="POST", headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - http(s) only
                raw = response.read(MAX_ANSWER_BYTES + 1)
        except urllib.error.HTTPError as exc:
            raise WebserverError(
                f"the Dagster webserver at {self.url} answered HTTP {exc.code}", True
            ) from None
        except (OSError, urllib.error.URLError) as exc:
            reason = getattr(exc, "reason", None) or exc
            raise WebserverError(
                f"the Dagster webserver at {self.url} cannot be reached: {reason}", False
            ) from None
        try:
            answer = json.loads(raw) if len(raw) <= MAX_ANSWER_BYTES else {}
        except ValueError:
            answer = {}
        data = answer.get("data") if isinstance(answer, dict) else None
        if isinstance(data, dict) and data and all(isinstance(value, dict) for value in data.values()):
            return data
        errors = answer.get("errors") if isinstance(answer, dict) else None
        said = (
            "; ".join(str(e.get("message")) for e in errors if isinstance(e, dict))
            if isinstance(errors, list)
            else ""
        )
        raise WebserverError(
            f"the Dagster webserver at {self.url} gave no answer envboard understands"
            + (f": {said}" if said else ""),
            True,
        )


def _entry_answer(url: str, entry: dict[str, Any], asked: float) -> LocationAnswer:
    """A `WorkspaceLocationEntry` as an answer: its load status and its error, if it failed."""
    located = entry.get("locationOrLoadError") or {}
    status = entry.get("loadStatus") if isinstance(entry.get("loadStatus"), str) else None
    if located.get("__typename") != "PythonError":
        return LocationAnswer(url, str(entry.get("name")), asked, True, status)
    # Dagster wraps the project's own error ("Error occurred during the loading of Dagster
    # definitions in ..."); the innermost cause is what went wrong in the project
    chain = [located, *(located.get("causes") or [])]
    messages = [
        m.strip() for m in (c.get("message") for c in chain if isinstance(c, dict)) if isinstance(m, str)
    ]
    messages = [m for m in messages if m] or ["the webserver gave no message"]
    error = "\n\n".join(messages)[:MAX_ERROR_CHARS]
    reason = messages[-1].splitlines()[0][:500]
    return LocationAnswer(url, str(entry.get("name")), asked, True, status, error, reason)
