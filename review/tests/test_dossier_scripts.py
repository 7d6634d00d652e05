"""A Khmer, Arabic or emoji name in the PDF dossier: drawn in a font the project ships (embedded in
the file), never as "?". Written through the service, exported through the real view, read back."""

from __future__ import annotations

import io
import unicodedata
from urllib.parse import urlencode

import pytest
from django.urls import reverse
from pypdf import PdfReader

from numbers.choices import IdentityDocumentType
from numbers.services import subscriber_create
from review import pdf_fonts
from review.exports import _text

pytestmark = pytest.mark.django_db

PDF_URL = reverse("audit:export-pdf")
KHMER_NAME = "សុខ ចាន់ធា"
ARABIC_NAME = "محمد علي"
EMOJI = "\U0001f600"


def dossier(client, auditor, employee) -> PdfReader:
    client.force_login(auditor)
    response = client.get(PDF_URL + "?" + urlencode({"employee": employee.pk}))
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    return PdfReader(io.BytesIO(response.content))


def text_of(reader: PdfReader) -> str:
    return " ".join(" ".join(page.extract_text().split()) for page in reader.pages)


def embedded_fonts(reader: PdfReader) -> set[str]:
    """The base names of the fonts whose file is embedded in the PDF (subset prefix dropped)."""
    names = set()
    for page in reader.pages:
        for font in page["/Resources"]["/Font"].values():
            font = font.get_object()
            for descendant in font.get("/DescendantFonts", [font]):
                descriptor = descendant.get_object().get("/FontDescriptor")
                if descriptor is not None and "/FontFile2" in descriptor.get_object():
                    names.add(str(font["/BaseFont"]).split("+")[-1].lstrip("/"))
    return names


def test_a_khmer_arabic_and_emoji_name_is_printed_in_the_dossier(client, auditor, agent_b):
    subscriber_create(
        full_name=f"Sok {KHMER_NAME} {ARABIC_NAME} {EMOJI}",
        id_document_type=IdentityDocumentType.NATIONAL_ID,
        id_document_number="K1780178",
        actor=agent_b,
        reason="Registered at the counter",
    )
    reader = dossier(client, auditor, agent_b)
    text = text_of(reader)
    # The shipped fonts are embedded (a reader needs no font of its own), no "?" stands in a name.
    assert {"NotoSans-Regular", "NotoSansKhmer-Regular", "NotoSansArabic-Regular"} <= embedded_fonts(reader)
    assert "?" not in text
    # Khmer is shaped: a consonant with its vowel or subscript becomes one glyph, drawn in visual
    # order, which a PDF maps back to one private-use code point (ReportLab's ToUnicode), so the
    # whole name cannot read back letter for letter. The clusters drawn as plain letters do, and
    # every other Khmer glyph is one of the Khmer font's own (private-use), not a "?" or a box.
    assert "Sok សុខ " in text
    khmer = [c for c in text if 0x1780 <= ord(c) <= 0x17FF]
    assert set(khmer) <= set(KHMER_NAME) and "ន់" in text
    assert any(0xE000 <= ord(c) <= 0xF8FF for c in text)
    # Arabic is shaped into its joined (presentation) forms, which fold back to the letters.
    folded = unicodedata.normalize("NFKC", text)
    assert "محمد" in folded and "علي" in folded
    # No shipped font has colour emoji: the code point is printed, so nothing vanishes silently.
    assert "[U+1F600]" in text


def test_text_is_cut_into_runs_by_script():
    assert pdf_fonts.runs(f"Sok {KHMER_NAME} {ARABIC_NAME} {EMOJI}!") == [
        (pdf_fonts.LATIN, "Sok "),
        (pdf_fonts.KHMER, KHMER_NAME + " "),
        (pdf_fonts.ARABIC, ARABIC_NAME + " "),
        (None, EMOJI),
        (pdf_fonts.LATIN, "!"),
    ]
    markup = pdf_fonts.markup(f"<b>{KHMER_NAME}</b>")
    assert markup == f'&lt;b&gt;<font face="{pdf_fonts.KHMER}">{KHMER_NAME}</font>&lt;/b&gt;'
    assert pdf_fonts.needs_shaping(markup) and not pdf_fonts.needs_shaping(pdf_fonts.markup("Sok fine"))


def test_arrows_and_dashes_print_as_before_the_fonts():
    """Noto Sans has no arrow: the dossier keeps writing "->" as it did with Helvetica."""
    assert _text("Awaiting consent \u2192 approval \u2014 done") == "Awaiting consent -&gt; approval - done"
