"""Evidence precision and recall on the 30 held-out real policies, read from every file format.

Each policy labelled clause by clause (``data/real_clauses/documents.json``) is written as
GB18030 text, Markdown, HTML (with navigation and a footer), PDF and DOCX
(:mod:`document_formats`), read back with ``nlpguard.io.documents.read_document`` and scanned
whole with the model, as ``nlpguard scan --task clauses`` does. Each flagged clause's span in
the text read from the file is mapped back to the original text
(:func:`document_formats.source_offsets`) and counted against the hand labels
(:func:`nlpguard.training.evaluation.evidence_from_flags`). The original text is the first row.

Usage: python training/evidence_formats.py [--model NAME_OR_DIR]
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from document_formats import FORMATS, source_offsets, write_formats  # noqa: E402  (training/ is the script's folder)

from nlpguard.training.corpora import corpora_dir, real_documents
from nlpguard.io.documents import read_document
from nlpguard.training.evaluation import document_flags, evidence_from_flags
from nlpguard.guard import Guard


def main() -> None:
    """Print evidence precision, recall and flags per policy for the original text and each format."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="model name or directory (default: the embedded default)")
    args = parser.parse_args()
    root = corpora_dir()
    if root is None:
        parser.error("the reference corpora were not found (../shared/corpora or $NLPGUARD_CORPORA)")
    model = Guard.load(args.model).model("clauses")
    thresholds, labels = model.spec.thresholds, model.spec.labels
    documents = real_documents(root, Path(__file__).resolve().parent.parent / "data" / "real_clauses")
    rows = {"original text": [(doc, document_flags(model, text, thresholds), clauses) for doc, text, clauses in documents]}
    with tempfile.TemporaryDirectory() as folder:
        for doc, text, clauses in documents:
            for kind, path in write_formats(text, Path(folder), doc).items():
                extracted = read_document(path)
                back = source_offsets(text, extracted)
                flags = [((int(back[s]), int(back[e])), label) for (s, e), label in document_flags(model, extracted, thresholds)]
                rows.setdefault(kind, []).append((doc, flags, clauses))
    print(f"| read from | flags per policy | precision | recall |")
    print("|---|---|---|---|")
    for kind in ["original text", *FORMATS]:
        m = evidence_from_flags(rows[kind], labels)
        print(f"| {kind} | {m['flags_per_document']:.1f} | {m['precision']:.3f} | {m['recall']:.3f} |")


if __name__ == "__main__":
    main()
