"""Compare baseline settings on held-out figures only, side by side in one run.

Trains one model per combination of the given settings into a temporary folder and prints
one row per run. With a messages config (``writer_folds``: a grouped k-fold over the corpus
writers plus a final model): writer-held-out macro-F1 and its worst fold, the any-label
false-positive rate on held-out compliant texts (the hard negatives) and on real negatives
(NUS SMS + FBS spam held-out part). With a clauses config (``real_document_folds``): the
cross-fitted real-clause macro-F1 over every labelled real clause and over the whole
held-out policies, and evidence precision/recall on those policies scanned whole, as means
over ``--deals`` deals of the documents into folds (``real_document_repeats``), since 30
policies give figures that move by a few points from one deal to the next. The
authored test macro-F1 is printed for information only. Choose settings from the held-out
columns, never from same-writer dev or test figures.

Usage: python training/sweep_baseline.py --config training/configs/baseline_messages.json \
           --c 4,16 --char-ngrams 1-3,2-4 --real-weight 0.3,1 [--max-real-fp 0.001]
       python training/sweep_baseline.py --config training/configs/baseline_clauses.json \
           --real-weight 1,3 --deals 4
"""
from __future__ import annotations

import argparse
import itertools
import json
import tempfile
from pathlib import Path

from nlpguard.training.train import TrainConfig, train

NAN = float("nan")


def message_columns(metrics: dict) -> dict[str, float]:
    """The writer-held-out and real-negative figures of a messages run."""
    held, real = metrics["writer_held_out"], metrics.get("real_negatives_test", {})
    return {"held-out F1": held["macro_f1"], "worst fold": min(f["macro_f1"] for f in held["folds"]),
            "FP compliant": held["any_label_false_positive_rate"], "FP real any": real.get("false_positive_rate", NAN),
            "FP real intim.": real.get("per_label", {}).get("intimidation", NAN)}


def clause_columns(metrics: dict) -> dict[str, float]:
    """The cross-fitted real-clause and whole-policy evidence figures of a clauses run, means over its deals."""
    mean = metrics["real_cross_fit"]["mean_over_deals"]
    return {"real F1 all": mean["all_real_macro_f1"], "real F1 policies": mean.get("policies_macro_f1", NAN),
            "evidence P": mean.get("evidence_precision", NAN), "evidence R": mean.get("evidence_recall", NAN),
            "flags/policy": mean.get("flags_per_policy", NAN)}


def main() -> None:
    """Run the grid and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="training/configs/baseline_messages.json")
    parser.add_argument("--c", default="16")
    parser.add_argument("--char-ngrams", default="1-3")
    parser.add_argument("--real-weight", default=None,
                        help="weights of the real texts: negatives (messages) or labelled clauses (clauses)")
    parser.add_argument("--max-real-fp", default="none", help="messages: comma-separated caps, or none")
    parser.add_argument("--deals", type=int, help="clauses: deals of the documents into folds, averaged "
                                                     "(default: the config's real_document_repeats)")
    args = parser.parse_args()
    base = json.loads(Path(args.config).read_text(encoding="utf-8"))
    clauses = bool(base.get("real_document_folds"))
    if not clauses and not base.get("writer_folds"):
        parser.error(f"{args.config} sets neither writer_folds nor real_document_folds: nothing held out to compare on")
    weight_key = "real_clause_weight" if clauses else "real_negative_weight"
    weights = args.real_weight or str(base.get(weight_key, 1.0 if clauses else 0.3))
    grid = itertools.product([float(c) for c in args.c.split(",")],
                             [tuple(int(n) for n in r.split("-")) for r in args.char_ngrams.split(",")],
                             [float(w) for w in weights.split(",")],
                             [None if v == "none" else float(v) for v in args.max_real_fp.split(",")])
    deals = {"real_document_repeats": args.deals} if clauses and args.deals else {}
    header = True
    for c, chars, weight, cap in grid:
        with tempfile.TemporaryDirectory() as output:
            config = TrainConfig.from_dict(base | deals | {"output": output, "c": c, "char_ngrams": list(chars),
                                                           weight_key: weight, "max_real_fp": cap})
            metrics = train(config, log=lambda line: None)
        columns = (clause_columns if clauses else message_columns)(metrics) | {"test F1": metrics["test"]["macro_f1"]}
        if header:
            print(f"{'C':>5}{'chars':>7}{'real w':>7}{'FP cap':>8}" + "".join(f"{name:>{max(len(name) + 2, 9)}}"
                                                                        for name in columns))
            header = False
        print(f"{c:>5g}{'%d-%d' % chars:>7}{weight:>7g}{cap if cap is not None else '-':>8}"
              + "".join(f"{value:>{max(len(name) + 2, 9)}.4f}" for name, value in columns.items()), flush=True)


if __name__ == "__main__":
    main()
