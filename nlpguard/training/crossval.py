"""Writer-held-out evaluation: grouped k-fold over the writers of a corpus.

A model that learns *who wrote a text* instead of *what the text does* looks good on a test
split written by its training writers and fails on anyone else's text. So the writers of a
corpus (the ``writer`` field of its records) are dealt into k folds; for each fold a model
is trained on every other writer (plus the writers that are never held out, e.g. corpus
v1, and the real-text negatives) and scores the fold's texts, which it has never seen in
any writer's hand. Thresholds for a fold are tuned on the *other* folds' held-out scores
plus real negatives, never on the fold itself; the pooled figures are therefore what a new
writer's text would get.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .data import Example
from .evaluation import gold_matrix
from .metrics import cap_false_positives, fold_pooled_metrics, label_metrics, tune_thresholds
from ..taxonomy import MESSAGE_SUBTYPES


def writer_of(example: Example) -> str:
    """The example's writer ("" when it has none)."""
    return str(example.extra.get("writer") or "")


def is_held_out_writer(example: Example, never_held_out: tuple[str, ...] = ()) -> bool:
    """True when the example's writer may be held out: it has one, not starting with a ``never_held_out`` prefix."""
    writer = writer_of(example)
    return bool(writer) and not writer.startswith(never_held_out)


def writer_folds(examples: list[Example], k: int, never_held_out: tuple[str, ...] = ()) -> list[list[str]]:
    """Deal the writers into ``k`` folds of similar size (largest first, deterministic).

    Writers starting with a prefix in ``never_held_out`` (and records without a writer)
    always stay in training.

    Raises:
        ValueError: fewer writers than folds.
    """
    counts = Counter(writer_of(e) for e in examples if is_held_out_writer(e, never_held_out))
    if len(counts) < k:
        raise ValueError(f"writer-held-out evaluation needs at least {k} writers, the data has {len(counts)}")
    folds: list[list[str]] = [[] for _ in range(k)]
    sizes = [0] * k
    for writer, count in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
        smallest = sizes.index(min(sizes))
        folds[smallest].append(writer)
        sizes[smallest] += count
    return [sorted(fold) for fold in folds]


@dataclass
class FoldScores:
    """One fold: its writers, its held-out source texts and their scores, and the real negatives' scores."""

    writers: list[str]
    held_out: list[Example]
    scores: np.ndarray
    real_scores: np.ndarray


def cross_validate(examples: list[Example], real_dev: list[Example], folds: list[list[str]],
                   fit: Callable[[list[Example], list[Example]], object],
                   predict: Callable[[object, list[str]], np.ndarray], log=print) -> list[FoldScores]:
    """Train one model per fold on every other writer and score the fold's source texts.

    ``fit(train_examples, dev_examples)`` returns a scorer trained on ``train_examples`` (it
    adds the real negatives itself; ``dev_examples`` are the training writers' dev texts, for
    early stopping); ``predict(scorer, texts)`` returns scores. Each example's split is read
    from ``extra["split"]``. Variants (records with ``variant_of``) are trained on with their
    writer but never scored. ``real_dev`` (never trained on) is scored by every fold model.
    """
    results = []
    for number, writers in enumerate(folds, start=1):
        held = set(writers)
        train = [e for e in examples if writer_of(e) not in held]
        dev = [e for e in train if e.extra.get("split") == "dev"]
        scored = [e for e in examples if writer_of(e) in held and "variant_of" not in e.extra]
        log(f"writer fold {number}/{len(folds)}: held out {', '.join(writers)} ({len(scored)} texts), "
            f"training on {len(train)} texts of the other writers")
        scorer = fit(train, dev)
        results.append(FoldScores(writers, scored, predict(scorer, [e.text for e in scored]),
                                  predict(scorer, [e.text for e in real_dev])))
    return results


def _fold_thresholds(results: list[FoldScores], k: int, labels: list[str], target_precision: float | None,
                     max_real_fp: float | None) -> dict[str, float]:
    others = [r for j, r in enumerate(results) if j != k]
    gold = np.vstack([gold_matrix(r.held_out, labels) for r in others]
                     + [np.zeros((len(r.real_scores), len(labels)), dtype=np.int8) for r in others])
    scores = np.vstack([r.scores for r in others] + [r.real_scores for r in others])
    thresholds = tune_thresholds(gold, scores, labels, target_precision)
    if max_real_fp is not None:
        thresholds = cap_false_positives(thresholds, np.vstack([r.real_scores for r in others]), labels, max_real_fp)
    return thresholds


