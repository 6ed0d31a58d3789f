"""``Guard``: load a model once, scan texts, get interface records back.

>>> from nlpguard import Guard
>>> guard = Guard.load()                       # embedded default, offline
>>> guard.scan("三天内不还钱就爆你通讯录", task="messages")["labels"]
['privacy_disclosure']
"""
from __future__ import annotations

from itertools import islice
from pathlib import Path
from typing import Iterable, Iterator, TypeVar, overload

from .errors import UsageError
from .io.inputs import InputRecord, text_problem
from .runtime.modeldir import DEFAULT_MODEL, Model, check_runtime, open_bundle
from .runtime.scoring import MESSAGE_EVIDENCE_MARGIN, TextScores, clause_results, evidence_for, score_texts
from .taxonomy import families_of, task_info

# Texts per model call. A transformer sorts the windows of one call by length before batching
# them, so a larger pool means less padding: 1,024 messages scored ~1.8x faster than 256.
BATCH_SIZE = 1024

_Item = TypeVar("_Item")


def batched(items: Iterable[_Item], size: int) -> Iterator[list[_Item]]:
    """Consecutive lists of ``size`` items (the last may be shorter), read from ``items`` only as needed."""
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def parse_thresholds(items: list[str]) -> dict[str, float]:
    """``["intimidation=0.7", ...]`` -> ``{"intimidation": 0.7}``; UsageError on bad syntax."""
    thresholds = {}
    for item in items:
        label, sep, value = item.partition("=")
        if not sep:
            raise UsageError(f"--threshold expects LABEL=VALUE, got {item!r} "
                             "(put the inputs before --threshold, or end its values with --)")
        try:
            thresholds[label.strip()] = float(value)
        except ValueError:
            raise UsageError(f"--threshold expects LABEL=VALUE with a number, got {item!r}") from None
        if not label.strip():
            raise UsageError(f"--threshold expects LABEL=VALUE, got {item!r}")
    return thresholds


