"""How much of a change in the real-policy figures is the labels, not the model?

Trains the first deal of the clause config's real-document folds (each fold's model never sees
its documents, thresholds from the other folds, as ``nlpguard train`` does) and scores the
clauses of the 30 whole held-out policies twice: against the current label overlay and against
the overlay as it was at an earlier git commit (read with ``git show``, nothing checked out).
Prints macro-F1 and per-label F1 for both, and how many of those clauses changed label. The
same predictions are measured both times, so the difference is the labels alone.

Usage: python training/labels_effect.py --earlier 93bd9cd [--config training/configs/baseline_clauses.json]
"""
from __future__ import annotations

import argparse
import json
import subprocess
from pathlib import Path

import numpy as np

from nlpguard.taxonomy import task_labels
from nlpguard.training import train
from nlpguard.training.document_folds import fold_thresholds, policy_group
from nlpguard.training.evaluation import gold_matrix
from nlpguard.training.metrics import label_metrics

ROOT = Path(__file__).resolve().parent.parent
OVERLAY = "data/real_clauses"


def overlay_at(commit: str) -> dict[str, list[str]]:
    """The real-clause labels (id -> labels) of every ``labels_*.jsonl`` of the overlay at ``commit``."""
    listing = subprocess.run(["git", "ls-tree", "--name-only", f"{commit}:{OVERLAY}"], cwd=ROOT, check=True,
                             capture_output=True, text=True).stdout.split()
    labels: dict[str, list[str]] = {}
    for name in sorted(n for n in listing if n.startswith("labels_") and n.endswith(".jsonl")):
        text = subprocess.run(["git", "show", f"{commit}:{OVERLAY}/{name}"], cwd=ROOT, check=True,
                              capture_output=True, text=True).stdout
        labels |= {row["id"]: row["labels"] for row in map(json.loads, filter(str.strip, text.splitlines()))}
    return labels


def main() -> None:
    """Cross-fit one deal, then print the policies' clause F1 against the current and the earlier labels."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--earlier", required=True, help="git commit whose real-clause overlay to measure against")
    parser.add_argument("--config", default=str(ROOT / "training" / "configs" / "baseline_clauses.json"))
    args = parser.parse_args()
    earlier = overlay_at(args.earlier)
    config = train.TrainConfig.from_dict(json.loads(Path(args.config).read_text(encoding="utf-8"))
                                         | {"output": "runs/labels-effect", "real_document_repeats": 1})
    splits, real = train.load_splits(config)[0], train.reference_data(config, lambda line: None)
    if not real["train"]:
        parser.error("needs ../shared/corpora (the real clauses)")
    labels = task_labels("clauses")
    folds = next(train.real_document_deals(config, train.model_spec(config), splits, real, lambda line: None))
    predicted, now, before = [], [], []
    for k, fold in enumerate(folds):
        thresholds = fold_thresholds(folds, k, labels, config.threshold_rule)
        policies = {policy_group(document) for document, _ in fold.scanned}
        rows = [i for i, example in enumerate(fold.held_out) if example.group in policies]
        predicted.append(fold.scores[rows] >= np.array([thresholds[label] for label in labels]))
        now.append(gold_matrix([fold.held_out[i] for i in rows], labels).astype(bool))
        before.append(np.array([[label in earlier.get(fold.held_out[i].id, []) for label in labels] for i in rows]))
    guess, current, previous = np.vstack(predicted), np.vstack(now), np.vstack(before)
    print(f"{len(guess)} clauses of the whole policies; {int((current != previous).any(axis=1).sum())} changed label "
          f"since {args.earlier}")
    for name, gold in (("current labels", current), (f"labels at {args.earlier}", previous)):
        figures = label_metrics(gold, guess.astype(float), labels, {label: 0.5 for label in labels})
        print(f"{name:24s} macro-F1 {figures['macro_f1']:.3f}  "
              + "  ".join(f"{label} {figures['labels'][label]['f1']:.2f}" for label in labels))


if __name__ == "__main__":
    main()
