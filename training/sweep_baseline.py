"""Compare baseline settings on the dev split, side by side in one run.

Trains one model per combination of the given settings into a temporary folder
and prints, per run, dev macro-F1, the any-label false-positive rate on the
authored compliant dev texts (the hard negatives) and on the real-SMS dev
negatives. Choose defaults from this table, never from the test split.

Usage: python training/sweep_baseline.py --task messages --c 4,16,64 --char-ngrams 1-3,2-4 --real-weight 1,0.3
"""
from __future__ import annotations

import argparse
import itertools
import tempfile

from nlpguard.corpora import corpora_dir, message_negatives
from nlpguard.evaluation import evaluate
from nlpguard.modeldir import load_model
from nlpguard.train import TrainConfig, train


def main() -> None:
    """Run the grid and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="messages")
    parser.add_argument("--data", help="default: data/TASK")
    parser.add_argument("--c", default="16")
    parser.add_argument("--char-ngrams", default="2-4")
    parser.add_argument("--real-weight", default="1")
    args = parser.parse_args()
    root = corpora_dir()
    real_dev = message_negatives(root, "dev") if root is not None and args.task == "messages" else []
    grid = itertools.product([float(c) for c in args.c.split(",")],
                             [tuple(int(n) for n in r.split("-")) for r in args.char_ngrams.split(",")],
                             [float(w) for w in args.real_weight.split(",")])
    print(f"{'C':>6}{'chars':>7}{'real w':>8}{'dev macro-F1':>14}{'FP authored':>13}{'FP real':>9}")
    for c, chars, weight in grid:
        with tempfile.TemporaryDirectory() as output:
            config = TrainConfig(task=args.task, data=args.data or f"data/{args.task}", output=output, c=c,
                                 char_ngrams=chars, real_negative_weight=weight)
            metrics = train(config, log=lambda line: None)
            real_fp = evaluate(load_model(output, args.task), real_dev)[0]["any_label_false_positive_rate"] if real_dev else float("nan")
        dev = metrics["dev"]
        print(f"{c:>6g}{'%d-%d' % chars:>7}{weight:>8g}{dev['macro_f1']:>14.4f}{dev['any_label_false_positive_rate']:>13.4f}{real_fp:>9.4f}")


if __name__ == "__main__":
    main()
