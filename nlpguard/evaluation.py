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


def document_metrics(model: LoadedModel, clauses: list[Example], thresholds: dict[str, float] | None = None) -> dict:
    """Document-level label accuracy: clauses grouped into documents by ``group``.

    A document's gold labels are the union of its labelled clauses' labels, its predicted
    labels the union of the predictions on those clauses (as ``scan`` unions a document's
    clauses). Returns the share of documents whose label set is exactly right, the share of
    (document, label) decisions that are right, and per-label document counts.
    """
    labels = model.spec.labels
    thresholds = thresholds or model.spec.thresholds
    scores = predict_scores(model, [e.text for e in clauses])
    predicted = scores >= np.array([thresholds[l] for l in labels])
    gold = gold_matrix(clauses, labels).astype(bool)
    documents: dict[str, list[int]] = {}
    for i, example in enumerate(clauses):
        documents.setdefault(example.group or example.id, []).append(i)
    doc_gold = np.array([gold[rows].any(axis=0) for rows in documents.values()])
    doc_pred = np.array([predicted[rows].any(axis=0) for rows in documents.values()])
    per_label = {l: {"documents_with_label": int(doc_gold[:, k].sum()), "predicted": int(doc_pred[:, k].sum()),
                     "correct": int((doc_gold[:, k] == doc_pred[:, k]).sum())} for k, l in enumerate(labels)}
    return {"documents": len(documents), "exact_match": round(float((doc_gold == doc_pred).all(axis=1).mean()), 4),
            "label_accuracy": round(float((doc_gold == doc_pred).mean()), 4), "labels": per_label}


def slice_metrics(model: LoadedModel, examples: list[Example], tags: tuple[str, ...] = (
        "obfuscated", "long", "hard_negative", "mixed", "reported_speech", "news", "traditional", "dialect")) -> dict:
    """Metrics per tag slice: micro-F1 where the slice has positives, any-label FP rate always."""
    out = {}
    for tag in tags:
        subset = [e for e in examples if tag in e.tags]
        if subset:
            metrics, _ = evaluate(model, subset)
            out[tag] = {"n": len(subset), "positives": sum(bool(e.labels) for e in subset),
                        "micro_f1": metrics["micro_f1"] if any(e.labels for e in subset) else None,
                        "false_positive_rate": metrics["any_label_false_positive_rate"]}
    return out


def perturbation_metrics(model: LoadedModel, examples: list[Example], seed: int = 0) -> dict:
    """Macro-F1 of the clean examples and of the same examples under each disguise family.

    Each family of :data:`nlpguard.augment.PERTURBATIONS` is applied to every text it can
    change (labels unchanged); ``changed`` counts those texts.
    """
    import random

    from .augment import PERTURBATIONS

    report = {"clean": {"macro_f1": evaluate(model, examples)[0]["macro_f1"], "changed": 0}}
    for name, perturb in PERTURBATIONS.items():
        rng = random.Random(seed)
        changed, perturbed = 0, []
        for example in examples:
            text = perturb(example.text, rng)
            changed += bool(text)
            perturbed.append(Example(example.id, text or example.text, example.labels, example.group))
        report[name] = {"macro_f1": evaluate(model, perturbed)[0]["macro_f1"], "changed": changed}
    return report
