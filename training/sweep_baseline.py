"""Compare baseline settings with whole writers held out, side by side in one run.

Trains one model per combination of the given settings (``writer_folds`` from the base
config, so every run is a grouped k-fold over the corpus writers plus a final model) into a
temporary folder and prints, per run: writer-held-out macro-F1 and its worst fold, the
any-label false-positive rate on held-out compliant texts (the hard negatives) and on real
negatives (NUS SMS + FBS spam held-out part) per label, and — for information only — the
in-distribution test macro-F1. Choose settings from the writer-held-out columns, never from
same-writer dev or test figures.

Usage: python training/sweep_baseline.py --config training/configs/baseline_messages.json \
           --c 4,16 --char-ngrams 1-3,2-4 --real-weight 0.3,1 [--max-real-fp 0.001]
"""
from __future__ import annotations

import argparse
import itertools
import json
import tempfile
from pathlib import Path

from nlpguard.training.train import TrainConfig, train


def main() -> None:
    """Run the grid and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="training/configs/baseline_messages.json")
    parser.add_argument("--c", default="16")
    parser.add_argument("--char-ngrams", default="1-3")
    parser.add_argument("--real-weight", default="0.3")
    parser.add_argument("--max-real-fp", default="none", help="comma-separated caps, or none")
    args = parser.parse_args()
    base = json.loads(Path(args.config).read_text(encoding="utf-8"))
    grid = itertools.product([float(c) for c in args.c.split(",")],
                             [tuple(int(n) for n in r.split("-")) for r in args.char_ngrams.split(",")],
                             [float(w) for w in args.real_weight.split(",")],
                             [None if v == "none" else float(v) for v in args.max_real_fp.split(",")])
    print(f"{'C':>5}{'chars':>7}{'real w':>7}{'FP cap':>8}{'held-out F1':>12}{'worst fold':>11}"
          f"{'FP compliant':>13}{'FP real any':>12}{'FP real intim.':>15}{'test F1':>9}")
    for c, chars, weight, cap in grid:
        with tempfile.TemporaryDirectory() as output:
            config = TrainConfig.from_dict(base | {"output": output, "c": c, "char_ngrams": list(chars),
                                                   "real_negative_weight": weight, "max_real_fp": cap})
            metrics = train(config, log=lambda line: None)
        held, real = metrics["writer_held_out"], metrics.get("real_negatives_test", {})
        worst = min(f["macro_f1"] for f in held["folds"])
        print(f"{c:>5g}{'%d-%d' % chars:>7}{weight:>7g}{cap if cap is not None else '-':>8}{held['macro_f1']:>12.4f}"
              f"{worst:>11.4f}{held['any_label_false_positive_rate']:>13.4f}{real.get('false_positive_rate', float('nan')):>12.4f}"
              f"{real.get('per_label', {}).get('intimidation', float('nan')):>15.4f}{metrics['test']['macro_f1']:>9.4f}",
              flush=True)


if __name__ == "__main__":
    main()
