"""uv's coloured output as HTML: SGR colour codes to spans, every other escape dropped."""

from __future__ import annotations

from markupsafe import Markup, escape

from ..core.environments.output import ANSI_ESCAPE

_COLOURS = {**{30 + i: f"ansi-{30 + i}" for i in range(8)}, **{90 + i: f"ansi-{30 + i}" for i in range(8)}}


def to_html(text: str) -> Markup:
    """Escape the text and turn colour codes into <span class="ansi-..."> elements."""
    out: list[str] = []
    classes: list[str] = []
    position = 0
    for match in ANSI_ESCAPE.finditer(text):
        out.append(_span(text[position : match.start()], classes))
        position = match.end()
        if match.group(2) == "m":
            classes = _apply(match.group(1), classes)
    out.append(_span(text[position:], classes))
    return Markup("".join(out))


def _span(text: str, classes: list[str]) -> str:
    if not text:
        return ""
    if not classes:
        return str(escape(text))
    return f'<span class="{" ".join(classes)}">{escape(text)}</span>'


def _apply(params: str, classes: list[str]) -> list[str]:
    codes = [int(p) for p in params.split(";") if p.isdigit()] or [0]
    result = list(classes)
    for code in codes:
        if code == 0:
            result = []
        elif code == 1:
            result.append("ansi-bold")
        elif code == 2:
            result.append("ansi-dim")
        elif code in (22,):
            result = [c for c in result if c not in ("ansi-bold", "ansi-dim")]
        elif code in _COLOURS:
            result = [c for c in result if not c.startswith("ansi-3")] + [_COLOURS[code]]
        elif code == 39:
            result = [c for c in result if not c.startswith("ansi-3")]
    return result
