"""Real-document cross-fitting for clause models: every labelled real policy scored by a model
that never saw it, and thresholds tuned at the real positive rate on documents held out.

A fixed document split keeps most real clauses out of training (the held-out policies alone hold
half of them) and tunes thresholds on a few hundred dev clauses in which the rare labels have
a handful of positives. Cross-fitting uses them all: the labelled real documents are dealt into
k folds; for each fold a model trains on the authored clauses and every other fold's real
clauses — minus near-copies of the fold's clauses, since policies share boilerplate — and
scores the fold's clauses and scans its whole policies. Each fold is thresholded on the other
folds' held-out scores, so the pooled figures are what a policy the model never saw would get;
the final model trains on every real clause, with thresholds tuned on all held-out scores.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from .corpora import near_copies
from .data import Example, bucket
from .evaluation import document_metrics, evidence_from_flags, gold_matrix, predict_scores, unit_flags
from .metrics import ThresholdRule, bootstrap_intervals, fold_pooled_metrics
from ..runtime.modeldir import Model
from ..runtime.scoring import TextScores, score_texts

Document = tuple[str, str, list[Example]]  # (document id, text, its labelled clauses), as real_documents gives


def policy_group(document: Document) -> str | None:
    """The ``group`` of a whole policy's clauses (None for a policy without labelled clauses)."""
    clauses = document[2]
    return clauses[0].group if clauses else None


def deal_documents(examples: list[Example], k: int, evaluation: list[Document], seed: int = 0) -> list[set[str]]:
    """Deal the documents (``group``) of ``examples`` into ``k`` folds.

    The whole ``evaluation`` policies are dealt in turn, so each fold scans about as many;
    every other document goes to the fold its stable hash (with ``seed``) picks.

    Raises:
        ValueError: fewer documents than folds.
    """
    groups = sorted({e.group or e.id for e in examples})
    if len(groups) < k:
        raise ValueError(f"real-document folds need at least {k} labelled documents, the overlay has {len(groups)}")
    folds: list[set[str]] = [set() for _ in range(k)]
    policies = [group for group in map(policy_group, evaluation) if group]
    for number, group in enumerate(policies):
        folds[number % k].add(group)
    for group in groups:
        if group not in policies:
            folds[min(int(bucket(group, seed=seed) * k), k - 1)].add(group)
    return folds


@dataclass
class DocumentFold:
    """One fold: its documents, the model trained without them, their clauses and scores, and its whole
    evaluation policies scanned. ``model`` is None once only the scores are kept (:func:`release_models`)."""

    groups: set[str]
    model: Model | None
    held_out: list[Example]
    scores: np.ndarray
    scanned: list[tuple[Document, TextScores]]
    near_copies_left_out: int


def cross_fit(real: list[Example], evaluation: list[Document], folds: list[set[str]],
              fit: Callable[[list[Example]], Model], log=print, near_copy_size: int = 5) -> list[DocumentFold]:
    """Train one model per fold without the fold's documents and score them.

    ``fit(real_train)`` returns a model trained on the authored data plus ``real_train``: the
    other folds' real clauses, less those with a near-copy (:func:`~nlpguard.training.corpora.near_copies`:
    character ``near_copy_size``-gram Jaccard >= 0.5; 3 also leaves out boilerplate that another
    company rewrote with its own name) among the fold's clauses. The fold's clauses are scored as
    clauses; its ``evaluation`` policies are scanned whole, as ``nlpguard scan`` reads them.
    """
    results = []
    for number, groups in enumerate(folds, start=1):
        held = [e for e in real if (e.group or e.id) in groups]
        rest = [e for e in real if (e.group or e.id) not in groups]
        copies = near_copies([e.text for e in rest], [e.text for e in held], size=near_copy_size)
        train = [e for e, copy in zip(rest, copies) if not copy]
        policies = [d for d in evaluation if policy_group(d) in groups]
        log(f"real-document fold {number}/{len(folds)}: {len(groups)} documents ({len(held)} clauses, "
            f"{len(policies)} whole policies) held out; training on {len(train)} real clauses "
            f"({int(copies.sum())} near-copies of held-out clauses left out)")
        model = fit(train)
        scanned = list(zip(policies, score_texts(model, [text for _, text, _ in policies])))
        results.append(DocumentFold(groups, model, held, predict_scores(model, [e.text for e in held]), scanned,
                                    int(copies.sum())))
    return results


