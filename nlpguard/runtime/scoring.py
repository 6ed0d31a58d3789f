"""From unit scores to text scores and evidence: the one scoring path.

Both ``Guard.scan`` and training's threshold tuning go through
:func:`score_texts`, so thresholds are tuned on exactly what users get.

- messages: each message is split into sentences; with aggregation
  ``max_sentence`` a label's score is the maximum over the whole message and
  its sentences (a long polite notice with one threatening sentence is not
  diluted: the bag-of-n-grams baseline needs this); with ``whole`` only the
  whole message counts (a transformer reads the sentence in its context) and
  sentences are scored only to find the evidence of flagged messages.
- clauses: a document is split into clauses and a label's score is its
  maximum over clauses (``max_clause``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit

from .modeldir import Model
from ..io.segment import Span, split_clauses, split_sentences
from ..taxonomy import LABELS

SCORE_DECIMALS = 4


@dataclass
class TextScores:
    """Scores of one text: per label, and per unit (sentence or clause) for evidence."""

    scores: np.ndarray          # (n_labels,)
    units: list[Span]
    unit_scores: np.ndarray     # (n_units, n_labels)


def units_of(text: str, aggregation: str) -> list[Span]:
    """The scoring units of ``text`` for an aggregation mode."""
    if aggregation == "max_clause":
        return split_clauses(text)
    return split_sentences(text)


def score_texts(model: Model, texts: list[str], thresholds: dict[str, float] | None = None) -> list[TextScores]:
    """Score ``texts`` in one batch through ``model``'s scorer and aggregation.

    With aggregation ``whole`` the sentences only serve as evidence, so they are
    scored only for texts that ``thresholds`` flag (none when it is None): on real
    traffic, where few messages are flagged, that halves the model's work. Other
    texts get their whole span as their one unit.
    """
    aggregation = model.spec.aggregation
    if aggregation == "whole":
        return _score_whole(model, texts, thresholds)
    batch: list[str] = []
    plans: list[tuple[int | None, list[Span], int | None]] = []
    for text in texts:
        units = units_of(text, aggregation) or [Span(0, len(text), text)]
        whole = None
        if aggregation != "max_clause":
            whole = len(batch)
            batch.append(text)
        first = None
        if len(units) > 1 or whole is None:
            first = len(batch)
            batch.extend(u.text for u in units)
        plans.append((whole, units, first))
    scores = _predict(model, batch)
    results = []
    for whole, units, first in plans:
        unit_scores = scores[whole:whole + 1] if first is None else scores[first:first + len(units)]
        if aggregation == "max_sentence":
            text_scores = np.maximum(scores[whole], unit_scores.max(axis=0))
        else:
            text_scores = unit_scores.max(axis=0)
        results.append(TextScores(text_scores, units, unit_scores))
    return results


def platt_scale(probabilities: np.ndarray, slopes, intercepts) -> np.ndarray:
    """``sigmoid(slope * logit(p) + intercept)`` per column of ``probabilities`` (n, n_labels), with one
    slope and intercept per label; slope 1, intercept 0 changes nothing, and a positive slope keeps the order."""
    p = np.clip(np.asarray(probabilities, dtype=np.float64), 1e-12, 1 - 1e-12)
    logits = np.log(p / (1 - p)) * np.asarray(slopes, dtype=np.float64) + np.asarray(intercepts, dtype=np.float64)
    return expit(logits)


def _predict(model: Model, texts: list[str]) -> np.ndarray:
    # Scores are rounded once, here, so that a reported score and the decision on it never disagree.
    scores = model.scorer.predict_proba(texts).astype(np.float64)
    if model.spec.platt:
        pairs = [model.spec.platt.get(label, [1.0, 0.0]) for label in model.spec.labels]
        scores = platt_scale(scores, [a for a, _ in pairs], [b for _, b in pairs])
    return np.round(scores, SCORE_DECIMALS)


def _score_whole(model: Model, texts: list[str], thresholds: dict[str, float] | None) -> list[TextScores]:
    scores = _predict(model, texts)
    results = [TextScores(row, [Span(0, len(text), text)], row[None, :]) for text, row in zip(texts, scores)]
    if thresholds is None:
        return results
    limits = np.array([thresholds[label] for label in model.spec.labels])
    flagged = [(i, units) for i, text in enumerate(texts) if (scores[i] >= limits).any()
               and len(units := units_of(text, "whole")) > 1]
    unit_scores = _predict(model, [u.text for _, units in flagged for u in units])
    first = 0
    for i, units in flagged:
        results[i] = TextScores(scores[i], units, unit_scores[first:first + len(units)])
        first += len(units)
    return results


def clause_results(result: TextScores, labels: list[str], thresholds: dict[str, float]) -> list[dict]:
    """Every clause of a scored document, in order: ``start``, ``end``, ``text``, ``heading`` (its
    section), ``scores`` (every label) and ``labels`` (at or above threshold). The one clause
    view: :meth:`Guard.scan_document`, the CSV rows and the HTML report all render it."""
    return [{"start": unit.start, "end": unit.end, "text": unit.text, "heading": unit.heading,
             "scores": {label: float(s) for label, s in zip(labels, row)},
             "labels": [label for label, s in zip(labels, row) if s >= thresholds[label]]}
            for unit, row in zip(result.units, result.unit_scores)]


# A message's sentence is evidence for a label only if it scores within this margin of the label's
# best sentence: in a long polite notice the one violating sentence scores near 1, and the
# lawful sentences around it, lifted by the notice's vocabulary, do not belong in the evidence.
MESSAGE_EVIDENCE_MARGIN = 0.25


def evidence_for(result: TextScores, labels: list[str], flagged: list[str], thresholds: dict[str, float],
                 margin: float | None = None) -> list[dict]:
    """Evidence spans for the flagged labels: units at or above threshold (and, with ``margin``,
    within ``margin`` of the label's best unit), else the best unit.

    Each item has the interface fields (label, text, start, end, score) plus, for taxonomy
    labels, ``severity`` and ``grounds``, and for clauses their section ``heading``. Documents
    pass no margin: every clause at or above the threshold is evidence on its own.
    """
    evidence = []
    for label in flagged:
        k = labels.index(label)
        column = result.unit_scores[:, k]
        floor = thresholds[label] if margin is None else max(thresholds[label], float(column.max()) - margin)
        chosen = [i for i in range(len(result.units)) if column[i] >= floor] or [int(column.argmax())]
        for i in chosen:
            unit = result.units[i]
            item = {"label": label, "text": unit.text, "start": unit.start, "end": unit.end, "score": float(column[i])}
            if label in LABELS:
                item["severity"], item["grounds"] = LABELS[label].severity, LABELS[label].grounds
            if unit.heading:
                item["heading"] = unit.heading
            evidence.append(item)
    evidence.sort(key=lambda e: (e["start"], labels.index(e["label"])))
    return evidence
