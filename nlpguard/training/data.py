"""Labelled data files: JSON Lines ``{"id", "text", "labels": [...]}`` plus optional fields.

:func:`validate_file` lists every problem of a file, naming the line;
:func:`read_examples` returns the records of a valid file or raises
:class:`~nlpguard.errors.DataError` with those problems. :func:`group_split`
makes reproducible splits in which all variants of one source text (one
``group``) fall into the same split.
"""
from __future__ import annotations

import hashlib
import json
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import DataError
from ..io.inputs import parse_jsonl_line
from ..taxonomy import TASKS, task_labels

SPLITS = ("train", "dev", "test")
REPOSITORY = Path(__file__).resolve().parents[2]  # the checkout the package runs from (data/, ../shared)
REVIEW_SOURCE = "review"  # the ``source`` of records exported from reviewers' corrections (nlpguard.apps.feedback)


def in_repository(path: str | Path) -> Path:
    """``path`` as given when it is absolute or exists from the working directory, else inside the repository.

    So the project's default paths (``data/real_clauses``, ``data/clauses/test.jsonl``) name
    the checkout's files from any working directory, and behave as before from its root.
    """
    path = Path(path)
    return path if path.is_absolute() or path.exists() else REPOSITORY / path


@dataclass
class Example:
    """One labelled text."""

    id: str
    text: str
    labels: list[str]
    group: str = ""
    source: str = ""
    tags: list[str] = field(default_factory=list)
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """The record as written to a data file (optional fields only when set)."""
        record = {"id": self.id, "text": self.text, "labels": self.labels}
        if self.group:
            record["group"] = self.group
        if self.source:
            record["source"] = self.source
        if self.tags:
            record["tags"] = self.tags
        record.update(self.extra)
        return record


def infer_task(labels: set[str]) -> str | None:
    """The task whose label set contains all of ``labels`` (None when empty or mixed)."""
    for task in TASKS:
        if labels and labels <= set(task_labels(task)):
            return task
    return None


def _parse(path: Path, allowed: set[str] | None, allow_duplicates: bool = False) -> tuple[list[Example], list[str]]:
    examples: list[Example] = []
    problems: list[str] = []
    seen_ids: dict[str, int] = {}
    seen_texts: dict[str, int] = {}
    known = {label for task in TASKS for label in task_labels(task)}
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            where = f"{path}:{number}"
            record, problem = parse_jsonl_line(raw, number == 1)
            if problem:
                problems.append(f"{where}: {problem}")
            if record is None:
                continue
            text, labels, rid = record.get("text"), record.get("labels"), record.get("id")
            if not isinstance(text, str) or not text.strip():
                problems.append(f"{where}: 'text' is missing, empty or not a string")
                continue
            if rid is None or isinstance(rid, (dict, list)) or str(rid) == "":
                problems.append(f"{where}: 'id' is missing or not a string/number")
                continue
            rid = str(rid)
            if not isinstance(labels, list) or not all(isinstance(l, str) for l in labels):
                problems.append(f"{where}: 'labels' must be a list of label ids ([] for compliant)")
                continue
            unknown = [l for l in labels if l not in (allowed if allowed is not None else known)]
            if unknown:
                problems.append(f"{where}: unknown label(s) {unknown}")
            if len(set(labels)) != len(labels):
                problems.append(f"{where}: repeated label in {labels}")
            if rid in seen_ids:
                problems.append(f"{where}: duplicate id {rid!r} (first on line {seen_ids[rid]})")
            seen_ids.setdefault(rid, number)
            if record.get("source") != REVIEW_SOURCE:  # reviews of one text may repeat: apply_reviews picks one
                if text in seen_texts and not allow_duplicates:
                    problems.append(f"{where}: duplicate text (first on line {seen_texts[text]})")
                seen_texts.setdefault(text, number)
            extra = {k: v for k, v in record.items() if k not in ("id", "text", "labels", "group", "source", "tags")}
            examples.append(Example(rid, text, labels, str(record.get("group") or ""), str(record.get("source") or ""),
                                    list(record.get("tags") or []), extra))
    return examples, problems


def _checked(path: Path, task: str | None, extra_labels: list[str] | None,
             allow_duplicates: bool = False) -> tuple[list[Example], list[str]]:
    if not path.is_file():
        return [], [f"{path}: no such file"]
    allowed = set(task_labels(task)) | set(extra_labels or []) if task else None
    examples, problems = _parse(path, allowed, allow_duplicates)
    if task is None and not problems:
        used = {l for e in examples for l in e.labels}
        if used and infer_task(used) is None:
            problems.append(f"{path}: labels of more than one task {sorted(used)}")
    return examples, problems


