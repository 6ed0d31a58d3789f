"""Multi-label metrics and per-label threshold calibration."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.metrics import average_precision_score, precision_recall_curve


def expected_calibration_error(truth: np.ndarray, scores: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error of one label's scores read as probabilities: the texts are put in
    ``bins`` equal-width score bins, and each bin's gap between its mean score and its share of
    positives is weighted by its share of the texts."""
    truth, scores = np.asarray(truth, dtype=float), np.asarray(scores, dtype=float)
    if not len(scores):
        return 0.0
    which = np.minimum((scores * bins).astype(int), bins - 1)
    gaps = [abs(scores[which == b].mean() - truth[which == b].mean()) * (which == b).mean()
            for b in range(bins) if (which == b).any()]
    return float(np.sum(gaps))


def label_metrics(gold: np.ndarray, scores: np.ndarray, labels: list[str], thresholds: dict[str, float]) -> dict:
    """Per-label precision/recall/F1, PR-AUC, expected calibration error (``ece``, 10 bins) and
    confusion counts, plus macro and micro F1.

    Args:
        gold: 0/1 array (n_texts, n_labels).
        scores: score array of the same shape.
        labels: label ids in column order.
        thresholds: decision threshold per label.
    """
    predicted = scores >= np.array([thresholds[label] for label in labels])
    per_label = {}
    totals = np.zeros(3)
    for k, label in enumerate(labels):
        truth = gold[:, k].astype(bool)
        pred = predicted[:, k]
        tp, fp, fn = int((truth & pred).sum()), int((~truth & pred).sum()), int((truth & ~pred).sum())
        tn = int(len(truth) - tp - fp - fn)
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        pr_auc = float(average_precision_score(truth, scores[:, k])) if truth.any() else None
        per_label[label] = {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4),
                            "pr_auc": None if pr_auc is None else round(pr_auc, 4),
                            "ece": round(expected_calibration_error(truth, scores[:, k]), 4), "support": int(truth.sum()),
                            "tp": tp, "fp": fp, "fn": fn, "tn": tn, "threshold": thresholds[label]}
        totals += (tp, fp, fn)
    tp, fp, fn = totals
    micro = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0
    any_gold = gold.any(axis=1)
    any_pred = predicted.any(axis=1)
    return {
        "n": int(len(gold)),
        "macro_f1": round(float(np.mean([m["f1"] for m in per_label.values()])), 4),
        "micro_f1": round(float(micro), 4),
        "any_label_false_positive_rate": round(float((any_pred & ~any_gold).sum() / max(1, (~any_gold).sum())), 4),
        "labels": per_label,
    }


def fold_pooled_metrics(gold: np.ndarray, shifted: np.ndarray, raw: np.ndarray, labels: list[str]) -> dict:
    """:func:`label_metrics` of held-out scores pooled over folds, each fold decided at its own thresholds.

    ``shifted`` holds each fold's scores moved so that its thresholds sit at 0.5 (``score - cut + 0.5``),
    which gives the decisions; PR-AUC and calibration error come from ``raw``, the models' own
    scores, since shifting moves scores across calibration bins and reorders them across folds.
    Each label's ``threshold`` reads "per fold".
    """
    half = {label: 0.5 for label in labels}
    block = label_metrics(gold, shifted, labels, half)
    as_scored = label_metrics(gold, raw, labels, half)["labels"]
    for label, figures in block["labels"].items():
        figures |= {"threshold": "per fold", "pr_auc": as_scored[label]["pr_auc"], "ece": as_scored[label]["ece"]}
    return block


