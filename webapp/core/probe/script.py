"""The plugin probe: run as a script inside a project's environment, never imported by envboard.

Standard library only, and compatible with Python 3.9+, since it runs under whatever
interpreter the project uses. It mirrors how Dagster's `dg list registry-modules` and
`dg list components` find registry modules and component types, but reports a module
that fails to import, or even kills its interpreter, as an error for that module instead
of failing the whole list. The modules are imported side by side in forked children.

It also reports, from the same process, the Dagster and dg versions and every installed
distribution, so that nothing else ever has to start the project's interpreter.

Usage: python probe.py OUT_JSON REQUEST_JSON
"""

import contextlib
import gc
import importlib
import importlib.metadata
import importlib.util
import inspect
import json
import os
import pkgutil
import re
import signal
import site
import sys
import textwrap
import threading
import traceback

PROBE_FORMAT = 2
PACKAGE_ENTRY_ATTR = "__dg_package_entry__"
# dg's command line: `dagster-dg-cli` from Dagster 1.11 on, `dagster-dg` in the 1.10 era
DG_DISTRIBUTIONS = ("dagster-dg-cli", "dagster-dg")
# the answer's fields that name files and folders, which envboard watches rather than shows
PATH_FIELDS = ("python", "prefix", "site_packages", "watched_files", "watched_dirs")

# Running as a script puts envboard's own folder first on sys.path; it must not shadow
# the project's modules.
_here = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _here]


# a docstring or an error message can be any size (150 MB was tried): what is written is cut
# to this, and envboard cuts again on reading, since the project's code could write the answer
MAX_TEXT = 4096


def _error(module, exc):
    trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return {
        "module": module,
        "type": type(exc).__name__,
        "message": str(exc)[:MAX_TEXT],
        "traceback": trace[-MAX_TEXT:],  # the end says what failed
    }


def _entry_point_modules(groups, errors):
    modules = []
    try:
        all_points = importlib.metadata.entry_points()
    except Exception as exc:  # a broken distribution's metadata
        errors.append(_error("(entry points)", exc))
        return modules
    for group in groups:
        if hasattr(all_points, "select"):
            points = all_points.select(group=group)
        else:  # Python 3.9
            points = all_points.get(group, [])
        for point in points:
            modules.append((point.value, point))
    return modules


def _module_spec(name, searched):
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is not None and spec.submodule_search_locations:
        searched.extend(spec.submodule_search_locations)
    return spec


def _expand_pattern(pattern, searched):
    """`pkg.components.*` to the importable submodules, as dg does with find_spec."""

    def gather(current, remaining):
        if not remaining:
            name = ".".join(current)
            return [name] if _module_spec(name, searched) is not None else []
        head, rest = remaining[0], remaining[1:]
        if head != "*":
            return gather(current + [head], rest)
        if current:
            spec = _module_spec(".".join(current), searched)
            if spec is None or spec.submodule_search_locations is None:
                return []
            locations = list(spec.submodule_search_locations)
        else:
            locations = None
        found = []
        for info in pkgutil.iter_modules(locations):
            found.extend(gather(current + [info.name], rest))
        return found

    return gather([], pattern.split("."))


def _summary(obj):
    doc = obj.__doc__
    if not doc or not isinstance(doc, str):
        return None
    lines = doc[: MAX_TEXT * 4].strip().splitlines()
    cleaned = lines[0] + "\n" + textwrap.dedent("\n".join(lines[1:])) if len(lines) > 1 else lines[0]
    return cleaned.split("\n\n")[0][:MAX_TEXT]


def _component_base():
    """The Component class of whichever Dagster is installed.

    `dagster.Component` exists from 1.11 on; in the 1.10 era (dagster-dg 0.26) the class
    is importable only from `dagster.components`.
    """
    try:
        import dagster

        base = getattr(dagster, "Component", None)
        if base is None:
            from dagster.components import Component as base
        return base
    except Exception:
        return None


def _components_in(module_name, module, base):
    found = []
    for attr in dir(module):
        try:
            value = getattr(module, attr)
            # hasattr lets anything but AttributeError through: a lazy proxy at module level
            # (flask's `request`) raises RuntimeError for every attribute; it is no component
            if not hasattr(value, PACKAGE_ENTRY_ATTR) or inspect.isabstract(value):
                continue
            if isinstance(value, type) and issubclass(value, base):
                found.append({"key": module_name + "." + attr, "summary": _summary(value)})
        except Exception:
            continue
    return found


