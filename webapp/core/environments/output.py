"""What commands print, read back: ANSI escapes and the words that explain a failure.

Shared by the jobs (a failed job's message), the command line and the web layer
(which turns the same escapes into HTML), so all three read output the same way.
"""

from __future__ import annotations

import re
import signal

# SGR and other CSI sequences, charset switches, and a carriage return that redraws a line
ANSI_ESCAPE = re.compile(r"\x1b\[([0-9;?]*)([A-Za-z])|\x1b[()][A-Za-z0-9]|\r(?!\n)")


def strip_ansi(text: str) -> str:
    return ANSI_ESCAPE.sub("", text)


def failure_message(exit_code: int | None, output: str, program: str = "uv sync") -> str:
    """What went wrong in words: the tool's own error line in its output (the end of it is
    enough), or how the process ended."""
    if exit_code is not None and exit_code < 0:
        try:
            name = f" ({signal.Signals(-exit_code).name})"
        except ValueError:
            name = ""
        return f"{program.split()[0]} was killed by signal {-exit_code}{name} before it finished"
    lines = [line.strip() for line in strip_ansi(output).splitlines()]
    errors = [line for line in lines if line.startswith("error:")]
    if errors:
        details = [line for line in lines[lines.index(errors[-1]) + 1 :] if line][:3]
        return " ".join([errors[-1], *details])[:600]
    return f"{program} exited {exit_code}"


def safe_cut(data: bytes) -> int:
    """How many bytes can be shown now without splitting a UTF-8 character or an escape code."""
    end = len(data)
    escape_at = data.rfind(b"\x1b", max(0, end - 32))
    if escape_at != -1 and not re.match(rb"\x1b(\[[0-9;?]*[A-Za-z]|[()][A-Za-z0-9])", data[escape_at:]):
        end = escape_at
    if end and data[end - 1 : end] == b"\r":
        end -= 1  # maybe the first half of a CRLF: stripping it alone would eat a line break
    # step back over an incomplete UTF-8 sequence at the end
    back = 0
    while back < min(4, end) and (data[end - 1 - back] & 0xC0) == 0x80:
        back += 1
    if back < min(4, end) and end > 0:
        lead = data[end - 1 - back]
        need = 2 if lead >> 5 == 0b110 else 3 if lead >> 4 == 0b1110 else 4 if lead >> 3 == 0b11110 else 1
        if need > back + 1:
            end = end - 1 - back
    return end


def last_words(text: str) -> str:
    """A tool's own words, shortest useful form: its last error line, else its last line."""
    lines = [line.strip() for line in strip_ansi(text).splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    return (errors[-1] if errors else (lines[-1] if lines else ""))[:500]