def tune_thresholds(gold: np.ndarray, scores: np.ndarray, labels: list[str], target_precision: float | None = None,
                    default: float = 0.5, beta: float = 1.0) -> dict[str, float]:
    """Per-label thresholds calibrated on dev data.

    By default each threshold maximises that label's F1 (with ``beta``, F-beta: recall counts
    ``beta`` times as much as precision). With ``target_precision`` it is the lowest threshold
    whose precision reaches the target (the highest score if none does). Labels without
    positives keep ``default``.
    """
    thresholds = {}
    for k, label in enumerate(labels):
        truth = gold[:, k].astype(bool)
        if not truth.any():
            thresholds[label] = default
            continue
        precision, recall, cuts = precision_recall_curve(truth, scores[:, k])
        precision, recall = precision[:-1], recall[:-1]
        if target_precision is None:
            weight = beta * beta
            f_beta = np.where(precision + recall > 0,
                              (1 + weight) * precision * recall / np.maximum(weight * precision + recall, 1e-12), 0)
            best = int(np.argmax(f_beta))
        else:
            reaching = np.flatnonzero(precision >= target_precision)
            best = int(reaching[0]) if len(reaching) else len(cuts) - 1
        thresholds[label] = round(float(cuts[best]), 4)
    return thresholds


@dataclass(frozen=True)
class ThresholdRule:
    """How thresholds are tuned on held-out scores: best F-``beta`` per label, or the lowest threshold reaching
    ``target_precision`` (see :func:`tune_thresholds`)."""

    target_precision: float | None = None
    beta: float = 1.0

    def tune(self, gold: np.ndarray, scores: np.ndarray, labels: list[str]) -> dict[str, float]:
        """Per-label thresholds of ``scores`` against ``gold`` under this rule."""
        return tune_thresholds(gold, scores, labels, self.target_precision, beta=self.beta)


def cap_false_positives(thresholds: dict[str, float], negative_scores: np.ndarray, labels: list[str],
                        max_rate: float) -> dict[str, float]:
    """Raise each label's threshold until at most ``max_rate`` of known negatives reach it.

    ``negative_scores`` (n, n_labels) are scores of texts that carry no label (e.g. real SMS);
    a threshold already meeting the rate is kept.
    """
    capped = dict(thresholds)
    if len(negative_scores) == 0:
        return capped
    allowed = int(np.floor(max_rate * len(negative_scores)))
    for k, label in enumerate(labels):
        column = np.sort(negative_scores[:, k])[::-1]
        if (column >= capped[label]).sum() > allowed:
            capped[label] = round(float(np.nextafter(column[allowed], np.inf)) + 1e-4, 4)
    return capped


def bootstrap_intervals(gold: np.ndarray, predicted: np.ndarray, groups: list[str], labels: list[str],
                        rounds: int = 1000, level: float = 0.95, seed: int = 0) -> dict:
    """Confidence intervals of each label's F1 and of macro-F1, resampling whole groups (documents).

    Clauses of one document are not independent (shared templates), so the bootstrap draws
    documents with replacement, not clauses. Returns ``{label: [low, high], "macro_f1": [low,
    high]}`` at ``level``; a label absent from a resample counts F1 0 there, as in the point figure.
    """
    names = sorted(set(groups))
    rows = {name: [] for name in names}
    for i, group in enumerate(groups):
        rows[group].append(i)
    counts = np.zeros((len(names), 3, len(labels)))  # per document: tp, fp, fn per label
    truth, pred = gold.astype(bool), predicted.astype(bool)
    for d, name in enumerate(names):
        index = rows[name]
        counts[d] = [(truth[index] & pred[index]).sum(0), (~truth[index] & pred[index]).sum(0),
                     (truth[index] & ~pred[index]).sum(0)]
    rng = np.random.default_rng(seed)
    draws = counts[rng.integers(0, len(names), size=(rounds, len(names)))].sum(axis=1)  # (rounds, 3, labels)
    tp, fp, fn = draws[:, 0], draws[:, 1], draws[:, 2]
    f1 = np.where(2 * tp + fp + fn > 0, 2 * tp / np.maximum(2 * tp + fp + fn, 1), 0.0)
    tail = (1 - level) / 2 * 100

    def bounds(values: np.ndarray) -> list[float]:
        return [round(float(np.percentile(values, tail)), 3), round(float(np.percentile(values, 100 - tail)), 3)]

    return {**{label: bounds(f1[:, k]) for k, label in enumerate(labels)}, "macro_f1": bounds(f1.mean(axis=1))}
