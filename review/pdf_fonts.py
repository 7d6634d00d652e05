"""The fonts the PDF dossier draws with, shipped in ``review/fonts/`` (SIL OFL, see OFL.txt there).

A subscriber, employee or complaint may carry a Khmer or Arabic name; ReportLab's built-in
Helvetica only knows cp1252, so it printed them as "?". The dossier draws Latin text in Noto Sans
and hands each run of Khmer or Arabic to its own Noto font (a font holds one or two scripts);
with uharfbuzz installed, ReportLab shapes those runs (Khmer subscripts and vowel order, Arabic
joining). No system font and no download at run time: the files are in the repository.
"""

from __future__ import annotations

import re
from pathlib import Path
from xml.sax.saxutils import escape

FONT_DIR = Path(__file__).resolve().parent / "fonts"

LATIN = "DossierSans"
LATIN_BOLD = "DossierSans-Bold"
KHMER = "DossierKhmer"
ARABIC = "DossierArabic"

_FILES = {
    LATIN: "NotoSans-Regular.ttf",
    LATIN_BOLD: "NotoSans-Bold.ttf",
    KHMER: "NotoSansKhmer-Regular.ttf",
    ARABIC: "NotoSansArabic-Regular.ttf",
}

# Script blocks each fallback font draws (ranges of code points, both ends included).
_SCRIPTS = {
    KHMER: ((0x1780, 0x17FF), (0x19E0, 0x19FF)),
    ARABIC: ((0x0600, 0x06FF), (0x0750, 0x077F), (0x08A0, 0x08FF), (0xFB50, 0xFDFF), (0xFE70, 0xFEFF)),
}
# Joiners and marks that belong to the run around them, never a run of their own.
_JOINERS = {0x200B, 0x200C, 0x200D, 0x25CC}

_registered = False


def register() -> None:
    """Register the shipped fonts with ReportLab once per process (bold and regular as one family)."""
    global _registered
    if _registered:
        return
    from reportlab.lib.fonts import addMapping
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    for name, filename in _FILES.items():
        pdfmetrics.registerFont(TTFont(name, str(FONT_DIR / filename)))
    addMapping(LATIN, 0, 0, LATIN)
    addMapping(LATIN, 1, 0, LATIN_BOLD)
    addMapping(LATIN, 0, 1, LATIN)
    addMapping(LATIN, 1, 1, LATIN_BOLD)
    _registered = True


def _coverage(name: str) -> set[int]:
    from reportlab.pdfbase import pdfmetrics

    return set(pdfmetrics.getFont(name).face.charToGlyph)


_covered: dict[str, set[int]] = {}


def _font_for(code: int) -> str | None:
    """The font that draws ``code``, or None when no shipped font has a glyph for it."""
    for name, ranges in _SCRIPTS.items():
        if any(low <= code <= high for low, high in ranges):
            return name
    if code not in _covered.setdefault(LATIN, _coverage(LATIN)):
        return None
    return LATIN


def runs(text: str) -> list[tuple[str | None, str]]:
    """``text`` cut into (font, run) pieces; spaces and joiners stay with the run they sit in."""
    register()
    pieces: list[tuple[str | None, str]] = []
    for char in text:
        code = ord(char)
        font = _font_for(code)
        if pieces and (code in _JOINERS or (char == " " and pieces[-1][0] is not None)):
            font = pieces[-1][0]
        if pieces and pieces[-1][0] == font:
            pieces[-1] = (font, pieces[-1][1] + char)
        else:
            pieces.append((font, char))
    return pieces


def markup(text: str) -> str:
    """Paragraph markup for ``text``: each script in its font, escaped. A character no shipped font
    can draw (most emoji) is printed as its code point, e.g. [U+1F600], so nothing vanishes silently."""
    out = []
    for font, run in runs(text):
        if font is None:
            out.append("".join(f"[U+{ord(char):04X}]" for char in run))
        elif font == LATIN:
            out.append(escape(run))
        else:
            out.append(f'<font face="{font}">{escape(run)}</font>')
    return "".join(out)


def needs_shaping(markup_text: str) -> bool:
    """Whether ``markup`` output holds a run of a script that is wrong unless shaped."""
    return any(f'face="{font}"' in markup_text for font in _SCRIPTS)


_NEWLINES = re.compile(r"\r\n|\r|\n")


def paragraph_markup(text: str) -> str:
    """``markup`` line by line, lines joined by ``<br/>``."""
    return "<br/>".join(markup(line) for line in _NEWLINES.split(text))