def _watched_files(site_dirs, paths):
    """Those of these source files that no installed distribution accounts for.

    Thousands of modules are loaded once Dagster is. Resolving each path component by
    component (os.path.realpath) cost more than 100 ms; folders are resolved once each
    instead, and a file is resolved on its own only if it is itself a link, so a module
    linked into site-packages from elsewhere is still watched.
    """
    roots = set(site_dirs) | {sys.base_prefix, sys.base_exec_prefix}
    real_prefixes = tuple({os.path.realpath(r) + os.sep for r in roots})
    real_folders = {}
    files = set()
    for path in paths:
        if not isinstance(path, str) or not path:
            continue
        folder, name = os.path.split(path)
        real_folder = real_folders.get(folder)
        if real_folder is None:
            real_folder = real_folders[folder] = os.path.realpath(folder)
        real = os.path.join(real_folder, name)
        if os.path.islink(real):
            real = os.path.realpath(real)
        if real.startswith(real_prefixes) or os.path.dirname(real) == _here or not os.path.isfile(real):
            continue
        files.add(real)
    return sorted(files)


def _site_dirs():
    site_dirs = list(site.getsitepackages()) if hasattr(site, "getsitepackages") else []
    if site.ENABLE_USER_SITE and os.path.isdir(site.getusersitepackages()):
        site_dirs.append(site.getusersitepackages())
    return site_dirs


def _load(name, point, base):
    """Import one module: its component types, or the error it raised."""
    try:
        module = point.load() if point is not None else importlib.import_module(name)
        if not inspect.ismodule(module):
            raise TypeError(
                f"entry point {point.name} in group {point.group} must name a module, got {module!r}"
            )
        found = _components_in(name, module, base) if base is not None else []
    except BaseException as exc:  # a plugin may raise anything, even SystemExit
        return {"components": [], "error": _error(name, exc), "watched": []}
    return {"components": found, "error": None, "watched": []}


def _source_files(name):
    """The file a module is imported from, found before importing it.

    A module that fails to import, or kills its interpreter, is in no list of loaded
    modules, yet fixing its file must change the answer.
    """
    try:
        spec = importlib.util.find_spec(name.partition(":")[0].strip())
    except BaseException:  # its parent package failed; importing it will say so
        return []
    return [spec.origin] if spec is not None and spec.has_location and spec.origin else []


def _module_files(names):
    return [getattr(sys.modules.get(name), "__file__", None) for name in names]


def _cpus():
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def _can_fork():
    """Forking is safe only while this process has one thread; count the OS's threads, not Python's.

    Linux only: elsewhere (macOS) a child forked after native libraries loaded may crash,
    which is why multiprocessing spawns there instead.
    """
    if not hasattr(os, "fork") or not sys.platform.startswith("linux"):
        return False
    try:
        threads = len(os.listdir("/proc/self/task"))
    except OSError:
        threads = threading.active_count()
    return threads == 1


def _flush_streams():
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):  # a closed or replaced stream
            stream.flush()


def _crash(name, status):
    if status is None:
        message = "importing it ended the interpreter"
    elif os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        try:
            how = signal.Signals(number).name
        except ValueError:
            how = f"signal {number}"
        message = f"importing it killed the interpreter ({how})"
    else:
        message = f"importing it ended the interpreter (exit code {os.waitstatus_to_exitcode(status)})"
    return {"module": name, "type": "Crash", "message": message, "traceback": ""}


def _write_json(path, data):
    """Whole or not at all: a child that dies while writing leaves the previous content."""
    with open(path + ".tmp", "w", encoding="utf-8") as handle:
        json.dump(data, handle)
    os.replace(path + ".tmp", path)


def _read_json(path):
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def _die_with_parent(parent):
    """Have Linux kill this child when the probe ends, however it ends.

    A timeout or cancel ends the probe's process group, but a module may move its child
    out of it (os.setsid) and then hang; the child must not outlive the probe.
    """
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1: PR_SET_PDEATHSIG
    except Exception:  # not Linux
        return
    if os.getppid() != parent:  # the probe ended before the request took effect
        os._exit(1)


