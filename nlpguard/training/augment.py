"""Perturbations that disguise text the way evasive senders do.

Used to build obfuscated variants of the authored corpus and, at training and
evaluation time, to measure and improve robustness. Every perturbation takes a
text and a ``random.Random`` and returns the disguised text, or ``None`` when
it does not apply (nothing to change). The hand-collected disguises live in
``resources/disguises.json``; pinyin comes from pypinyin.
"""
from __future__ import annotations

import functools
import random
import re
from typing import Callable

import opencc
from pypinyin import Style, lazy_pinyin

from ..text.resources import disguises


@functools.lru_cache(maxsize=1)
def disguise_table() -> dict[str, list[str]]:
    """Plain term -> hand-collected disguised spellings, longest terms first."""
    terms = disguises()["terms"]
    return dict(sorted(terms.items(), key=lambda item: -len(item[0])))


@functools.lru_cache(maxsize=1)
def _s2t() -> opencc.OpenCC:
    return opencc.OpenCC("s2t")


def _terms_in(text: str) -> list[str]:
    return [term for term in disguise_table() if term in text]


def homophone(text: str, rng: random.Random) -> str | None:
    """Replace one or two known terms by a hand-collected disguise (爆光, 通迅录, txl, sb …)."""
    terms = _terms_in(text)
    if not terms:
        return None
    for term in rng.sample(terms, min(len(terms), rng.choice((1, 2)))):
        text = text.replace(term, rng.choice(disguise_table()[term]), 1)
    return text


def pinyin(text: str, rng: random.Random) -> str | None:
    """Write one known term in pinyin, full (tong xun lu) or initials (txl)."""
    terms = _terms_in(text)
    if not terms:
        return None
    term = rng.choice(terms)
    syllables = lazy_pinyin(term, style=Style.FIRST_LETTER if rng.random() < 0.4 else Style.NORMAL)
    joined = "".join(syllables) if len(syllables[0]) == 1 else " ".join(syllables)
    return text.replace(term, joined, 1)


_CJK_RUN = re.compile(r"[\u4e00-\u9fff]{3,}")


def spaced(text: str, rng: random.Random) -> str | None:
    """Split the characters of a known term (or of a CJK run) with spaces or symbols: 通 讯 录."""
    terms = _terms_in(text) or [m.group()[:4] for m in _CJK_RUN.finditer(text)]
    if not terms:
        return None
    term = rng.choice(terms)
    return text.replace(term, rng.choice((" ", " ", "*", "-", "·")).join(term), 1)


def traditional(text: str, rng: random.Random) -> str | None:
    """Convert the whole text to traditional characters."""
    converted = _s2t().convert(text)
    return converted if converted != text else None


def fullwidth(text: str, rng: random.Random) -> str | None:
    """Write ASCII letters and digits full-width (ＡＢＣ１２３)."""
    converted = "".join(chr(ord(c) + 0xFEE0) if c.isascii() and c.isalnum() else c for c in text)
    return converted if converted != text else None


def zero_width(text: str, rng: random.Random) -> str | None:
    """Hide zero-width spaces inside a known term or CJK run."""
    terms = _terms_in(text) or [m.group()[:4] for m in _CJK_RUN.finditer(text)]
    if not terms:
        return None
    term = rng.choice(terms)
    return text.replace(term, "\u200b".join(term), 1)


PERTURBATIONS: dict[str, Callable[[str, random.Random], str | None]] = {
    "homophone": homophone, "pinyin": pinyin, "spaced": spaced,
    "traditional": traditional, "fullwidth": fullwidth, "zero_width": zero_width,
}


def disguise_example(example, rng: random.Random):
    """A copy of a labelled :class:`~nlpguard.training.data.Example` under one applicable perturbation, or None.

    Families are tried in random order; the copy keeps the labels and the group (so it never
    lands in another split than its source) and is tagged ``obfuscated`` or ``traditional``.
    """
    from .data import Example

    names = list(PERTURBATIONS)
    rng.shuffle(names)
    for name in names:
        text = PERTURBATIONS[name](example.text, rng)
        if text and text != example.text:
            tag = "traditional" if name == "traditional" else "obfuscated"
            return Example(f"{example.id}~{name}", text, list(example.labels), group=example.group,
                           source=f"variant:{name}", tags=sorted({*example.tags, tag}), extra={"variant_of": [example.id]})
    return None
