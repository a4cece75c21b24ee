"""Templates compiled once per process, however many apps are built in it.

Each Flask app has a Jinja environment of its own, which compiles a template when it is first
rendered. A process that builds more than one app (the test suite builds hundreds, a server
restarted in-process) would compile each template again for each app: Python code generated
from the template's source, a few milliseconds of CPU per template.
Jinja keys the code by template name and checks it against the hash of the source it
was compiled from, so an edited template is compiled again, never served stale.
"""

from __future__ import annotations

from jinja2 import BytecodeCache
from jinja2.bccache import Bucket


class CompiledTemplates(BytecodeCache):
    """Jinja's compiled code, in memory, shared by every app of the process."""

    def __init__(self) -> None:
        self._code: dict[str, bytes] = {}  # one entry per template (its latest source)

    def load_bytecode(self, bucket: Bucket) -> None:
        code = self._code.get(bucket.key)
        if code is not None:
            bucket.bytecode_from_string(code)  # Jinja drops it if the source's hash differs

    def dump_bytecode(self, bucket: Bucket) -> None:
        self._code[bucket.key] = bucket.bytecode_to_string()

    def clear(self) -> None:
        self._code.clear()


COMPILED = CompiledTemplates()