def _claim(path):
    """Take a module for this child: the first to create its claim file, with its pid, imports it."""
    try:
        handle = os.open(path + ".claim", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        return False
    try:
        os.write(handle, str(os.getpid()).encode())
    finally:
        os.close(handle)
    return True


def _claimed_by(path):
    try:
        with open(path + ".claim", encoding="ascii") as handle:
            return int(handle.read() or 0)
    except (OSError, ValueError):
        return None


def _import_in_child(unique, pending, base, site_dirs, out_path, parent):
    """A forked child's whole life: take the next module nobody has taken, import it, repeat.

    Taking modules as they come, not a share fixed in advance, keeps every child busy until
    the end, however long any one module takes; and a dependency the modules share is
    imported once per child, not once per module. Before each import the child notes the
    module's own source file in its outcome file, so that if the import kills the child the
    parent knows which file to watch; the outcome replaces the note as soon as it is known.
    """
    code = 1
    try:
        _die_with_parent(parent)
        me = os.getpid()
        loaded = set(sys.modules)
        for index in pending:
            path = f"{out_path}.{index}"
            if not _claim(path):
                continue
            name, point = unique[index]
            sources = _watched_files(site_dirs, _source_files(name))
            _write_json(path, {"claimed": True, "watched": sources})
            outcome = _load(name, point, base)
            if os.getpid() != me:  # a copy the module forked came back here; only the child goes on
                os._exit(0)
            new = [module for module in list(sys.modules) if module not in loaded]
            loaded.update(new)
            outcome["watched"] = sorted(set(sources) | set(_watched_files(site_dirs, _module_files(new))))
            _write_json(path, outcome)
        code = 0
    finally:
        _flush_streams()
        os._exit(code)


def _load_here(name, point, base, site_dirs):
    """Import in the probe's own process; the modules it loads are watched with the probe's."""
    outcome = _load(name, point, base)
    if outcome["error"] is not None:  # loaded nothing to watch, yet a fix to its file must count
        outcome["watched"] = _watched_files(site_dirs, _source_files(name))
    return outcome


def _import_here(unique, indices, base, site_dirs, paths, outcomes):
    for index in indices:
        if _claim(paths[index]):
            outcomes[index] = _load_here(*unique[index], base, site_dirs)


def _import_modules(unique, base, site_dirs, out_path, meanwhile):
    """Each module's outcome, in order, the modules imported side by side in forked children.

    Importing plugin modules is nearly all of a probe's time, and one integration library
    can take seconds on its own: one child per CPU, each taking the next module as it
    finishes one, share that time out. Each child has Dagster already imported. A module
    that kills its child's interpreter (a crash in native code, an os._exit) is that
    module's error, and a new child takes the modules still untaken. `meanwhile` runs
    while they import.
    """
    outcomes = [None] * len(unique)
    forking = _can_fork()
    pending = []
    for index, (name, point) in enumerate(unique):
        if forking and name not in sys.modules:
            pending.append(index)
        else:  # already imported (Dagster itself), or no safe way to fork
            outcomes[index] = _load_here(name, point, base, site_dirs)
    if pending:
        # a module imported here (a pattern's package) may have set SIGCHLD to SIG_IGN:
        # then children are reaped unseen and waiting for them fails
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    _flush_streams()  # or a child would print what is buffered here a second time
    parent = os.getpid()
    paths = {index: f"{out_path}.{index}" for index in pending}

    def untaken():
        return [index for index in pending if not os.path.exists(paths[index] + ".claim")]

    workers = _cpus()
    waiting, running = untaken(), set()
    while running or waiting:
        while waiting and len(running) < min(workers, len(waiting)):
            try:
                pid = os.fork()
            except OSError:  # no process to be had (a limit, memory): the children there are go on
                if not running:  # none: the rest are imported here, as before there were children
                    _import_here(unique, waiting, base, site_dirs, paths, outcomes)
                break
            if pid == 0:
                _import_in_child(unique, waiting, base, site_dirs, out_path, parent)
            running.add(pid)
        if not running:
            waiting = untaken()
            continue
        if meanwhile is not None:
            meanwhile()
            meanwhile = None
        pid, status = os.waitpid(-1, 0)
        if pid not in running:  # a process a plugin started in this one
            continue
        running.discard(pid)
        for index in pending:
            if outcomes[index] is not None:  # settled; its child's pid may be in use again
                continue
            note = _read_json(paths[index])
            if _claimed_by(paths[index]) == pid and (note is None or note.get("claimed")):
                # it took this module and never finished it: the import ended the child
                watched = note["watched"] if note else []
                crash = _crash(unique[index][0], status)
                outcomes[index] = {"components": [], "error": crash, "watched": watched}
        waiting = untaken()
    for index in pending:
        if outcomes[index] is None:
            outcome = _read_json(paths[index])
            if outcome is None or outcome.get("claimed"):  # its child's end went unseen
                outcome = {"components": [], "error": _crash(unique[index][0], None), "watched": []}
            outcomes[index] = outcome
    if meanwhile is not None:
        meanwhile()
    return outcomes


def _normalise(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def _distributions(errors):
    """Installed distributions as `{name, version}`, the first on sys.path winning, as for import."""
    found = {}
    try:
        for dist in importlib.metadata.distributions():
            try:
                name = dist.metadata["Name"]
            except Exception:
                name = None
            if not name:
                continue
            found.setdefault(_normalise(name), dist.version)
    except Exception as exc:  # a broken distribution's metadata
        errors.append(_error("(installed distributions)", exc))
    return [{"name": name, "version": found[name]} for name in sorted(found)]


def _version_of(packages, *names):
    versions = {p["name"]: p["version"] for p in packages}
    return next((versions[n] for n in names if n in versions), None)


def _showable(value):
    """Every string in this value with its lone surrogates as "?"."""
    if isinstance(value, str):
        return value.encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, list):
        return [_showable(item) for item in value]
    if isinstance(value, dict):
        return {key: _showable(item) for key, item in value.items()}
    return value


def _write_and_exit(out_path, result):
    """Write the answer durably, then leave without interpreter teardown.

    Tearing down an interpreter that imported Dagster and its integrations takes longer
    than the listing itself (about 1.5 s measured); nothing after the answer matters.
    """
    # a lone surrogate (from bytes that were not UTF-8: a file name in an error, a docstring)
    # cannot be encoded for a page; in text to show it becomes "?". Paths stay exact (JSON
    # escapes them): envboard stats them, and a "?" in one names no file, so an edit to the
    # real file would leave a stale answer in the cache.
    shown = {key: value if key in PATH_FIELDS else _showable(value) for key, value in result.items()}
    with open(out_path, "w", encoding="ascii") as handle:
        json.dump(shown, handle)
        handle.flush()
        os.fsync(handle.fileno())
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):  # a closed or replaced stream
            stream.flush()
    os._exit(0)