def validate_file(path: str | Path, task: str | None = None, extra_labels: list[str] | None = None) -> list[str]:
    """Every problem of a data file, each naming ``FILE:LINE``; empty when the file is valid.

    With ``task`` the labels must belong to that task (plus ``extra_labels``);
    without it, to the taxonomy, and all to one task.
    """
    return _checked(Path(path), task, extra_labels)[1]


def _first_problems(problems: list[str]) -> str:
    """The first ten problems joined, and how many more there are."""
    return "; ".join(problems[:10]) + (f" (and {len(problems) - 10} more)" if len(problems) > 10 else "")


def _raise_problems(problems: list[str]) -> None:
    if not problems:
        return
    hint = ("; to drop repeated texts (first kept) train with --dedupe or \"dedupe\": true in the config"
            if any("duplicate text" in p for p in problems) else "")
    if any("unknown label" in p for p in problems):
        hint += ("; to train with labels of your own, declare them with --labels a,b and --label-descriptions FILE "
                 "(or \"labels\" and \"label_descriptions\" in the config, see training/configs/custom_labels.json); "
                 "evaluate and data validate take a model's labels with --model")
    raise DataError(_first_problems(problems) + hint)


def read_examples(path: str | Path, task: str | None = None, extra_labels: list[str] | None = None,
                  allow_duplicates: bool = False) -> list[Example]:
    """Read a valid data file; raise DataError listing the first problems otherwise.

    With ``allow_duplicates`` a repeated text is not a problem (see :func:`drop_duplicates`).
    """
    examples, problems = _checked(Path(path), task, extra_labels, allow_duplicates)
    _raise_problems(problems)
    return examples


def drop_duplicates(examples: list[Example], source: str = "") -> tuple[list[Example], int]:
    """Keep the first record of each text; return the kept records and how many were dropped.

    Raises:
        DataError: one text carries different label sets in two records (both named).
    """
    first: dict[str, Example] = {}
    kept, conflicts = [], []
    for example in examples:
        seen = first.get(example.text)
        if seen is None:
            first[example.text] = example
            kept.append(example)
        elif sorted(seen.labels) != sorted(example.labels):
            conflicts.append(f"{source}: records {seen.id!r} and {example.id!r} have the same text but different "
                             f"labels {sorted(seen.labels)} vs {sorted(example.labels)}")
    if conflicts:
        raise DataError(_first_problems(conflicts))
    return kept, len(examples) - len(kept)


def text_key(text: str) -> str:
    """The form under which two texts count as the same: NFKC, whitespace runs as one space, stripped."""
    return " ".join(unicodedata.normalize("NFKC", text).split())


def is_review_file(source: str | Path) -> bool:
    """Whether ``source`` is a JSON Lines file whose first record is a reviewer's (``source: review``)."""
    path = Path(source)
    if path.suffix.lower() != ".jsonl" or not path.is_file():
        return False
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            record, problem = parse_jsonl_line(raw, number == 1)
            if record is not None or problem:
                return record is not None and record.get("source") == REVIEW_SOURCE
    return False


@dataclass
class ReviewMerge:
    """What :func:`apply_reviews` did: reviewed texts, corpus records relabelled or confirmed, texts added."""

    reviewed: int = 0
    overridden: int = 0
    confirmed: int = 0
    added: int = 0


def apply_reviews(splits: dict[str, list[Example]], reviews: list[Example]) -> ReviewMerge:
    """Merge reviewers' records (``source: review``) into ``splits`` in place; reviewed labels win.

    Texts are compared by :func:`text_key`. Of several reviews of one text the latest
    (``reviewed_at``, else the later in the files) decides. A corpus record with a reviewed
    text takes the reviewed labels in whichever split it is (``overridden`` when they differ,
    ``confirmed`` when not), so no reviewed text moves between splits; a reviewed text the
    corpus lacks is added to ``train``. Corpus records that disagree among themselves are
    :func:`drop_duplicates`' concern, not this one's.
    """
    latest: dict[str, tuple[tuple[str, int], Example]] = {}
    for order, review in enumerate(reviews):
        key = text_key(review.text)
        stamp = (str(review.extra.get("reviewed_at") or ""), order)
        if key not in latest or stamp >= latest[key][0]:
            latest[key] = (stamp, review)
    verdicts = {key: review for key, (_, review) in latest.items()}
    merge = ReviewMerge(reviewed=len(verdicts))
    matched: set[str] = set()
    for split in SPLITS:
        for example in splits.get(split, []):
            review = verdicts.get(text_key(example.text))
            if review is None:
                continue
            matched.add(text_key(example.text))
            if sorted(example.labels) == sorted(review.labels):
                merge.confirmed += 1
            else:
                merge.overridden += 1
                example.labels = list(review.labels)
    added = [review for key, review in verdicts.items() if key not in matched]
    splits.setdefault("train", []).extend(added)
    merge.added = len(added)
    return merge


