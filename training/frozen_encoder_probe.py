"""Does a pretrained encoder's frozen representation carry the labels to writers it never saw?

Embeds the messages corpus's source texts (no derived variants) and real SMS with a
BERT-family backbone directory (e.g. one written by ``nlpguard backbones fetch``), mean-pooled
over tokens (e5's ``query: `` prefix), then trains one logistic regression per label with
whole writers held out — the writer folds of ``training/configs/baseline_messages.json`` —
plus 3,000 real SMS as negatives. Each fold's thresholds maximise F1 on the *other* folds'
held-out scores, as ``nlpguard train`` does for the baseline. Prints writer-held-out F1 per
label and macro, and the share of 5,000 held-out real SMS each label flags. The embeddings are
cached (``--cache``), so other heads can be tried without re-encoding.

With ``--task clauses`` it asks the same of agreement clauses, under the default clause model's
protocol (``training/configs/baseline_clauses.json``): the labelled real documents dealt into folds,
each fold scored by a model that never saw its documents nor near-copies of their clauses,
thresholds tuned on the other folds. It prints real-clause macro-F1 (all real clauses and the
30 whole policies) of the n-gram baseline, of one logistic regression per label on the frozen
embeddings, and of their blends.

Usage: python training/frozen_encoder_probe.py --backbone runs/e5-trim [--cache /tmp/e5.npz]
       python training/frozen_encoder_probe.py --task clauses --backbone runs/e5 --max-length 160 --deals 1
"""
from __future__ import annotations

import argparse
import json
import random
from dataclasses import replace
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression

from nlpguard.training.corpora import corpora_dir, message_negatives, near_copies
from nlpguard.training.crossval import writer_folds
from nlpguard.training.data import read_examples
from nlpguard.training.document_folds import DocumentFold, cross_fitted_metrics
from nlpguard.training.evaluation import gold_matrix
from nlpguard.training.metrics import tune_thresholds

ROOT = Path(__file__).resolve().parent.parent
LABELS = ["intimidation", "privacy_disclosure", "insult"]


def corpus() -> list[dict]:
    """Source messages with writer and split, then 3,000 training and 5,000 held-out real SMS."""
    rows = []
    for split in ("train", "dev", "test"):
        for example in read_examples(ROOT / "data" / "messages" / f"{split}.jsonl", task="messages"):
            if "variant_of" not in example.extra and not example.source.startswith("variant:"):
                rows.append({"id": example.id, "text": example.text, "labels": example.labels,
                             "writer": str(example.extra.get("writer", "")), "split": split})
    root = corpora_dir()
    for split, count in (("train", 3000), ("test", 5000)):
        sms = message_negatives(root, split, ("nus_sms_zh",))
        random.Random(0).shuffle(sms)
        rows += [{"id": e.id, "text": e.text, "labels": [], "writer": "nus", "split": f"nus_{split}"} for e in sms[:count]]
    return rows


def embed(texts: list[str], backbone: str, max_length: int, batch_size: int = 32) -> np.ndarray:
    """Mean-pooled, L2-normalised last hidden states (inputs prefixed ``query: ``), shortest texts first."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    tokenizer, model = AutoTokenizer.from_pretrained(backbone), AutoModel.from_pretrained(backbone).eval()
    out = np.zeros((len(texts), model.config.hidden_size), dtype=np.float32)
    order = np.argsort([len(t) for t in texts])
    with torch.inference_mode():
        for begin in range(0, len(texts), batch_size):
            index = order[begin:begin + batch_size]
            batch = tokenizer(["query: " + texts[i] for i in index], padding=True, truncation=True,
                              max_length=max_length, return_tensors="pt")
            mask = batch["attention_mask"].unsqueeze(-1).float()
            pooled = (model(**batch).last_hidden_state * mask).sum(1) / mask.sum(1)
            out[index] = torch.nn.functional.normalize(pooled, dim=-1).numpy()
    return out


def cached_embeddings(rows: list[dict], args, parser) -> np.ndarray:
    """The rows' embeddings, from ``args.cache`` when it holds exactly these ids, else encoded (and cached)."""
    cache = Path(args.cache) if args.cache else None
    if cache and cache.is_file():
        stored = np.load(cache)
        if list(stored["ids"]) != [r["id"] for r in rows]:
            parser.error(f"{cache} holds other texts: remove it to re-encode")
        return stored["vectors"]
    vectors = embed([r["text"] for r in rows], args.backbone, args.max_length)
    if cache:
        np.savez(cache, ids=np.array([r["id"] for r in rows]), vectors=vectors)
    return vectors


