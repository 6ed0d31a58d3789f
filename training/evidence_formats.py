"""Evidence precision and recall on the 30 held-out real policies, read from every file format.

Each policy labelled clause by clause (``data/real_clauses/documents.json``) is written as
GB18030 text, Markdown, HTML (with navigation and a footer), PDF and DOCX
(:mod:`document_formats`), read back with ``nlpguard.io.documents.read_document`` and scanned
whole with the model, as ``nlpguard scan --task clauses`` does. Each flagged clause's span in
the text read from the file is mapped back to the original text
(:func:`document_formats.source_offsets`) and counted against the hand labels
(:func:`nlpguard.training.evaluation.evidence_from_flags`). The original text is the first row.

A model trained on every real clause (``real_document_folds``, as the default clause model is)
has seen these policies, so it is not measured on them: its folds are trained again from its
``training_config.json`` (:func:`nlpguard.training.train.real_document_deals`, its first deal) and each policy
is scanned by the fold model that never saw it, at that fold's thresholds — the figures in its
``metrics.json``, now read from every format. Any other model is scanned as it is.

Usage: python training/evidence_formats.py [--model NAME_OR_DIR]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from document_formats import FORMATS, source_offsets, write_formats  # noqa: E402  (training/ is the script's folder)

from nlpguard.training.corpora import corpora_dir, real_documents
from nlpguard.io.documents import read_document
from nlpguard.training.evaluation import document_flags, evidence_from_flags
from nlpguard.guard import Guard
from nlpguard.runtime.modeldir import Model
from nlpguard.training.document_folds import fold_thresholds
from nlpguard.training.train import TrainConfig, load_splits, read_training_run, real_document_deals, reference_data


def main() -> None:
    """Print evidence precision, recall and flags per policy for the original text and each format."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="model name or directory (default: the embedded default)")
    args = parser.parse_args()
    root = corpora_dir()
    if root is None:
        parser.error("the reference corpora were not found (../shared/corpora or $NLPGUARD_CORPORA)")
    model = Guard.load(args.model).model("clauses")
    rows: dict[str, list] = {}
    for scanner, thresholds, documents in _scanners(model, root):
        for doc, text, clauses in documents:
            rows.setdefault("original text", []).append((doc, document_flags(scanner, text, thresholds), clauses))
            with tempfile.TemporaryDirectory() as folder:
                for kind, path in write_formats(text, Path(folder), doc).items():
                    extracted = read_document(path)
                    back = source_offsets(text, extracted)
                    flags = [((int(back[s]), int(back[e])), label)
                             for (s, e), label in document_flags(scanner, extracted, thresholds)]
                    rows.setdefault(kind, []).append((doc, flags, clauses))
    labels = model.spec.labels
    print("| read from | flags per policy | precision | recall |")
    print("|---|---|---|---|")
    for kind in ["original text", *FORMATS]:
        m = evidence_from_flags(rows[kind], labels)
        print(f"| {kind} | {m['flags_per_document']:.1f} | {m['precision']:.3f} | {m['recall']:.3f} |")


def _scanners(model: Model, root: Path) -> list[tuple[Model, dict[str, float], list]]:
    """(model, thresholds, the policies it scans) per fold of a cross-fitted model, or the model itself on all."""
    overlay = Path(__file__).resolve().parent.parent / "data" / "real_clauses"
    settings, _ = read_training_run(model.path) if (model.path / "training_config.json").is_file() else ({}, None)
    if not settings.get("real_document_folds"):
        return [(model, model.spec.thresholds, real_documents(root, overlay))]
    config = TrainConfig.from_dict(settings | {"corpora": str(root)})
    print(f"{model.path} trained on every real clause: training its {config.real_document_folds} folds again", file=sys.stderr)
    deals = real_document_deals(config, model.spec, load_splits(config)[0], reference_data(config, print), print)
    results = next(deals)  # the first deal: the figures of metrics.json
    return [(fold.model, fold_thresholds(results, k, model.spec.labels, config.threshold_rule),
             [document for document, _ in fold.scanned]) for k, fold in enumerate(results)]


if __name__ == "__main__":
    main()
