"""Read agreement documents (.txt .md .html .pdf .docx) into plain text.

Each reader returns the text that clause offsets refer to. Text files are
decoded by :func:`decode_bytes` (UTF-8, UTF-16 with BOM, else the encoding
charset-normalizer detects, e.g. GBK/GB18030); HTML keeps the main text only
(trafilatura); PDF and DOCX use pypdf and python-docx.
"""
from __future__ import annotations

import io
from html.parser import HTMLParser
from pathlib import Path

from charset_normalizer import from_bytes

from ..errors import DocumentError

DOCUMENT_SUFFIXES = (".txt", ".md", ".html", ".htm", ".pdf", ".docx")
MAX_DOCX_INFLATED_BYTES = 200 * 1024 * 1024  # all members of a .docx together, uncompressed
_LINE_END = tuple("。！？!?；;：:」』”）)")


def decode_bytes(data: bytes) -> str:
    """Decode text bytes: UTF-8 (with or without BOM), UTF-16 with BOM, else the detected encoding."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    best = from_bytes(data).best()
    if best is None:
        raise DocumentError("undecodable bytes: not UTF-8/UTF-16 and no other encoding fits")
    return str(best)


class _PlainText(HTMLParser):
    """Every text node of an HTML page outside script/style, one block per line (no nesting limit)."""

    _SKIP = {"script", "style", "noscript", "template"}
    _BLOCKS = {"p", "div", "li", "tr", "br", "h1", "h2", "h3", "h4", "h5", "h6", "section", "article", "td", "table"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.skipping += tag in self._SKIP
        if tag in self._BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        self.skipping -= tag in self._SKIP and self.skipping > 0

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(data)


def _plain_html_text(html: str) -> str:
    parser = _PlainText()
    parser.feed(html)
    parser.close()
    return "\n".join(line.strip() for line in "".join(parser.parts).splitlines() if line.strip())


def _html(data: bytes) -> str:
    """The main text (trafilatura, without navigation and footers); where it finds none — e.g. in
    pages nested deeper than lxml parses — every text node, so no document loses its text."""
    import trafilatura

    html = decode_bytes(data)
    text = trafilatura.extract(html, include_comments=False, include_tables=True, favor_recall=True)
    if not text:
        text = _plain_html_text(html)
    if not text:
        raise DocumentError("no text found in the HTML")
    return text


def repair_wrapped_lines(text: str) -> str:
    """Join lines that a PDF wrapped inside a sentence.

    A line is a wrap when it is about as long as the page's full lines (at least 85 % of the
    90th-percentile line length), does not end a sentence, and the next line does not start
    a numbered item. Latin words split across lines get a space back.
    """
    from .segment import starts_item

    lines = text.split("\n")
    lengths = sorted(len(line.strip()) for line in lines if line.strip())
    if len(lengths) < 5:
        return text
    full = 0.85 * lengths[int(0.9 * (len(lengths) - 1))]
    out = []
    for k, line in enumerate(lines):
        out.append(line)
        following = lines[k + 1] if k + 1 < len(lines) else ""
        wrapped = (len(line.strip()) >= full and not line.rstrip().endswith(_LINE_END) and following.strip()
                   and not starts_item(following))
        if k + 1 < len(lines):
            out.append((" " if line[-1:].isascii() and line[-1:].isalnum() and following[:1].isalnum() else "")
                       if wrapped else "\n")
    return "".join(out)


def _pdf(data: bytes) -> str:
    import logging

    from pypdf import PdfReader

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # the error record says what is wrong

    try:
        pages = [page.extract_text() or "" for page in PdfReader(io.BytesIO(data)).pages]
    except Exception as exc:  # pypdf raises many types for damaged files
        raise DocumentError(f"unreadable PDF ({exc})") from exc
    return repair_wrapped_lines("\n".join(pages))


def _docx(data: bytes) -> str:
    import zipfile

    import docx

    try:
        inflated = sum(member.file_size for member in zipfile.ZipFile(io.BytesIO(data)).infolist())
    except (zipfile.BadZipFile, ValueError) as exc:
        raise DocumentError(f"unreadable DOCX ({exc})") from exc
    if inflated > MAX_DOCX_INFLATED_BYTES:  # checked before anything is inflated
        raise DocumentError(f"DOCX inflates to {inflated:,} bytes, over the limit of {MAX_DOCX_INFLATED_BYTES:,}")
    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as exc:  # python-docx raises zip/xml errors for damaged files
        raise DocumentError(f"unreadable DOCX ({exc})") from exc
    return "\n".join(p.text for p in document.paragraphs)


def _check_suffix(suffix: str) -> str:
    """``suffix`` in lower case; DocumentError when it is not a document type."""
    suffix = suffix.lower()
    if suffix not in DOCUMENT_SUFFIXES:
        raise DocumentError(f"unsupported document type {suffix or '(none)'}; supported: {' '.join(DOCUMENT_SUFFIXES)}")
    return suffix


def document_text(data: bytes, suffix: str) -> str:
    """The text of a document's bytes, read as the type ``suffix`` names (``.txt``, ``.pdf`` …).

    Raises:
        DocumentError: unsupported type, undecodable or empty document, or any failure of the
            reader for its type (named with its cause).
    """
    suffix = _check_suffix(suffix)
    readers = {".html": _html, ".htm": _html, ".pdf": _pdf, ".docx": _docx}
    try:
        text = readers.get(suffix, decode_bytes)(data)
    except DocumentError:
        raise
    except Exception as exc:  # a reader's own failure is this document's error, not the batch's
        raise DocumentError(f"cannot read {suffix.lstrip('.').upper()} ({type(exc).__name__}: {exc})") from exc
    if not text.strip():
        raise DocumentError("document has no text")
    return text


def read_document(path: str | Path) -> str:
    """The text of one document, chosen by file suffix (see :func:`document_text`).

    Raises:
        DocumentError: unreadable, undecodable, unsupported or empty document, or any
            failure of the reader for its type (named with its cause).
    """
    path = Path(path)
    _check_suffix(path.suffix)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DocumentError(f"cannot read file ({exc.strerror})") from exc
    return document_text(data, path.suffix)
