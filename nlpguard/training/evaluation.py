"""Evaluate a model on labelled examples through the same path users scan with."""
from __future__ import annotations

import numpy as np

from .data import Example
from .metrics import label_metrics
from ..runtime.modeldir import Model
from ..runtime.scoring import TextScores, score_texts


def gold_matrix(examples: list[Example], labels: list[str]) -> np.ndarray:
    """0/1 matrix (n_examples, n_labels) of the examples' gold labels."""
    gold = np.zeros((len(examples), len(labels)), dtype=np.int8)
    for i, example in enumerate(examples):
        for label in example.labels:
            if label in labels:
                gold[i, labels.index(label)] = 1
    return gold


def predict_scores(model: Model, texts: list[str], batch_size: int = 256) -> np.ndarray:
    """Aggregated text scores (n_texts, n_labels) as ``Guard.scan`` computes them."""
    rows = []
    for begin in range(0, len(texts), batch_size):
        rows.extend(r.scores for r in score_texts(model, texts[begin:begin + batch_size]))
    return np.array(rows, dtype=np.float64).reshape(len(texts), len(model.spec.labels))


def evaluate(model: Model, examples: list[Example], thresholds: dict[str, float] | None = None) -> tuple[dict, list[dict]]:
    """Metrics of ``model`` on ``examples`` and the misclassified records.

    Returns:
        ``(metrics, errors)``: metrics as :func:`~nlpguard.training.metrics.label_metrics`
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


def document_metrics(gold: np.ndarray, predicted: np.ndarray, groups: list[str], labels: list[str]) -> dict:
    """Document-level label accuracy: clause rows grouped into documents by ``groups``.

    ``gold`` and ``predicted`` are 0/1 arrays (n_clauses, n_labels). A document's gold labels
    are the union of its clauses' labels, its predicted labels the union of the predictions on
    those clauses (as ``scan`` unions a document's clauses). Returns the share of documents whose
    label set is exactly right, the share of (document, label) decisions that are right, and
    per-label document counts.
    """
    documents: dict[str, list[int]] = {}
    for i, group in enumerate(groups):
        documents.setdefault(group, []).append(i)
    doc_gold = np.array([gold[rows].astype(bool).any(axis=0) for rows in documents.values()])
    doc_pred = np.array([predicted[rows].astype(bool).any(axis=0) for rows in documents.values()])
    per_label = {l: {"documents_with_label": int(doc_gold[:, k].sum()), "predicted": int(doc_pred[:, k].sum()),
                     "correct": int((doc_gold[:, k] == doc_pred[:, k]).sum())} for k, l in enumerate(labels)}
    return {"documents": len(documents), "exact_match": round(float((doc_gold == doc_pred).all(axis=1).mean()), 4),
            "label_accuracy": round(float((doc_gold == doc_pred).mean()), 4), "labels": per_label}


def slice_metrics(model: Model, examples: list[Example], tags: tuple[str, ...] = (
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


def perturbation_metrics(model: Model, examples: list[Example], seed: int = 0) -> dict:
    """Macro-F1 of the clean examples and of the same examples under each disguise family.

    Each family of :data:`nlpguard.training.augment.PERTURBATIONS` is applied to every text it can
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


def _overlaps(a: tuple[int, int], b: tuple[int, int], share: float) -> bool:
    shared = min(a[1], b[1]) - max(a[0], b[0])
    return shared > 0 and shared >= share * min(a[1] - a[0], b[1] - b[0])


def document_flags(model: Model, text: str, thresholds: dict[str, float]) -> list[tuple[tuple[int, int], str]]:
    """The flags of one document scanned whole, as ``scan`` does: ``((start, end), label)`` per clause and label."""
    return unit_flags(score_texts(model, [text], thresholds)[0], model.spec.labels, thresholds)


def unit_flags(result: TextScores, labels: list[str], thresholds: dict[str, float]) -> list[tuple[tuple[int, int], str]]:
    """The ``((start, end), label)`` flags of one scored text: each unit and label at or above its threshold."""
    return [((u.start, u.end), label) for u, row in zip(result.units, result.unit_scores)
            for label, score in zip(labels, row) if score >= thresholds[label]]


def evidence_metrics(model: Model, documents: list[tuple[str, str, list[Example]]],
                     thresholds: dict[str, float] | None = None, overlap: float = 0.5) -> dict:
    """Evidence precision and recall on whole documents, flag by flag, as a reviewer reads a report.

    Each document (``(id, text, gold clauses)``, clauses with ``extra["start"/"end"]``) is
    scanned whole (:func:`document_flags`); see :func:`evidence_from_flags` for the counting.
    """
    thresholds = thresholds or model.spec.thresholds
    flagged = [(doc_id, document_flags(model, text, thresholds), clauses) for doc_id, text, clauses in documents]
    return evidence_from_flags(flagged, model.spec.labels, overlap)


def evidence_from_flags(flagged: list[tuple[str, list[tuple[tuple[int, int], str]], list[Example]]],
                        labels: list[str], overlap: float = 0.5) -> dict:
    """Evidence precision and recall of flags against clauses labelled by hand, per document.

    ``flagged`` holds ``(document id, flags, gold clauses)``; a flag is ``((start, end), label)``
    in the document's text, gold clauses carry ``extra["start"/"end"]`` in the same text. A flag
    is right when it overlaps a gold clause carrying that label by at least ``overlap`` of the
    shorter span; a gold (clause, label) is found when such a flag exists. Returns micro
    precision/recall/F1 overall and per label, the mean per-document precision (documents with
    flags) and recall (documents with gold labels), and flags per document.
    """
    counts = {label: {"flags": 0, "right": 0, "gold": 0, "found": 0} for label in labels}
    per_document = []
    for doc_id, flags, clauses in flagged:
        gold = [((c.extra["start"], c.extra["end"]), label) for c in clauses for label in c.labels if label in labels]
        right = [f for f in flags if any(g[1] == f[1] and _overlaps(f[0], g[0], overlap) for g in gold)]
        found = [g for g in gold if any(f[1] == g[1] and _overlaps(f[0], g[0], overlap) for f in flags)]
        for label in labels:
            counts[label]["flags"] += sum(f[1] == label for f in flags)
            counts[label]["right"] += sum(f[1] == label for f in right)
            counts[label]["gold"] += sum(g[1] == label for g in gold)
            counts[label]["found"] += sum(g[1] == label for g in found)
        per_document.append({"document": doc_id, "flags": len(flags), "right": len(right), "gold": len(gold),
                             "found": len(found)})

    def summary(flags: int, right: int, gold: int, found: int) -> dict:
        precision = right / flags if flags else None
        recall = found / gold if gold else None
        f1 = (2 * precision * recall / (precision + recall) if precision is not None and recall is not None
              and precision + recall else None)
        return {"flags": flags, "precision": _round(precision), "gold": gold, "recall": _round(recall), "f1": _round(f1)}

    total = {key: sum(c[key] for c in counts.values()) for key in ("flags", "right", "gold", "found")}
    precisions = [d["right"] / d["flags"] for d in per_document if d["flags"]]
    recalls = [d["found"] / d["gold"] for d in per_document if d["gold"]]
    return {"documents": len(flagged), **summary(**total),
            "mean_document_precision": _round(float(np.mean(precisions)) if precisions else None),
            "mean_document_recall": _round(float(np.mean(recalls)) if recalls else None),
            "flags_per_document": _round(total["flags"] / max(len(flagged), 1)),
            "labels": {label: summary(**c) for label, c in counts.items()}, "per_document": per_document}


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def segmentation_metrics(gold: list[tuple[int, int]], predicted: list[tuple[int, int]]) -> dict:
    """Clause-boundary accuracy of a splitter against a hand segmentation of the same text.

    A boundary is a clause's start offset (first non-space character). Returns boundary
    precision, recall and F1, and the share of gold clauses reproduced exactly (same start
    and end).
    """
    gold_starts, predicted_starts = {s for s, _ in gold}, {s for s, _ in predicted}
    hits = len(gold_starts & predicted_starts)
    precision = hits / len(predicted_starts) if predicted_starts else 0.0
    recall = hits / len(gold_starts) if gold_starts else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    exact = len(set(gold) & set(predicted)) / len(gold) if gold else 0.0
    return {"gold_clauses": len(gold), "predicted_clauses": len(predicted), "boundary_precision": round(precision, 4),
            "boundary_recall": round(recall, 4), "boundary_f1": round(f1, 4), "exact_clauses": round(exact, 4)}
