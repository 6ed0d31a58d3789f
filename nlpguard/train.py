"""Train a model directory for one task: ``nlpguard train`` and :func:`train`.

One :class:`TrainConfig` holds every setting; it is read from a JSON file,
overridden from the command line, checked, and saved beside the model with
the metrics, so a model directory says exactly how it was made.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from . import baseline
from .corpora import corpora_dir, message_negatives
from .data import Example, group_split, read_examples
from .evaluation import evaluate, gold_matrix, predict_scores
from .metrics import tune_thresholds
from .modeldir import LoadedModel, ModelSpec, write_config
from .taxonomy import check_task, task_labels


@dataclass
class TrainConfig:
    """Every setting of a training run.

    Attributes:
        task: ``messages`` or ``clauses``.
        data: a folder with ``train/dev/test.jsonl`` or one JSONL file to split by group.
        output: model directory to write.
        backbone: ``baseline`` (TF-IDF + logistic regression).
        extra_negatives: real-text corpora added as compliant examples (messages only),
            read from ``corpora`` when present: ``nus_sms_zh``, ``fbs_spam_sms``, ``cold``.
        corpora: folder of the reference corpora (default: ``../shared/corpora``).
        aggregation: ``max_sentence`` or ``whole`` (messages); clauses always ``max_clause``.
        target_precision: calibrate thresholds to this precision instead of best F1.
        c, min_df, max_features: baseline regularisation and vocabulary size.
        seed: seed of the split of a single data file.
    """

    task: str
    data: str
    output: str
    backbone: str = "baseline"
    extra_negatives: list[str] = field(default_factory=lambda: ["nus_sms_zh", "fbs_spam_sms"])
    corpora: str | None = None
    aggregation: str = "max_sentence"
    target_precision: float | None = None
    c: float = 64.0
    min_df: int = 2
    max_features: int = 300_000
    seed: int = 0

    def __post_init__(self) -> None:
        check_task(self.task)
        if self.backbone != "baseline":
            raise ValueError(f"unknown backbone {self.backbone!r}; available: baseline")
        if self.task == "clauses":
            self.aggregation = "max_clause"
        elif self.aggregation not in ("max_sentence", "whole"):
            raise ValueError(f"aggregation must be max_sentence or whole, got {self.aggregation!r}")
        if self.target_precision is not None and not 0 < self.target_precision <= 1:
            raise ValueError("target_precision must be in (0, 1]")
        if self.c <= 0 or self.min_df < 1 or self.max_features < 1:
            raise ValueError("c must be > 0, min_df >= 1 and max_features >= 1")

    def to_dict(self) -> dict:
        """JSON-ready settings."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        """Settings from a dict; unknown keys are an error naming them."""
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown training setting(s): {', '.join(sorted(unknown))}")
        return cls(**data)


def load_splits(config: TrainConfig) -> dict[str, list[Example]]:
    """Train/dev/test examples: the folder's split files, or a group-aware split of one file."""
    path = Path(config.data)
    if path.is_file():
        return group_split(read_examples(path, config.task), seed=config.seed)
    return {split: read_examples(path / f"{split}.jsonl", config.task) for split in ("train", "dev", "test")}


def train(config: TrainConfig, log=print) -> dict:
    """Train, calibrate thresholds on dev, evaluate on test and write the model directory.

    Returns the metrics that are also written to ``OUTPUT/metrics.json``.
    """
    started = time.time()
    labels = task_labels(config.task)
    splits = load_splits(config)
    real = {"train": [], "dev": [], "test": []}
    root = corpora_dir(config.corpora)
    if config.task == "messages" and config.extra_negatives and root is not None:
        names = tuple(config.extra_negatives)
        real = {split: message_negatives(root, split, names) for split in real}
        log(f"extra negatives from {root}: " + ", ".join(f"{s} {len(v)}" for s, v in real.items()))
    elif config.task == "messages" and config.extra_negatives:
        log("reference corpora not found: training on the authored data only")

    train_set = splits["train"] + real["train"]
    log(f"training {config.backbone} on {len(train_set)} texts ({len(splits['train'])} authored)")
    scorer = baseline.TfidfLogReg.fit([e.text for e in train_set], gold_matrix(train_set, labels), labels,
                                      c=config.c, min_df=config.min_df, max_features=config.max_features)
    spec = ModelSpec(config.task, labels, {label: 0.5 for label in labels}, baseline.ARCHITECTURE,
                     aggregation=config.aggregation)
    model = LoadedModel(spec, scorer, Path(config.output))

    dev_set = splits["dev"] + real["dev"]
    dev_scores = predict_scores(model, [e.text for e in dev_set])
    spec.thresholds = tune_thresholds(gold_matrix(dev_set, labels), dev_scores, labels, config.target_precision)
    log(f"thresholds tuned on {len(dev_set)} dev texts: {spec.thresholds}")

    metrics = {"dev": evaluate(model, splits["dev"])[0], "test": evaluate(model, splits["test"])[0]}
    if real["test"]:
        real_metrics, _ = evaluate(model, real["test"])
        metrics["real_negatives_test"] = {"n": real_metrics["n"],
                                          "false_positive_rate": real_metrics["any_label_false_positive_rate"]}
    metrics["train_seconds"] = round(time.time() - started, 1)
    metrics["counts"] = {split: len(v) for split, v in splits.items()} | {f"real_{s}": len(v) for s, v in real.items()}

    output = Path(config.output)
    scorer.save(output)
    write_config(output, spec)
    (output / "metrics.json").write_text(json.dumps(metrics, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    (output / "training_config.json").write_text(json.dumps(config.to_dict(), indent=2) + "\n", encoding="utf-8")
    log(f"test macro-F1 {metrics['test']['macro_f1']}, written to {output}")
    return metrics
