"""Compare models side by side on one task, in one run: quality, slices, real data, CPU speed, size.

For each model (a directory or packaged name) it prints one row with test macro-F1,
per-label F1, macro PR-AUC, macro-F1 on tag slices of the test split (obfuscated,
long, hard negatives, mixed notices, reported speech), the real-data figure (messages:
any-label false-positive rate on held-out real SMS and spam; clauses: macro-F1 on
real clauses of unseen documents — for a model trained on every real clause
(``real_document_folds``) the cross-fitted figure of its ``metrics.json``, marked ``cf``, since
the fixed real test split is in its training), texts per second on this CPU and size on disk.

Usage: python training/compare_models.py --task messages --models baseline runs/bert-messages
       [--speed-texts 2000]
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from nlpguard.training.corpora import corpora_dir, message_negatives, real_clause_split, real_clauses
from nlpguard.training.data import read_examples
from nlpguard.training.evaluation import evaluate, predict_scores
from nlpguard.runtime.modeldir import Model

SLICES = ("obfuscated", "long", "hard_negative", "mixed", "reported_speech")


def size_mb(directory: Path) -> float:
    """Size of the model directory's files in MB."""
    return sum(p.stat().st_size for p in directory.iterdir() if p.is_file()) / 1e6


def cross_fitted_real_f1(model: Model) -> float | None:
    """The cross-fitted real-clause macro-F1 of a model trained on every real clause, else None."""
    metrics = model.path / "metrics.json"
    figures = json.loads(metrics.read_text(encoding="utf-8")) if metrics.is_file() else {}
    return figures.get("real_cross_fit", {}).get("all_real_clauses", {}).get("macro_f1")


def main() -> None:
    """Evaluate every model and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", required=True, choices=("messages", "clauses"))
    parser.add_argument("--models", nargs="+", required=True)
    parser.add_argument("--data", help="test file (default data/TASK/test.jsonl)")
    parser.add_argument("--speed-texts", type=int, default=2000)
    args = parser.parse_args()
    test = read_examples(args.data or f"data/{args.task}/test.jsonl", args.task)
    root = corpora_dir()
    real = []
    if root is not None and args.task == "messages":
        real = message_negatives(root, "test")
    elif root is not None and Path("data/real_clauses").is_dir():
        real = [e for e in real_clauses(root, "data/real_clauses") if real_clause_split(e) == "test"]
    speed_texts = [e.text for e in (real if args.task == "messages" and real else test)][:args.speed_texts]
    header = ["model", "macro-F1", "macro PR-AUC"] + [f"F1 {l}" for l in Model.load(args.models[0], args.task).spec.labels]
    header += [f"{s}" for s in SLICES] + (["real SMS FP"] if args.task == "messages" else ["real clauses macro-F1"])
    header += ["texts/s", "MB"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for name in args.models:
        model = Model.load(name, args.task)
        metrics, _ = evaluate(model, test)
        aucs = [m["pr_auc"] for m in metrics["labels"].values() if m["pr_auc"] is not None]
        row = [name, f"{metrics['macro_f1']:.3f}", f"{np.mean(aucs):.3f}"]
        row += [f"{m['f1']:.3f}" for m in metrics["labels"].values()]
        for tag in SLICES:
            subset = [e for e in test if tag in e.tags]
            if not subset:
                row.append("–")
                continue
            sliced, _ = evaluate(model, subset)
            row.append(f"{sliced['micro_f1']:.3f}" if any(e.labels for e in subset)
                       else f"FP {sliced['any_label_false_positive_rate']:.3f}")
        cross_fitted = cross_fitted_real_f1(model) if args.task == "clauses" else None
        if cross_fitted is not None:
            row.append(f"{cross_fitted:.3f} cf")
        elif real:
            real_metrics, _ = evaluate(model, real)
            row.append(f"{real_metrics['any_label_false_positive_rate']:.4f}" if args.task == "messages"
                       else f"{real_metrics['macro_f1']:.3f}")
        else:
            row.append("–")
        predict_scores(model, speed_texts[:50])  # warm-up
        started = time.perf_counter()
        predict_scores(model, speed_texts)
        row.append(f"{len(speed_texts) / (time.perf_counter() - started):.0f}")
        row.append(f"{size_mb(model.path):.1f}")
        print("| " + " | ".join(row) + " |")
    print(f"\nSlices: micro-F1 on the test texts with that tag (FP = any-label false-positive rate where the slice has "
          f"no positives). texts/s: {len(speed_texts)} {'real SMS' if args.task == 'messages' else 'test texts'}, this CPU."
          + ("" if args.task == "messages" else " cf: cross-fitted over folds of real documents, all real clauses "
             "(the model trained on the fixed real test split too)."))


if __name__ == "__main__":
    main()
