"""Split texts into scoring units, keeping character spans in the original.

Messages are split into sentences; agreements into clauses (numbered items,
sentences ending in 。；！？, lines). Every unit is a :class:`Span` whose
``start``/``end`` index the text that was split, so evidence can be cited.
"""
from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, replace

_SENTENCE_END = re.compile(r"[^。！？!?；;…\n]*(?:[。！？!?；;…]+[」』”’)）*_]*|\n|$)")
# Start of a numbered clause: 第十二条 / 一、 / （三） / (3) / 1. / 1.2 / 1、 / ① / • -
_ITEM_START = re.compile(
    r"(?m)^[ \t\u3000]*(?:第[一二三四五六七八九十百零〇\d]+[条章节款项]|[一二三四五六七八九十]+[、.．]"
    r"|[（(][一二三四五六七八九十\d]+[）)]|\d+(?:\.\d+)*[、.．)）]?(?=\s|[\u4e00-\u9fff])"
    r"|[\u2460-\u2473\u3251-\u325f]|[•·\-\*■●◆▪])"
)
_MIN_UNIT_CHARS = 6
_LEAD_IN_CHARS = 10  # a clause lead-in ending in a colon shorter than this joins the clause after it
# A heading: one short line without sentence punctuation (一、总则 / 第三章 … / ## … / 隐私政策).
_HEADING_LINE = re.compile(r"(?m)^[ \t\u3000#*]*([^\n。！？!?；;，,：:]{2,30}?)[ \t\u3000*]*$")


@dataclass(frozen=True)
class Span:
    """A unit of text: its position ``[start, end)`` in the source and its text."""

    start: int
    end: int
    text: str
    heading: str = ""


def _trimmed(text: str, start: int, end: int) -> Span | None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return Span(start, end, text[start:end]) if end > start else None


def _is_separator(span: Span) -> bool:
    """A line of no letter, digit or ideograph (``==========``, ``---|---``, ``**``): not a clause."""
    return not any(c.isalnum() for c in span.text)


def _is_lead_in(span: Span) -> bool:
    """A clause fragment that cannot stand alone: a short lead-in ending in a colon (``这些信息包括：``)."""
    text = span.text.strip()
    return len(text) < _LEAD_IN_CHARS and text.endswith(("：", ":"))


def _merge_short(text: str, spans: list[Span], min_chars: int, lead_ins: bool = False) -> list[Span]:
    """Merge fragments shorter than ``min_chars`` (and, with ``lead_ins``, short colon lead-ins) into
    the following unit (or the previous one); with ``lead_ins``, separator lines are left out and a
    fragment just above one stays a unit of its own."""
    merged: list[Span] = []
    pending: Span | None = None
    for span in spans:
        if lead_ins and _is_separator(span):
            if pending is not None:  # a short line above a separator (a heading) stands alone
                merged.append(pending)
                pending = None
            continue
        if pending is not None:
            span = Span(pending.start, span.end, text[pending.start:span.end])
            pending = None
        if len(span.text) < min_chars or (lead_ins and _is_lead_in(span)):
            pending = span
            continue
        merged.append(span)
    if pending is not None:
        if merged:
            last = merged.pop()
            pending = Span(last.start, pending.end, text[last.start:pending.end])
        merged.append(pending)
    return merged


def split_sentences(text: str, min_chars: int = _MIN_UNIT_CHARS) -> list[Span]:
    """Split ``text`` into sentences at 。！？!?；; … and line breaks.

    Fragments shorter than ``min_chars`` characters are merged into a neighbour,
    so a lone "好的。" does not become a unit of its own. A text without any
    boundary is one span (trimmed of surrounding whitespace).
    """
    spans = []
    for match in _SENTENCE_END.finditer(text):
        span = _trimmed(text, match.start(), match.end())
        if span is not None:
            spans.append(span)
    return _merge_short(text, spans, min_chars)


def split_clauses(document: str, min_chars: int = _MIN_UNIT_CHARS) -> list[Span]:
    """Split an agreement into clauses: numbered items first, then sentences.

    A clause boundary falls at each line that starts a numbered item
    (第X条, 一、, （一）, 1., 1.1, ①, bullets) and at every sentence end
    inside an item; short fragments such as a bare item number are merged into
    the text that follows them, and so are short lead-ins ending in a colon (``这些信息包括：``);
    separator lines (``==========``) belong to no clause.
    """
    starts = sorted({0, *(m.start() for m in _ITEM_START.finditer(document))})
    spans: list[Span] = []
    for begin, finish in zip(starts, starts[1:] + [len(document)]):
        block = document[begin:finish]
        for sentence in split_sentences(block, min_chars=1):
            spans.append(Span(begin + sentence.start, begin + sentence.end, sentence.text))
    return _with_headings(document, _merge_short(document, spans, min_chars, lead_ins=True))


def starts_item(line: str) -> bool:
    """True when ``line`` begins a numbered or bulleted item (第X条, 一、, （一）, 1.1, ①, •)."""
    return bool(_ITEM_START.match(line))


def headings_of(document: str) -> list[tuple[int, str]]:
    """``(offset, heading)`` for every heading-like line: short, no sentence punctuation."""
    return [(m.start(1), m.group(1).strip()) for m in _HEADING_LINE.finditer(document)
            if any(c.isalnum() for c in m.group(1))]  # a separator line (=====) is no heading


def _with_headings(document: str, spans: list[Span]) -> list[Span]:
    """Give each clause the nearest heading line at or before it (its section) as context."""
    headings = headings_of(document)
    offsets = [offset for offset, _ in headings]
    out = []
    for span in spans:
        k = bisect.bisect_right(offsets, span.start + max(0, len(span.text) - len(span.text.lstrip())))
        while k > 0 and headings[k - 1][1] == span.text.strip():
            k -= 1  # a heading is not its own section
        out.append(replace(span, heading=headings[k - 1][1]) if k else span)
    return out