def main(out_path, request_path):
    # The cyclic collector runs over and over while large libraries import and finds next
    # to nothing; without it their import takes about a quarter less time. The process
    # is short-lived and leaves without teardown.
    gc.disable()
    with open(request_path, encoding="utf-8") as handle:
        request = json.load(handle)
    errors = []
    searched = []
    modules = []
    # the groups come from envboard (webapp/core/dg.py), so they are written in one place only
    for name, point in _entry_point_modules(request["entry_point_groups"], errors):
        modules.append((name, point))
    unmatched = []
    for pattern in request.get("registry_modules", []):
        names = _expand_pattern(pattern, searched)
        if not names and pattern not in unmatched:
            unmatched.append(pattern)
        for name in names:
            modules.append((name, None))
    seen = set()
    unique = []
    for name, point in modules:
        if name not in seen:
            seen.add(name)
            unique.append((name, point))
    base = _component_base()
    site_dirs = _site_dirs()
    package_errors = []
    packages = []

    def meanwhile():
        packages.extend(_distributions(package_errors))

    outcomes = _import_modules(unique, base, site_dirs, out_path, meanwhile)
    components = []
    watched = set(_watched_files(site_dirs, _module_files(list(sys.modules))))
    for outcome in outcomes:
        components.extend(outcome["components"])
        watched.update(outcome["watched"])
        if outcome["error"] is not None:
            errors.append(outcome["error"])
    errors.extend(package_errors)
    result = {
        "format": PROBE_FORMAT,
        "python": sys.executable,
        "python_version": ".".join(str(part) for part in sys.version_info[:3]),
        "prefix": sys.prefix,
        "site_packages": site_dirs,
        "dagster_importable": base is not None,
        "registry_modules": [{"module": name} for name in sorted(seen)],
        "unmatched_patterns": unmatched,
        "components": sorted(components, key=lambda c: c["key"]),
        "errors": errors,
        "watched_files": sorted(watched),
        "watched_dirs": sorted({os.path.realpath(p) for p in searched if os.path.isdir(p)}),
        "dagster_version": _version_of(packages, "dagster"),
        "dg_version": _version_of(packages, *DG_DISTRIBUTIONS),
        "packages": packages,
    }
    _write_and_exit(out_path, result)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
