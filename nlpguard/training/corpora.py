"""Loaders for the public reference corpora kept outside the repository.

The corpora (licences and citations in each corpus README) are read at run
time from a folder, by default ``../shared/corpora`` beside the checkout or
the folder named by ``NLPGUARD_CORPORA``. Nothing here is copied into the
repository. Each loader yields :class:`~nlpguard.training.data.Example` records that
keep the corpus id, so results can be traced back to the source.
"""
from __future__ import annotations

import gzip
import json
import os
import re
from pathlib import Path
from typing import Iterator

import numpy as np
from sklearn.feature_extraction.text import HashingVectorizer

from .data import REPOSITORY, Example, bucket
from ..text.normalize import normalize_text
from ..io.segment import split_clauses

CORPORA_ENV = "NLPGUARD_CORPORA"
# The fbs_spam_sms texts are anonymised with placeholders; give them plausible surface forms.
_FBS_PLACEHOLDERS = {"DIGIT": "8", "CELLPHONE": "13800000000", "PHONE": "95588", "URL": "http://t.cn/a8Kd",
                     "PLACE": "", "NAME": "王先生", "QQ": "12345678", "WECHAT": "vx888"}
_FBS_TOKEN = re.compile("(" + "|".join(_FBS_PLACEHOLDERS) + ")[a-z0-9]*")


def corpora_dir(explicit: str | Path | None = None) -> Path | None:
    """The corpora folder: ``explicit``, else $NLPGUARD_CORPORA, else ``../shared/corpora``; None if absent."""
    candidates = [explicit, os.environ.get(CORPORA_ENV), Path.cwd().parent / "shared" / "corpora",
                  REPOSITORY.parent / "shared" / "corpora"]
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


def _capp_example(row: dict, labels: list[str]) -> Example:
    """A capp130 sentence as an Example grouped by its policy (one place, so every split agrees)."""
    return Example(row["id"], row["text"], labels, group=f"capp:{row.get('app_name') or row['policy_file']}",
                   source="capp130", tags=["risk"] if row.get("is_risk") else [])


def policy_clauses(root: Path) -> Iterator[Example]:
    """Real privacy-policy clauses: capp130 sentences and ca4p483 documents split into clauses.

    Ids are stable: ``capp-rw_N-IIII`` (capp130) and ``ca4p-DOC:START-END`` (offsets into
    the ca4p483 document text). ``group`` is the source document, so splits by group
    keep documents whole; capp130 sentences annotated as risky carry the tag ``risk``.
    """
    for row in _rows(root / "capp130" / "capp130_sentences.jsonl"):
        if row.get("text", "").strip():
            yield _capp_example(row, [])
    for row in _rows(_find(root, "ca4p483")):
        for clause in split_clauses(row["text"]):
            yield Example(f"ca4p-{row['doc_id']}:{clause.start}-{clause.end}", clause.text, [],
                          group=f"ca4p:{row['doc_id']}", source="ca4p483")


def _overlay(directory: Path) -> dict[str, list[str]]:
    labels: dict[str, list[str]] = {}
    for path in sorted(Path(directory).glob("labels_*.jsonl")):
        for number, line in enumerate(open(path, encoding="utf-8"), start=1):
            if line.strip():
                row = json.loads(line)
                if row["id"] in labels:
                    raise ValueError(f"{path}:{number}: id {row['id']!r} labelled twice")
                labels[row["id"]] = list(row["labels"])
    return labels


def real_clauses(root: Path, overlay_dir: str | Path) -> list[Example]:
    """Hand-labelled real policy clauses: the label overlay in ``overlay_dir`` joined with corpus text.

    The overlay files (``labels_*.jsonl``: ``{"id", "labels"}``) hold no text; capp130 ids are
    looked up in its sentence file and ``ca4p-DOC:START-END`` ids are sliced from the document.
    ``group`` is the source document, so splits keep documents whole.

    Raises:
        KeyError: an overlay id that the corpora do not contain.
    """
    labels = _overlay(Path(overlay_dir))
    wanted_docs = {key.split(":")[0][len("ca4p-"):] for key in labels if key.startswith("ca4p-")}
    found: dict[str, Example] = {}
    for row in _rows(root / "capp130" / "capp130_sentences.jsonl"):
        if row["id"] in labels:
            found[row["id"]] = _capp_example(row, labels[row["id"]])
    for row in _rows(_find(root, "ca4p483")):
        if row["doc_id"] not in wanted_docs:
            continue
        prefix = f"ca4p-{row['doc_id']}:"
        for key in (k for k in labels if k.startswith(prefix)):
            start, end = (int(n) for n in key[len(prefix):].split("-"))
            found[key] = Example(key, row["text"][start:end], labels[key], source="ca4p483", group=f"ca4p:{row['doc_id']}",
                                 extra={"start": start, "end": end})
    missing = [key for key in labels if key not in found]
    if missing:
        raise KeyError(f"{len(missing)} labelled clause id(s) not in the corpora under {root}, e.g. {missing[:3]}")
    return [found[key] for key in labels]