class Guard:
    """Scans collection messages and agreement clauses with one model per task.

    Create it with :meth:`load`; models of a bundle are loaded lazily, the
    first time their task is scanned.
    """

    def __init__(self, model: str | Path | None = None, backend: str = "auto", threads: int | None = None):
        self._source = model
        self._backend = backend
        self._threads = threads
        self._bundle = open_bundle(model)  # the path resolved and every config read, once
        self._models: dict[str, Model] = {}

    @classmethod
    def load(cls, model: str | Path | None = None, backend: str = "auto", threads: int | None = None) -> "Guard":
        """Load the embedded default (``None``), a packaged model by name, a bundle or a model directory.

        ``backend`` (transformer models): ``torch``, ``onnx``, ``onnx-int8`` or ``auto``;
        ``threads``: CPU threads for the network (default: every CPU this process may use).

        Raises:
            ModelError: the model is missing, corrupt or unusable.
        """
        guard = cls(model, backend, threads)
        if len(guard.tasks) == 1:
            guard.model(guard.tasks[0])  # a single model is loaded (and so checked) at once
        else:
            for entry in guard._bundle.tasks.values():  # a bundle's models load on first use: check now that each can run
                check_runtime(entry, backend)
        return guard

    def __repr__(self) -> str:
        return (f"Guard(model={str(self._source or DEFAULT_MODEL)!r}, tasks={self.tasks}, backend={self._backend!r}, "
                f"path={str(self.path)!r})")

    def __call__(self, texts, task: str, thresholds: dict[str, float] | None = None, batch_size: int = BATCH_SIZE):
        """Same as :meth:`scan`: ``guard(texts, task="messages")``."""
        return self.scan(texts, task, thresholds, batch_size)

    @property
    def path(self) -> Path:
        """The directory the models are loaded from (a packaged model's lies inside the package)."""
        return self._bundle.path

    @property
    def tasks(self) -> list[str]:
        """The tasks this guard can scan."""
        return list(self._bundle.tasks)

    def model(self, task: str) -> Model:
        """The loaded model for ``task`` (loading it on first use)."""
        if task not in self._models:
            self._models[task] = Model.load(self._bundle.directory(task), task, self._backend, self._threads)
        return self._models[task]

    def labels(self, task: str) -> list[str]:
        """Label ids the ``task`` model scores, in order."""
        return list(self.model(task).spec.labels)

    def thresholds(self, task: str, overrides: dict[str, float] | None = None) -> dict[str, float]:
        """The ``task`` model's per-label thresholds with ``overrides`` applied.

        Raises:
            ValueError: an override names a label the model does not score, or is outside 0..1.
        """
        thresholds = dict(self.model(task).spec.thresholds)
        for label, value in (overrides or {}).items():
            if label not in thresholds:
                raise ValueError(f"unknown label {label!r} for task {task!r}; labels: {', '.join(thresholds)}")
            if not 0.0 <= float(value) <= 1.0:
                raise ValueError(f"threshold for {label!r} must be between 0 and 1, got {value}")
            thresholds[label] = float(value)
        return thresholds

    @overload
    def scan(self, texts: str, task: str, thresholds: dict[str, float] | None = None, batch_size: int = BATCH_SIZE) -> dict: ...
    @overload
    def scan(self, texts: Iterable[str], task: str, thresholds: dict[str, float] | None = None, batch_size: int = BATCH_SIZE) -> list[dict]: ...

    def scan(self, texts, task, thresholds=None, batch_size=BATCH_SIZE):
        """Scan one text (returns one record) or many (returns a list, in order).

        Each record has ``labels`` (at or above threshold), ``scores`` (every label
        of the task), ``families`` and ``evidence`` (flagged sentences or clauses
        with offsets into the given text). For ``task="clauses"`` each text is a
        document split into clauses. A text that cannot be scanned — empty, only
        whitespace, lone surrogates — gets ``{"error": ...}`` instead, as in
        ``nlpguard scan``; ``texts`` that is neither a string nor an iterable of
        strings (``None``, a number, a list holding one) raises TypeError.

        Args:
            texts: a string or an iterable of strings.
            task: ``"messages"`` or ``"clauses"``.
            thresholds: per-label overrides of the model's thresholds.
            batch_size: texts scored per model call.
        """
        if isinstance(texts, str):
            return self.scan([texts], task, thresholds, batch_size)[0]
        if texts is None or not isinstance(texts, Iterable):
            raise TypeError(f"texts must be a string or an iterable of strings, got {type(texts).__name__}")
        texts = list(texts)
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(f"text {i} is {type(text).__name__}, not str")
        records = (InputRecord(str(i), text) for i, text in enumerate(texts))
        return [{key: value for key, value in output.items() if key != "id"}
                for output in self.pipe(records, task, thresholds, batch_size)]

    def scan_records(self, records: list[InputRecord], task: str, thresholds: dict[str, float] | None = None,
                     batch_size: int = BATCH_SIZE) -> list[dict]:
        """Interface records for input records, in order: ``{"id", labels, scores, families, evidence}``,
        or ``{"id", "error"}`` for a record that carries an error. One output per input, always."""
        return list(self.pipe(records, task, thresholds, batch_size))

    def pipe(self, records: Iterable[InputRecord], task: str, thresholds: dict[str, float] | None = None,
             batch_size: int = BATCH_SIZE, clauses: bool = False) -> Iterator[dict]:
        """Stream output records for a stream of input records, in input order, in constant memory.

        Thresholds are resolved once; ``records`` is read ``batch_size`` at a time and each batch
        scored in one model call, so an input of any length never sits in memory whole. A record
        that carries an error (or whose text cannot be scanned) yields ``{"id", "error"}``.
        With ``clauses`` a document's record also lists its clauses, as :meth:`scan_document` does.

        Raises:
            ValueError: a threshold override names an unknown label or lies outside 0..1.
        """
        for _, outputs in self.pipe_batches(records, task, thresholds, batch_size, clauses):
            yield from outputs

    def pipe_batches(self, records: Iterable[InputRecord], task: str, thresholds: dict[str, float] | None = None,
                     batch_size: int = BATCH_SIZE, clauses: bool = False) -> Iterator[tuple[list[InputRecord], list[dict]]]:
        """:meth:`pipe` a batch at a time: ``(input records, their output records)``, for writers that flush whole batches."""
        limits = self.thresholds(task, thresholds)
        for batch in batched(records, batch_size):
            yield batch, self.scan_batch(batch, task, limits, clauses)

    def scan_batch(self, batch: list[InputRecord], task: str, limits: dict[str, float], clauses: bool = False) -> list[dict]:
        """Output records for one batch, scored in one model call, with ``limits`` already resolved by :meth:`thresholds`
        (``clauses``: documents' records list their clauses)."""
        model = self.model(task)
        problems = [record.error if record.error is not None else text_problem(record.text) for record in batch]
        usable = [record.text for record, problem in zip(batch, problems) if problem is None]
        results = iter(self._records(model, score_texts(model, usable, limits), limits, clauses) if usable else [])
        return [{"id": record.id, "error": problem} if problem is not None else {"id": record.id, **next(results)}
                for record, problem in zip(batch, problems)]

    def scan_document(self, document: str, thresholds: dict[str, float] | None = None) -> dict:
        """Scan one agreement: the document record of :meth:`scan` plus ``clauses``.

        ``clauses`` lists every clause in order with ``start``, ``end``, ``text``,
        ``heading`` (its section), ``scores`` (every label) and ``labels`` (at or above threshold):
        the clause-level view a reviewer reads next to the document.
        """
        model = self.model("clauses")
        limits = self.thresholds("clauses", thresholds)
        return self._records(model, score_texts(model, [document], limits), limits, clauses=True)[0]

    @staticmethod
    def _records(model: Model, results: list[TextScores], thresholds: dict[str, float], clauses: bool = False) -> list[dict]:
        labels = model.spec.labels
        margin = None if model.spec.aggregation == "max_clause" else MESSAGE_EVIDENCE_MARGIN
        records = []
        for result in results:
            scores = {label: float(s) for label, s in zip(labels, result.scores)}
            flagged = [label for label in labels if scores[label] >= thresholds[label]]
            records.append({"labels": flagged, "scores": scores, "families": families_of(flagged),
                            "evidence": evidence_for(result, labels, flagged, thresholds, margin)})
            if clauses and task_info(model.spec.task).documents:
                records[-1]["clauses"] = clause_results(result, labels, thresholds)
        return records
