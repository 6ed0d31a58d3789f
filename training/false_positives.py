"""Any-label false-positive rate of a messages model on real compliant corpora.

Reads the reference corpora from ../shared/corpora (or --corpora) and scans
every message of ``nus_sms_zh`` (real personal SMS) and ``fbs_spam_sms`` (real
spam), reporting the share flagged with any label, per label, and for the
part that training never saw (the held-out 40 %; see nlpguard.training.corpora.corpus_split).

Usage: python training/false_positives.py [--model DIR] [--flagged FILE.jsonl]
"""
from __future__ import annotations

import argparse
import json

from nlpguard import Guard
from nlpguard.training.corpora import MESSAGE_NEGATIVES, corpora_dir, corpus_split


def main() -> None:
    """Scan each corpus and print its false-positive rates."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="model directory or packaged name (default: embedded default)")
    parser.add_argument("--corpora", help="reference corpora folder (default ../shared/corpora)")
    parser.add_argument("--names", default="nus_sms_zh,fbs_spam_sms")
    parser.add_argument("--flagged", help="write flagged messages here for review (JSONL)")
    args = parser.parse_args()
    root = corpora_dir(args.corpora)
    if root is None:
        parser.error("reference corpora not found (../shared/corpora or --corpora)")
    guard = Guard.load(args.model)
    labels = guard.labels("messages")
    flagged_out = open(args.flagged, "w", encoding="utf-8") if args.flagged else None
    print(f"{'corpus':<14}{'part':<10}{'n':>8}{'any-label FP':>14}  " + "  ".join(labels))
    for name in args.names.split(","):
        examples = list(MESSAGE_NEGATIVES[name](root))
        records = guard.scan([e.text for e in examples], task="messages", batch_size=512)
        for part, keep in (("all", lambda e: True), ("held-out", lambda e: corpus_split(e) == "test")):
            pairs = [(e, r) for e, r in zip(examples, records) if keep(e)]
            any_rate = sum(bool(r["labels"]) for _, r in pairs) / len(pairs)
            per_label = "  ".join(f"{sum(l in r['labels'] for _, r in pairs) / len(pairs):.4f}" for l in labels)
            print(f"{name:<14}{part:<10}{len(pairs):>8}{any_rate:>14.4f}  {per_label}")
        if flagged_out:
            for example, record in zip(examples, records):
                if record["labels"]:
                    flagged_out.write(json.dumps({"id": example.id, "text": example.text, "labels": record["labels"],
                                                  "scores": record["scores"]}, ensure_ascii=False) + "\n")
    if flagged_out:
        flagged_out.close()


if __name__ == "__main__":
    main()
