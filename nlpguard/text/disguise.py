"""Recover disguised spellings (谐音, pinyin, initials, emoji) inside normalisation, keeping offsets.

The vocabulary is data: ``resources/disguises.json`` maps each plain term (曝光, 通讯录,
老赖 …) to hand-collected disguises (爆光, 通迅录, txl, 🔪 …). From each term of two or more
characters this module also generates, with pypinyin, its full pinyin with or without
spaces (tong xun lu, tongxunlu) and every mix of characters and pinyin syllables
(通xun录, bao光). Matching runs on normalised (lower-case, simplified) text; a Latin
form must not touch other Latin letters, so ``si`` inside ``simple`` never matches.
Each recovered term's characters keep offsets inside the disguised span of the original.
"""
from __future__ import annotations

import functools
import itertools
import re

from pypinyin import lazy_pinyin

from .resources import disguises

_MAX_MIXED = 4  # terms up to this length get every character/pinyin mix


def _table() -> tuple[dict[str, list[str]], set[str]]:
    data = disguises()
    return data["terms"], set(data.get("no_recovery", []))


@functools.lru_cache(maxsize=1)
def variants() -> dict[str, str]:
    """Disguised form (normalised) -> plain term, for every recoverable form."""
    terms, excluded = _table()
    forms: dict[str, str] = {}
    for term, listed in terms.items():
        for variant in listed:
            if variant not in excluded:
                forms.setdefault(variant.lower().replace(" ", ""), term)
        if len(term) < 2:
            continue
        syllables = lazy_pinyin(term)
        forms.setdefault("".join(syllables), term)
        if len(term) <= _MAX_MIXED:
            for mask in itertools.product((False, True), repeat=len(term)):
                if any(mask) and not all(mask):
                    forms.setdefault("".join(s if m else c for c, s, m in zip(term, syllables, mask)), term)
    return {form: term for form, term in forms.items() if form and form != term}


def _is_latin(char: str) -> bool:
    return char.isascii() and char.isalpha()


def _trie_regex(node: dict, previous: str, depth: int) -> str:
    """One regex for a trie of forms: shared prefixes are tried once, longer matches first."""
    branches = []
    for char in sorted(k for k in node if k != ""):
        body = (r"\s?" if depth else "") + re.escape(char) + _trie_regex(node[char], char, depth + 1)
        if depth == 0 and _is_latin(char):
            body = r"(?<![a-z])" + body  # a Latin form never starts inside a Latin word
        branches.append(body)
    if "" in node:  # a form ends here; a Latin ending must not run on into more letters
        branches.append(r"(?![a-z])" if _is_latin(previous) else "")
    if len(branches) == 1:
        return branches[0]
    return "(?:" + "|".join(branches) + ")"


@functools.lru_cache(maxsize=1)
def _pattern() -> re.Pattern:
    trie: dict = {}
    for form in variants():
        node = trie
        for char in form:
            node = node.setdefault(char, {})
        node[""] = {}
    return re.compile(_trie_regex(trie, "", 0))


def has_disguise(text: str) -> bool:
    """True when normalised ``text`` contains a form that :func:`recover` may replace."""
    return _pattern().search(text) is not None


def recover(pairs: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """Replace disguised forms in ``(char, original offset)`` pairs by their plain term."""
    text = "".join(c for c, _ in pairs)
    out: list[tuple[str, int]] = []
    last = 0
    forms = variants()
    for match in _pattern().finditer(text):
        term = forms.get(match.group().replace(" ", ""))
        if term is None:
            continue
        out.extend(pairs[last:match.start()])
        span = pairs[match.start():match.end()]
        for k, char in enumerate(term):
            position = 0 if len(term) == 1 else round(k * (len(span) - 1) / (len(term) - 1))
            out.append((char, span[position][1]))
        last = match.end()
    out.extend(pairs[last:])
    return out