def held_out_metrics(results: list[FoldScores], labels: list[str], target_precision: float | None = None,
                     max_real_fp: float | None = None) -> dict:
    """Pooled and per-fold metrics, each fold thresholded on the other folds.

    Returns the pooled :func:`~nlpguard.training.metrics.fold_pooled_metrics` (decisions at each fold's
    thresholds, PR-AUC and calibration error of the models' own scores), ``folds`` (writers and macro-F1 each), ``writers`` (macro-F1
    per writer), ``subtypes`` (recall of the sub-type's label, or for compliant sub-types the
    share flagged), and the any-label false-positive rate on compliant texts and on real
    negatives at those thresholds. ``max_real_fp`` caps each label's rate on the other folds'
    real negatives when thresholds are tuned (see :func:`~nlpguard.training.metrics.cap_false_positives`).
    """
    shifted, raw, golds, folds, real_flags = [], [], [], [], []
    per_writer: dict[str, list[tuple[np.ndarray, np.ndarray]]] = defaultdict(list)
    for k, result in enumerate(results):
        thresholds = _fold_thresholds(results, k, labels, target_precision, max_real_fp)
        cut = np.array([thresholds[label] for label in labels])
        gold = gold_matrix(result.held_out, labels)
        folds.append({"writers": result.writers, "texts": len(result.held_out), "thresholds": thresholds,
                      "macro_f1": label_metrics(gold, result.scores, labels, thresholds)["macro_f1"]})
        shifted.append(result.scores - cut + 0.5)
        raw.append(result.scores)
        golds.append(gold)
        real_flags.append(result.real_scores >= cut)
        for i, example in enumerate(result.held_out):
            per_writer[writer_of(example)].append((gold[i], shifted[-1][i]))
    gold, scores = np.vstack(golds), np.vstack(shifted)
    half = {label: 0.5 for label in labels}
    pooled = fold_pooled_metrics(gold, scores, np.vstack(raw), labels)
    for block in pooled["labels"].values():
        block.pop("threshold")
    examples = [e for r in results for e in r.held_out]
    pooled["folds"] = folds
    pooled["writers"] = {w: label_metrics(np.array([g for g, _ in rows]), np.array([s for _, s in rows]), labels,
                                          half)["macro_f1"] for w, rows in sorted(per_writer.items())}
    pooled["subtypes"] = _subtype_figures(examples, scores >= 0.5, labels)
    flags = np.vstack(real_flags)
    pooled["real_negatives_false_positive_rate"] = round(float(flags.any(axis=1).mean()), 4) if len(flags) else None
    pooled["real_negatives_false_positive_rate_per_label"] = ({l: round(float(flags[:, k].mean()), 4)
                                                               for k, l in enumerate(labels)} if len(flags) else None)
    return pooled


def _subtype_figures(examples: list[Example], predicted: np.ndarray, labels: list[str]) -> dict:
    figures: dict[str, dict] = {}
    for subtype, label in MESSAGE_SUBTYPES.items():
        rows = [i for i, e in enumerate(examples) if subtype in e.extra.get("subtypes", [])]
        if not rows:
            continue
        if label is None:
            flagged = int(predicted[rows].any(axis=1).sum())
            figures[subtype] = {"label": None, "texts": len(rows), "flagged_share": round(flagged / len(rows), 4)}
        elif label in labels:
            hit = int(predicted[rows, labels.index(label)].sum())
            figures[subtype] = {"label": label, "texts": len(rows), "recall": round(hit / len(rows), 4)}
    return figures


def fold_thresholds_for_final(results: list[FoldScores], labels: list[str], extra_gold: np.ndarray,
                              extra_scores: np.ndarray, real_scores: np.ndarray, target_precision: float | None = None,
                              max_real_fp: float | None = None, exclude_split: str = "test") -> dict[str, float]:
    """Thresholds for the final model: tuned on every fold's held-out scores (texts of
    ``exclude_split`` left out) plus ``extra`` scores the final model gave texts it did not train
    on, then capped so that at most ``max_real_fp`` of ``real_scores`` (real negatives scored by
    the final model) reach any one label."""
    keep = [[i for i, e in enumerate(r.held_out) if e.extra.get("split") != exclude_split] for r in results]
    gold = np.vstack([gold_matrix([r.held_out[i] for i in rows], labels) for r, rows in zip(results, keep)] + [extra_gold])
    scores = np.vstack([r.scores[rows] for r, rows in zip(results, keep)] + [extra_scores])
    thresholds = tune_thresholds(gold, scores, labels, target_precision)
    if max_real_fp is not None:
        thresholds = cap_false_positives(thresholds, real_scores, labels, max_real_fp)
    return thresholds