def real_clause_split(example: Example) -> str:
    """The fixed split of a real clause by its document: 70 % train, 15 % dev, 15 % test."""
    value = bucket(example.group, seed=11)
    return "test" if value < 0.15 else "dev" if value < 0.30 else "train"


def _shingles(texts: list[str], size: int = 5):
    vectorizer = HashingVectorizer(analyzer="char", ngram_range=(size, size), binary=True, norm=None,
                                   alternate_sign=False, n_features=2**22)
    matrix = vectorizer.transform([normalize_text(t) for t in texts]).tocsr()
    matrix.data[:] = 1
    return matrix


def _close_pairs(texts: list[str], references: list[str], level: float,
                 size: int = 5) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(text rows, reference rows) of the pairs with character ``size``-gram Jaccard >= ``level``, in blocks."""
    mine, theirs = _shingles(texts, size), _shingles(references, size)
    my_sizes, their_sizes = np.asarray(mine.sum(axis=1)).ravel(), np.asarray(theirs.sum(axis=1)).ravel()
    for begin in range(0, len(texts), 2000):
        shared = (mine[begin:begin + 2000] @ theirs.T).tocoo()
        union = my_sizes[begin + shared.row] + their_sizes[shared.col] - shared.data
        close = shared.data >= level * np.maximum(union, 1)
        yield begin + shared.row[close], shared.col[close]


def near_copies(texts: list[str], references: list[str], level: float = 0.5, size: int = 5) -> np.ndarray:
    """For each text, whether some reference has character ``size``-gram Jaccard >= ``level`` with it (normalised)."""
    hit = np.zeros(len(texts), dtype=bool)
    if texts and references:
        for rows, _ in _close_pairs(texts, references, level, size):
            hit[rows] = True
    return hit


def near_copy_pairs(texts: list[str], level: float = 0.8, size: int = 5) -> list[tuple[int, int]]:
    """Index pairs ``(i, j)``, ``i < j``, of ``texts`` whose normalised character ``size``-gram Jaccard is >= ``level``."""
    pairs: list[tuple[int, int]] = []
    for rows, columns in _close_pairs(texts, texts, level, size) if texts else ():
        pairs += [(int(i), int(j)) for i, j in zip(rows, columns) if i < j]
    return sorted(pairs)


def real_clause_splits(examples: list[Example]) -> tuple[dict[str, list[Example]], int]:
    """Real clauses split by document, with no near-copy of a dev or test clause left in train.

    Policies share boilerplate across documents, so a document split alone leaves test
    clauses with copies in train. Training clauses whose normalised text has character
    5-gram Jaccard >= 0.5 with any dev/test clause are dropped; returns the splits and how
    many were dropped.
    """
    splits: dict[str, list[Example]] = {"train": [], "dev": [], "test": []}
    for example in examples:
        splits[real_clause_split(example)].append(example)
    held_out = [e.text for e in splits["dev"] + splits["test"]]
    close = near_copies([e.text for e in splits["train"]], held_out)
    splits["train"] = [e for e, copy in zip(splits["train"], close) if not copy]
    return splits, int(close.sum())


def real_documents(root: Path, overlay_dir: str | Path,
                   labelled: list[Example] | None = None) -> list[tuple[str, str, list[Example]]]:
    """Whole real policies labelled clause by clause: ``(document id, text, clauses)`` per document.

    The documents are listed in ``documents.json`` beside the overlay (all in the real test
    split); their clauses' labels are in the overlay and carry ``extra["start"/"end"]``
    offsets into the document text. ``labelled`` passes overlay clauses already joined with
    their text (the test split holds every clause of these documents); by default the overlay
    is read here. An overlay without that file gives an empty list.
    """
    listing = Path(overlay_dir) / "documents.json"
    if not listing.is_file():
        return []
    wanted = json.loads(listing.read_text(encoding="utf-8"))["documents"]
    labelled = real_clauses(root, overlay_dir) if labelled is None else labelled
    clauses = [e for e in labelled if e.group in {f"ca4p:{d}" for d in wanted}]
    texts = {row["doc_id"]: row["text"] for row in _rows(_find(root, "ca4p483")) if row["doc_id"] in wanted}
    return [(doc, texts[doc], sorted((c for c in clauses if c.group == f"ca4p:{doc}"), key=lambda c: c.extra["start"]))
            for doc in wanted]