def clause_probe(args, parser) -> None:
    """Cross-fitted real-clause macro-F1 of the baseline, frozen-embedding heads and their blends."""
    from nlpguard.taxonomy import task_labels
    from nlpguard.training import train

    config = train.TrainConfig.from_dict(json.loads((ROOT / "training" / "configs" / "baseline_clauses.json").read_text(encoding="utf-8"))
                                         | {"output": "runs/frozen-probe", "real_document_repeats": args.deals})
    splits, real = train.load_splits(config)[0], train.reference_data(config, lambda line: None)
    if not real["train"]:
        parser.error("the clause probe needs ../shared/corpora (real clauses)")
    labels = task_labels("clauses")
    authored = splits["train"]
    rows = [{"id": e.id, "text": e.text} for e in real["train"] + authored]
    vectors = dict(zip([r["id"] for r in rows], cached_embeddings(rows, args, parser)))

    def heads(fold: DocumentFold) -> np.ndarray:
        rest = [e for e in real["train"] if (e.group or e.id) not in fold.groups]
        kept = [e for e, copy in zip(rest, near_copies([e.text for e in rest], [e.text for e in fold.held_out])) if not copy]
        x = np.array([vectors[e.id] for e in authored + kept])
        y = gold_matrix(authored + kept, labels)
        weights = train.sample_weights(config, authored, kept, labels)
        held = np.array([vectors[e.id] for e in fold.held_out])
        return np.column_stack([LogisticRegression(C=args.c, max_iter=3000)
                                .fit(x, y[:, k], sample_weight=weights[:, k] if weights.ndim == 2 else weights)
                                .predict_proba(held)[:, 1] for k in range(len(labels))])

    for deal, folds in enumerate(train.real_document_deals(config, train.model_spec(config), splits, real, lambda line: None)):
        embedded = [heads(fold) for fold in folds]
        for name, weight in (("baseline", 0.0), ("frozen heads", 1.0), ("blend 0.3", 0.3), ("blend 0.5", 0.5)):
            # the clause figures of cross_fitted_metrics (each fold thresholded on the other folds' scores);
            # its evidence figures come from the baseline's scans and are not read here
            blended = [replace(fold, scores=(1 - weight) * fold.scores + weight * mine) for fold, mine in zip(folds, embedded)]
            figures = cross_fitted_metrics(blended, labels)
            whole = figures["real_clauses_test"]
            print(f"deal {deal} {name:13s} real clauses macro-F1 {figures['real_cross_fit']['all_real_clauses']['macro_f1']:.3f}   "
                  f"30 policies {whole['macro_f1']:.3f} ("
                  + " ".join(f"{label[:5]} {whole['labels'][label]['f1']:.2f}" for label in labels) + ")",
                  flush=True)


def main() -> None:
    """Embed (or load the cache), cross-validate over writer (or document) folds, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", required=True)
    parser.add_argument("--task", choices=("messages", "clauses"), default="messages")
    parser.add_argument("--cache", help=".npz file for the embeddings (written when absent)")
    parser.add_argument("--max-length", type=int, default=96)
    parser.add_argument("--c", type=float, default=4.0)
    parser.add_argument("--deals", type=int, default=1, help="clauses: deals of the real documents into folds")
    args = parser.parse_args()
    if args.task == "clauses":
        clause_probe(args, parser)
        return
    rows = corpus()
    vectors = cached_embeddings(rows, args, parser)
    config = json.loads((ROOT / "training" / "configs" / "baseline_messages.json").read_text(encoding="utf-8"))
    examples = read_examples(ROOT / "data" / "messages" / "train.jsonl", task="messages")
    folds = writer_folds(examples, config["writer_folds"], tuple(config["never_held_out"]))
    gold = np.array([[label in r["labels"] for label in LABELS] for r in rows], dtype=int)
    writer = np.array([r["writer"] for r in rows])
    split = np.array([r["split"] for r in rows])
    authored = ~np.isin(split, ["nus_train", "nus_test"])
    scores, sms_scores, held = [], [], []
    for writers in folds:
        test = np.isin(writer, writers) & authored
        train = np.flatnonzero((authored & ~test) | (split == "nus_train"))
        heads = [LogisticRegression(C=args.c, class_weight="balanced", max_iter=3000).fit(vectors[train], gold[train, k])
                 for k in range(len(LABELS))]
        scores.append(np.column_stack([h.predict_proba(vectors[test])[:, 1] for h in heads]))
        sms_scores.append(np.column_stack([h.predict_proba(vectors[split == "nus_test"])[:, 1] for h in heads]))
        held.append(np.flatnonzero(test))
    predicted, flagged = [], []
    for k in range(len(folds)):
        others = [j for j in range(len(folds)) if j != k]
        limits = tune_thresholds(np.vstack([gold[held[j]] for j in others]), np.vstack([scores[j] for j in others]), LABELS)
        cut = np.array([limits[label] for label in LABELS])
        predicted.append(scores[k] >= cut)
        flagged.append(sms_scores[k] >= cut)
    truth, guess = np.vstack([gold[h] for h in held]).astype(bool), np.vstack(predicted)
    f1 = [2 * (truth[:, k] & guess[:, k]).sum() / max(truth[:, k].sum() + guess[:, k].sum(), 1) for k in range(len(LABELS))]
    sms = np.mean([f.mean(axis=0) for f in flagged], axis=0)
    print(f"{len(truth)} texts of {sum(map(len, folds))} held-out writers, {len(folds)} folds")
    for k, label in enumerate(LABELS):
        print(f"{label:20s} F1 {f1[k]:.3f}   real SMS flagged {sms[k]:.2%}")
    print(f"macro-F1 {np.mean(f1):.3f}")


if __name__ == "__main__":
    main()
