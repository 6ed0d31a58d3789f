"""Loaders for the public reference corpora kept outside the repository.

The corpora (licences and citations in each corpus README) are read at run
time from a folder, by default ``../shared/corpora`` beside the checkout or
the folder named by ``NLPGUARD_CORPORA``. Nothing here is copied into the
repository. Each loader yields :class:`~nlpguard.data.Example` records that
keep the corpus id, so results can be traced back to the source.
"""
from __future__ import annotations

import gzip
import json
import os
import re
from pathlib import Path
from typing import Iterator

from .data import Example, bucket

CORPORA_ENV = "NLPGUARD_CORPORA"
# The fbs_spam_sms texts are anonymised with placeholders; give them plausible surface forms.
_FBS_PLACEHOLDERS = {"DIGIT": "8", "CELLPHONE": "13800000000", "PHONE": "95588", "URL": "http://t.cn/a8Kd",
                     "PLACE": "", "NAME": "王先生", "QQ": "12345678", "WECHAT": "vx888"}
_FBS_TOKEN = re.compile("(" + "|".join(_FBS_PLACEHOLDERS) + ")[a-z0-9]*")


def corpora_dir(explicit: str | Path | None = None) -> Path | None:
    """The corpora folder: ``explicit``, else $NLPGUARD_CORPORA, else ``../shared/corpora``; None if absent."""
    candidates = [explicit, os.environ.get(CORPORA_ENV), Path.cwd().parent / "shared" / "corpora",
                  Path(__file__).resolve().parent.parent.parent / "shared" / "corpora"]
    for candidate in candidates:
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    return None


def _rows(path: Path) -> Iterator[dict]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


def _find(root: Path, name: str) -> Path:
    for candidate in (root / name / f"{name}.jsonl", root / name / f"{name}.jsonl.gz"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"corpus {name!r} not found under {root}")


def nus_sms(root: Path) -> Iterator[Example]:
    """Real personal Chinese SMS (NUS SMS Corpus, Chen & Kan 2013): compliant messages."""
    for row in _rows(_find(root, "nus_sms_zh")):
        if row.get("text", "").strip():
            yield Example(row["id"], row["text"], [], source="nus_sms_zh")


def fbs_spam(root: Path) -> Iterator[Example]:
    """Real spam and fraud SMS (FBS, Zhang et al. CCS'20): compliant for nlpguard's labels."""
    for row in _rows(_find(root, "fbs_spam_sms")):
        text = _FBS_TOKEN.sub(lambda m: _FBS_PLACEHOLDERS[m.group(1)], row["text_joined"]).strip()
        if text:
            yield Example(row["id"], text, [], source="fbs_spam_sms", tags=[row.get("category", "")])


def cold_safe(root: Path) -> Iterator[Example]:
    """Non-offensive comments of COLD (Deng et al. 2022) that mention people: compliant hard negatives."""
    for row in _rows(_find(root, "cold")):
        if row.get("label") == 0 and row.get("text", "").strip():
            yield Example(row["id"], row["text"], [], source="cold")


MESSAGE_NEGATIVES = {"nus_sms_zh": nus_sms, "fbs_spam_sms": fbs_spam, "cold": cold_safe}


def corpus_split(example: Example) -> str:
    """The fixed split of a corpus record: 50 % train, 10 % dev, 40 % held out for measurement."""
    value = bucket(example.id, seed=7)
    return "train" if value < 0.5 else "dev" if value < 0.6 else "test"


def message_negatives(root: Path, split: str, names: tuple[str, ...] = ("nus_sms_zh", "fbs_spam_sms")) -> list[Example]:
    """Compliant real messages of one split from the named corpora (deduplicated by text)."""
    seen: set[str] = set()
    out = []
    for name in names:
        for example in MESSAGE_NEGATIVES[name](root):
            if corpus_split(example) == split and example.text not in seen:
                seen.add(example.text)
                out.append(example)
    return out
