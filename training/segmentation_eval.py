"""Clause-boundary accuracy of nlpguard's clause splitter on real policies segmented by hand.

The hand segmentations are kept as character offsets into the ca4p483 documents
(``data/real_clauses/segmentation/doc_ID.json``: ``{"document", "clauses": [[start, end], ...]}``);
the text stays in ``../shared``. ``--import DIR`` turns a hand segmentation written as clause
texts (``DIR/doc_ID.jsonl``, one ``{"text"}`` per clause, exact substrings in document order)
into those offsets.

Usage:
    python training/segmentation_eval.py [--import /tmp/segment/hand]
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from nlpguard.training.corpora import _find, _rows, corpora_dir
from nlpguard.training.evaluation import segmentation_metrics
from nlpguard.io.segment import split_clauses

FOLDER = Path("data/real_clauses/segmentation")


def offsets_of(document: str, clauses: list[str]) -> list[tuple[int, int]]:
    """Offsets of each clause text, searched in order from the previous clause's end.

    Raises:
        ValueError: a clause is not found in order in the document.
    """
    spans, cursor = [], 0
    for number, clause in enumerate(clauses, start=1):
        start = document.find(clause, cursor)
        if start < 0:
            raise ValueError(f"clause {number} not found after offset {cursor}: {clause[:40]!r}")
        spans.append((start, start + len(clause)))
        cursor = start + len(clause)
    return spans


def main() -> None:
    """Import hand segmentations (optional), then print boundary accuracy per document and overall."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--import", dest="source", help="folder of hand segmentations as clause texts")
    args = parser.parse_args()
    root = corpora_dir()
    if root is None:
        parser.error("the reference corpora were not found (../shared/corpora or $NLPGUARD_CORPORA)")
    documents = {row["doc_id"]: row["text"] for row in _rows(_find(root, "ca4p483"))}
    if args.source:
        FOLDER.mkdir(parents=True, exist_ok=True)
        for path in sorted(Path(args.source).glob("doc_*.jsonl")):
            doc = path.stem[len("doc_"):]
            clauses = [json.loads(line)["text"].strip() for line in open(path, encoding="utf-8") if line.strip()]
            spans = offsets_of(documents[doc], clauses)
            (FOLDER / f"doc_{doc}.json").write_text(json.dumps({"document": doc, "clauses": spans}) + "\n", encoding="utf-8")
    gold_all, predicted_all = [], []
    print("| document | hand clauses | split clauses | boundary P | boundary R | boundary F1 | exact |")
    print("|---|---|---|---|---|---|---|")
    for path in sorted(FOLDER.glob("doc_*.json")):
        record = json.loads(path.read_text(encoding="utf-8"))
        gold = [tuple(span) for span in record["clauses"]]
        predicted = [(s.start, s.end) for s in split_clauses(documents[record["document"]])]
        m = segmentation_metrics(gold, predicted)
        print(f"| {record['document']} | {m['gold_clauses']} | {m['predicted_clauses']} | {m['boundary_precision']:.3f} "
              f"| {m['boundary_recall']:.3f} | {m['boundary_f1']:.3f} | {m['exact_clauses']:.3f} |")
        gold_all += [(record["document"], *span) for span in gold]
        predicted_all += [(record["document"], *span) for span in predicted]
    if gold_all:
        total = segmentation_metrics([(f"{d}:{s}", e) for d, s, e in gold_all], [(f"{d}:{s}", e) for d, s, e in predicted_all])
        print(f"| all | {total['gold_clauses']} | {total['predicted_clauses']} | {total['boundary_precision']:.3f} "
              f"| {total['boundary_recall']:.3f} | {total['boundary_f1']:.3f} | {total['exact_clauses']:.3f} |")


if __name__ == "__main__":
    main()