def write_examples(path: str | Path, examples: list[Example]) -> None:
    """Write examples as JSON Lines (UTF-8, one object per line)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        for example in examples:
            handle.write(json.dumps(example.to_dict(), ensure_ascii=False) + "\n")


def bucket(key: str, seed: int = 0) -> float:
    """A stable number in [0, 1) for ``key``: the same on every machine and Python run."""
    digest = hashlib.sha256(f"{seed}:{key}".encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def group_split(examples: list[Example], dev: float = 0.1, test: float = 0.1, seed: int = 0) -> dict[str, list[Example]]:
    """Split by ``group`` (or ``id`` when a record has none) so that no group straddles splits."""
    splits: dict[str, list[Example]] = {name: [] for name in SPLITS}
    for example in examples:
        value = bucket(example.group or example.id, seed)
        name = "test" if value < test else "dev" if value < test + dev else "train"
        splits[name].append(example)
    return splits


def _label_list(value: object, where: str) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value]
    if isinstance(value, str):
        return [part.strip() for part in value.replace(",", ";").split(";") if part.strip()]
    if value is None:
        return []
    raise DataError(f"{where}: labels must be a list or a ';'-separated string, got {type(value).__name__}")


def check_any(source: str | Path, task: str, labels: list[str], text_column: str = "text",
              label_column: str = "labels", group_column: str = "group",
              allow_duplicates: bool = False) -> tuple[list[Example], list[str]]:
    """The examples of a researcher's labelled corpus and every problem found, each naming its record.

    ``source`` is a ``.jsonl`` or ``.csv`` file, a folder written by ``datasets``'
    ``save_to_disk``, or ``hf:NAME[:SPLIT]`` for ``datasets.load_dataset``. Text and
    labels come from the named columns; labels may be lists or ``;``-separated strings, and
    must be in ``labels`` (or the task's own). A repeated text is a problem unless ``allow_duplicates``.
    """
    source = str(source)
    if source.endswith(".jsonl") and text_column == "text" and label_column == "labels":
        return _checked(Path(source), task, labels, allow_duplicates)
    if not (source.startswith("hf:") or Path(source).exists()):
        return [], [f"{source}: no such file or folder"]
    rows: list[dict]
    if source.endswith(".jsonl"):
        rows = [json.loads(line) for line in open(source, encoding="utf-8") if line.strip()]
    elif source.endswith(".csv"):
        import csv

        with open(source, encoding="utf-8-sig", newline="") as handle:
            rows = list(csv.DictReader(handle))
    else:
        import datasets

        if source.startswith("hf:"):
            name, _, split = source[3:].partition(":")
            table = datasets.load_dataset(name, split=split or "train")
        else:
            table = datasets.load_from_disk(source)
            if isinstance(table, datasets.DatasetDict):
                table = table["train"]
        rows = list(table)
    examples, problems, seen = [], [], set()
    for number, row in enumerate(rows, start=1):
        where = f"{source}: record {number}"
        text = row.get(text_column)
        if not isinstance(text, str) or not text.strip():
            problems.append(f"{where}: column {text_column!r} is missing or empty")
            continue
        found = _label_list(row.get(label_column), where)
        unknown = [l for l in found if l not in labels]
        if unknown:
            problems.append(f"{where}: unknown label(s) {unknown}")
        if text in seen and not allow_duplicates:
            problems.append(f"{where}: duplicate text")
        seen.add(text)
        rid = str(row.get("id") or number)
        examples.append(Example(rid, text, found, group=str(row.get(group_column) or "")))
    return examples, problems


def read_any(source: str | Path, task: str, labels: list[str], text_column: str = "text",
             label_column: str = "labels", group_column: str = "group", allow_duplicates: bool = False) -> list[Example]:
    """Read a researcher's labelled corpus (see :func:`check_any`); DataError listing the first
    problems when it has any (a repeated text is one unless ``allow_duplicates``, then
    :func:`drop_duplicates` is the caller's)."""
    examples, problems = check_any(source, task, labels, text_column, label_column, group_column, allow_duplicates)
    _raise_problems(problems)
    return examples