def release_models(results: list[DocumentFold]) -> None:
    """Drop the fold models of measured folds: thresholds and figures need only their held-out scores, and a
    run with a transformer backbone would otherwise hold every deal's fold models at once."""
    for result in results:
        result.model = None


def _tuned(results: list[DocumentFold], labels: list[str], rule: ThresholdRule) -> dict[str, float]:
    gold = np.vstack([gold_matrix(r.held_out, labels) for r in results])
    return rule.tune(gold, np.vstack([r.scores for r in results]), labels)


def fold_thresholds(results: list[DocumentFold], k: int, labels: list[str],
                    rule: ThresholdRule = ThresholdRule()) -> dict[str, float]:
    """Thresholds of fold ``k``: tuned under ``rule`` (best F1 unless it says otherwise) on every other fold's
    held-out scores, never its own."""
    return _tuned([r for j, r in enumerate(results) if j != k], labels, rule)


def final_thresholds(results: list[DocumentFold], labels: list[str],
                     rule: ThresholdRule = ThresholdRule()) -> dict[str, float]:
    """Thresholds for the model trained on every real clause: tuned under ``rule`` on all folds' held-out scores."""
    return _tuned(results, labels, rule)


def cross_fitted_metrics(results: list[DocumentFold], labels: list[str],
                         rule: ThresholdRule = ThresholdRule()) -> dict:
    """Held-out figures, each fold thresholded on the other folds' scores (:func:`fold_thresholds`).

    Returns ``real_clauses_test`` (the whole evaluation policies' clauses pooled, with 95 %
    intervals over documents), ``real_documents_test``, ``real_evidence_test`` (the policies
    scanned whole, flag by flag) and ``real_cross_fit`` (all real clauses pooled, per-fold
    thresholds and sizes).
    """
    shifted, raw, golds, groups, flagged, fold_rows = [], [], [], [], [], []
    policy_rows: list[int] = []
    for k, result in enumerate(results):
        thresholds = fold_thresholds(results, k, labels, rule)
        cut = np.array([thresholds[label] for label in labels])
        policies = {policy_group(document) for document, _ in result.scanned}
        offset = sum(len(g) for g in golds)
        policy_rows += [offset + i for i, e in enumerate(result.held_out) if e.group in policies]
        golds.append(gold_matrix(result.held_out, labels))
        shifted.append(result.scores - cut + 0.5)
        raw.append(result.scores)
        groups += [e.group or e.id for e in result.held_out]
        flagged += [(doc_id, unit_flags(scores, labels, thresholds), clauses)
                    for (doc_id, _, clauses), scores in result.scanned]
        fold_rows.append({"documents": len(result.groups), "clauses": len(result.held_out),
                          "policies": len(result.scanned), "near_copies_left_out": result.near_copies_left_out,
                          "thresholds": thresholds})
    gold, scores, unshifted = np.vstack(golds), np.vstack(shifted), np.vstack(raw)

    def pooled(rows) -> dict:
        return fold_pooled_metrics(gold[rows], scores[rows], unshifted[rows], labels)

    everything = pooled(slice(None))
    metrics = {"real_cross_fit": {"folds": fold_rows, "all_real_clauses": everything}}
    if policy_rows:
        test = pooled(policy_rows)
        predicted, test_groups = scores[policy_rows] >= 0.5, [groups[i] for i in policy_rows]
        test["intervals_95"] = bootstrap_intervals(gold[policy_rows], predicted, test_groups, labels)
        evidence = evidence_from_flags(flagged, labels)
        metrics |= {"real_clauses_test": test,
                    "real_documents_test": document_metrics(gold[policy_rows], predicted, test_groups, labels),
                    "real_evidence_test": {key: value for key, value in evidence.items() if key != "per_document"}}
    return metrics
