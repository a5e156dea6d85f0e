"""Names in any script on an English page: each one isolated, so it cannot reorder the text around it.

Unisolated, a right-to-left name takes its neighbours into its run: "עומר אדם · 80 streams" shows
the count before the name, and two Arabic or Hebrew artists in a credit line swap places. The
pages wrap each name in `<bdi>` (the `bdi` filter); text drawn elsewhere (the PNG cards, the
quiz's sentence) wraps it in U+2068 FIRST STRONG ISOLATE ... U+2069 POP DIRECTIONAL ISOLATE, as
`<bdi>` does: the name's own direction comes from its first letter. app.js does the same in the
browser (`brapped.isolate`).
"""

from __future__ import annotations

import unicodedata
from typing import Any

from markupsafe import Markup

FSI, PDI, PDF = "\u2068", "\u2069", "\u202c"
_EMBEDDINGS = frozenset("\u202a\u202b\u202d\u202e")  # LRE, RLE, LRO, RLO: closed by PDF
_ISOLATES = frozenset("\u2066\u2067\u2068")  # LRI, RLI, FSI: closed by PDI


def balanced(text: str) -> str:
    """`text` with its directional controls in pairs: closers without an opener dropped, openers
    left open closed at its end.

    A stray U+2069 in a name would close the isolate around it (the browser's `<bdi>` is one too),
    and a U+202E after it would then turn the rest of the line around.
    """
    out: list[str] = []
    opened: list[str] = []  # the closer each open control waits for, innermost last
    for char in text:
        if char in _EMBEDDINGS:
            opened.append(PDF)
        elif char in _ISOLATES:
            opened.append(PDI)
        elif char == PDF:
            # A PDF closes an embedding opened inside the innermost isolate, or nothing.
            if not opened or opened[-1] != PDF:
                continue
            opened.pop()
        elif char == PDI:
            if PDI not in opened:
                continue
            # A PDI also closes the embeddings opened inside its isolate.
            while opened.pop() != PDI:
                pass
        out.append(char)
    out.extend(reversed(opened))
    return "".join(out)


def isolate(text: str) -> str:
    """`text` between FSI and PDI: for a name inside a longer text that is not HTML."""
    return f"{FSI}{balanced(text)}{PDI}"


def bdi(value: Any) -> Markup:
    """The Jinja filter: `value` as escaped text in a `<bdi>` element."""
    return Markup("<bdi>%s</bdi>") % balanced("" if value is None else str(value))


_INVISIBLE = ("Cc", "Cf", "Zs", "Zl", "Zp")  # controls, format characters (marks, joiners), spaces
_ZWJ, _VS16 = "\u200d", "\ufe0f"


def initial(value: Any) -> str:
    """The first character a reader sees in `value`, upper-cased, for a placeholder picture ("?"
    for none): what comes before it unseen (a direction mark, an override) is skipped, and it is
    kept whole, with its combining marks, a flag's two letters, an emoji's joined parts (app.js
    does the same with `Intl.Segmenter`). The first code unit alone was half an emoji."""
    text = "" if value is None else str(value)
    start = 0
    while start < len(text) and unicodedata.category(text[start]) in _INVISIBLE:
        start += 1
    if start == len(text):
        return "?"
    end = start + 1
    if _regional(text[start]) and end < len(text) and _regional(text[end]):
        end += 1
    while end < len(text):
        if unicodedata.category(text[end]).startswith("M") or text[end] == _VS16:
            end += 1
        elif text[end] == _ZWJ and end + 1 < len(text):
            end += 2
        else:
            break
    return text[start:end].upper()


def _regional(char: str) -> bool:
    return "\U0001f1e6" <= char <= "\U0001f1ff"
