"""Evaluate a model on labelled examples through the same path users scan with."""
from __future__ import annotations

import numpy as np

from .data import Example
from .metrics import label_metrics
from .modeldir import LoadedModel
from .scoring import score_texts


def gold_matrix(examples: list[Example], labels: list[str]) -> np.ndarray:
    """0/1 matrix (n_examples, n_labels) of the examples' gold labels."""
    gold = np.zeros((len(examples), len(labels)), dtype=np.int8)
    for i, example in enumerate(examples):
        for label in example.labels:
            if label in labels:
                gold[i, labels.index(label)] = 1
    return gold


def predict_scores(model: LoadedModel, texts: list[str], batch_size: int = 256) -> np.ndarray:
    """Aggregated text scores (n_texts, n_labels) as ``Guard.scan`` computes them."""
    rows = []
    for begin in range(0, len(texts), batch_size):
        rows.extend(r.scores for r in score_texts(model, texts[begin:begin + batch_size]))
    return np.array(rows, dtype=np.float64).reshape(len(texts), len(model.spec.labels))


def evaluate(model: LoadedModel, examples: list[Example], thresholds: dict[str, float] | None = None) -> tuple[dict, list[dict]]:
    """Metrics of ``model`` on ``examples`` and the misclassified records.

    Returns:
        ``(metrics, errors)``: metrics as :func:`~nlpguard.metrics.label_metrics`
        gives them; errors are records with ``id``, ``text``, ``gold``,
        ``predicted``, ``scores`` and ``missed``/``spurious`` labels.
    """
    labels = model.spec.labels
    thresholds = thresholds or model.spec.thresholds
    scores = predict_scores(model, [e.text for e in examples])
    gold = gold_matrix(examples, labels)
    metrics = label_metrics(gold, scores, labels, thresholds)
    errors = []
    for i, example in enumerate(examples):
        predicted = [l for k, l in enumerate(labels) if scores[i, k] >= thresholds[l]]
        truth = [l for l in example.labels if l in labels]
        if set(predicted) != set(truth):
            errors.append({"id": example.id, "text": example.text, "gold": truth, "predicted": predicted,
                           "missed": [l for l in truth if l not in predicted],
                           "spurious": [l for l in predicted if l not in truth],
                           "scores": {l: float(scores[i, k]) for k, l in enumerate(labels)},
                           "source": example.source, "tags": example.tags})
    return metrics, errors
