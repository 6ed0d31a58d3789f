"""Write one policy text as the files regulators receive: GB18030 text, Markdown, HTML, PDF, DOCX.

Used by ``training/evidence_formats.py`` (evidence measured per file format) and by the
document-format tests. The PDF is drawn with reportlab's built-in CID font, wrapped at a fixed
width as a word processor prints it; the HTML page carries navigation and a footer that a
reader must drop; :func:`source_offsets` maps offsets in the text read back from a file to
offsets in the original text, so evidence can be checked against clauses labelled by hand.
"""
from __future__ import annotations

import difflib
from pathlib import Path

import numpy as np

NAV = "首页 | 产品中心 | 关于我们 | 联系客服"
FOOTER = "版权所有 © 2026 某某科技有限公司 京ICP备00000000号"
FORMATS = ("txt", "md", "html", "pdf", "docx")


def write_pdf(path: Path, paragraphs: list[str], width: int = 45) -> None:
    """A PDF of ``paragraphs``, wrapped at ``width`` characters a line."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    page = canvas.Canvas(str(path))
    page.setFont("STSong-Light", 11)
    y = 800
    for paragraph in paragraphs:
        for start in range(0, len(paragraph), width):
            if y < 40:
                page.showPage()
                page.setFont("STSong-Light", 11)
                y = 800
            page.drawString(40, y, paragraph[start:start + width])
            y -= 16
    page.save()


def write_docx(path: Path, paragraphs: list[str], title: str | None = None) -> None:
    """A Word document: an optional level-1 heading, then one paragraph each."""
    import docx

    document = docx.Document()
    if title:
        document.add_heading(title, level=1)
    for paragraph in paragraphs:
        document.add_paragraph(paragraph)
    document.save(str(path))


def html_page(paragraphs: list[str], title: str | None = None) -> str:
    """An HTML page with navigation and a footer around the policy's paragraphs."""
    heading = f"<h1>{title}</h1>" if title else ""
    return (f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>隐私政策</title></head><body>'
            f"<nav><a href=\"/\">{NAV}</a></nav><article>{heading}" + "".join(f"<p>{p}</p>" for p in paragraphs)
            + f"</article><footer>{FOOTER}</footer></body></html>")


def write_formats(text: str, folder: Path, stem: str) -> dict[str, Path]:
    """``text`` as ``stem.txt`` (GB18030), ``.md``, ``.html``, ``.pdf`` and ``.docx`` in ``folder``."""
    paragraphs = [p.strip() for p in text.splitlines() if p.strip()]
    paths = {kind: folder / f"{stem}.{kind}" for kind in FORMATS}
    paths["txt"].write_bytes(text.encode("gb18030", errors="replace"))
    paths["md"].write_text("\n\n".join(paragraphs), encoding="utf-8")
    paths["html"].write_text(html_page(paragraphs), encoding="utf-8")
    write_pdf(paths["pdf"], paragraphs)
    write_docx(paths["docx"], paragraphs)
    return paths


def source_offsets(source: str, extracted: str) -> np.ndarray:
    """For each offset of ``extracted`` (and its end), the matching offset in ``source``, or -1.

    Whitespace is ignored on both sides (readers re-flow lines); the remaining characters are
    aligned with :class:`difflib.SequenceMatcher`, so text a reader added (a page title) or
    dropped maps to -1 or to the nearest aligned character.
    """
    def visible(text: str) -> tuple[str, list[int]]:
        positions = [i for i, c in enumerate(text) if not c.isspace()]
        return "".join(text[i] for i in positions), positions

    source_chars, source_at = visible(source)
    extracted_chars, extracted_at = visible(extracted)
    mapping = np.full(len(extracted) + 1, -1, dtype=np.int64)
    matcher = difflib.SequenceMatcher(None, extracted_chars, source_chars, autojunk=False)
    for block in matcher.get_matching_blocks():
        for k in range(block.size):
            mapping[extracted_at[block.a + k]] = source_at[block.b + k]
    known = np.flatnonzero(mapping[:-1] >= 0)
    if len(known):  # whitespace and unmatched characters take the next matched character's offset
        following = np.searchsorted(known, np.arange(len(extracted)))
        following = np.minimum(following, len(known) - 1)
        gaps = mapping[:-1] < 0
        mapping[:-1][gaps] = mapping[known[following[gaps]]]
    mapping[-1] = len(source)
    return mapping
