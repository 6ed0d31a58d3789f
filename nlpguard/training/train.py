"""Train a model directory for one task: ``nlpguard train`` and :func:`train`.

One :class:`TrainConfig` holds every setting; it is read from a JSON file,
overridden from the command line, checked, and saved beside the model with
the metrics and a model card, so a model directory says exactly how it was made.
The backbone is ``baseline`` (TF-IDF + logistic regression) or any BERT-family
checkpoint (a Hugging Face name or a local directory), fine-tuned by
:mod:`nlpguard.training.finetune`.
"""
from __future__ import annotations

import functools
import json
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

from ..runtime import baseline
from .augment import disguise_example
from .backbones import licence_line, licence_record, word_vector_table
from .corpora import corpora_dir, message_negatives, real_clause_splits, real_clauses, real_documents
from .document_folds import DocumentFold, cross_fit, cross_fitted_metrics, deal_documents, final_thresholds, release_models
from .crossval import cross_validate, fold_thresholds_for_final, held_out_metrics, is_held_out_writer, writer_folds
from .data import (REVIEW_SOURCE, SPLITS, Example, ReviewMerge, apply_reviews, drop_duplicates, group_split,
                   in_repository, is_review_file, read_any)
from ..errors import DataError, ModelError
from .evaluation import document_metrics, evaluate, evidence_metrics, gold_matrix, predict_scores
from .metrics import ThresholdRule, bootstrap_intervals, cap_false_positives, label_metrics, tune_thresholds
from .modelcard import write_model_card
from ..runtime.modeldir import CONFIG_FILE, Model, ModelSpec, write_config
from ..runtime.word_vectors import WordAverage
from ..taxonomy import LABELS, check_task, label_info, task_info, task_labels


@dataclass
class TrainConfig:
    """Every setting of a training run.

    Attributes:
        task: ``messages`` or ``clauses``.
        data: a folder with ``train/dev/test.jsonl``, or one corpus (``.jsonl``, ``.csv``,
            a ``datasets`` folder, ``hf:NAME[:SPLIT]``) split by group into train/dev/test; or a
            list of such sources, read together (see :func:`load_splits`), e.g. a corpus and the
            reviewers' corrections exported by ``nlpguard feedback export``. A relative path not
            found from the working directory is taken inside the repository, so the project's
            configs (``data/messages``) work from anywhere.
        output: model directory to write.
        backbone: ``baseline`` or a BERT-family checkpoint (Hugging Face name or directory); a
            directory from ``nlpguard backbones fetch`` passes its name and licence to the model.
        labels: label ids (default: the task's taxonomy labels); extra labels need a description.
        label_descriptions: description of each label that is not in the taxonomy.
        text_column, label_column: column names of a researcher's corpus.
        extra_negatives: real-text corpora added as compliant examples (messages only),
            read from ``corpora`` when present: ``nus_sms_zh``, ``fbs_spam_sms``, ``cold``.
        max_real_negatives: at most this many real negatives in training (None: all).
        real_negative_weight: sample weight of the real-corpus negatives relative to authored texts.
        real_clause_weight: sample weight of the hand-labelled real clauses relative to authored clauses.
        balance_authored_rate: clauses with labelled real clauses: weigh each label's authored compliant
            clauses so that the authored clauses' positive rate for that label equals the real clauses'
            (see :func:`sample_weights`). The authored clauses are lending text, about half of them
            positive; the real ones are app policies, about one in five positive and none about loans.
            Unweighted, lending words themselves predict abuse and a fair lending clause (KYC
            collection with its purpose) gets flagged.
        real_clause_labels: folder of the hand-labelled real-clause overlay (clauses only), joined
            with the corpora's text when both exist; split by document. A relative path not found
            from the working directory is taken inside the repository (:func:`~nlpguard.training.data.in_repository`).
        corpora: folder of the reference corpora (default: ``../shared/corpora``).
        aggregation: ``max_sentence`` or ``whole`` (messages); clauses always ``max_clause``.
        target_precision: calibrate thresholds to this precision instead of best F1.
        c, min_df, max_features, char_ngrams: baseline settings.
        negation_scope: baseline: read what follows a negator (不会, 不得 …) in a clause segment as
            negated features (:func:`~nlpguard.runtime.baseline.analyze`); saved with the model.
        word_vectors: baseline: a fetched word-vector backbone (its directory, or ``word2vec-zh`` once
            ``nlpguard backbones fetch word2vec-zh`` has put it in the default place) whose averaged vectors
            join the n-gram features (:mod:`nlpguard.runtime.word_vectors`); the first ``max_word_vectors``
            words (the most frequent) are saved with the model, int8, with the backbone's licence record.
        word_vector_weight: the averaged vector's length beside the unit-length TF-IDF row.
        epochs, batch_size, learning_rate, max_length, stride, grad_accum, loss, patience:
            transformer fine-tuning settings (``loss``: ``bce`` with pos_weight, or ``focal``).
        augment: share of training texts (positives and compliant alike) that also get a
            disguised copy (homophones, pinyin, spacing, traditional script …; see nlpguard.training.augment).
        dedupe: drop repeated texts within each data file (first kept; one text with two label
            sets is still an error naming both records); without it a repeated text is an error.
        writer_folds: 0, or k >= 2 for writer-held-out evaluation and calibration: the writers of
            the data (records' ``writer`` field) are dealt into k folds; one model per fold trains on
            the other writers and scores the fold (:mod:`nlpguard.training.crossval`). The final model's
            thresholds are then tuned on those held-out scores (test-split texts left out) plus real
            negatives and the never-held-out writers' dev texts, never on same-writer dev.
        real_document_folds: 0, or k >= 2 to cross-fit the labelled real clauses (clauses only): their
            documents are dealt into k folds, one model per fold trains on the authored clauses and
            the other folds' real clauses (near-copies of the fold's left out) and scores the fold
            (:mod:`nlpguard.training.document_folds`). The real figures are then those held-out
            scores, each fold thresholded on the other folds; the final model trains on every real
            clause, its thresholds tuned on all held-out real scores (the real positive rate).
        real_document_repeats: deal the documents into folds this many times (seeds ``seed``,
            ``seed + 1`` …; with ``real_document_folds``). Thresholds are tuned on the held-out scores
            of every deal — one deal's best-F1 threshold moves a lot with which documents share a
            fold — and the figures of each deal and their mean are reported.
        near_copy_ngram: with ``real_document_folds``, the character n-gram size of the near-copy test
            (Jaccard >= 0.5) that keeps a fold's near-copies out of its training clauses: 5 (the
            default) leaves out copies and light rewordings; 3 also boilerplate another company
            rewrote with its own name, a stricter measure of policies the model never saw.
        threshold_beta: with ``real_document_folds``, tune each label's threshold for the best F-beta on the
            held-out real scores instead of F1: recall counts ``beta`` times as much as precision
            (e.g. 1.2 for a regulator who would rather read a flag too many than miss one).
        max_real_fp: raise a label's threshold until at most this share of the real-negative dev
            texts (real SMS, spam) reach it (e.g. 0.001), after tuning on held-out writers (with
            ``writer_folds``) or on dev.
        never_held_out: writer prefixes that always stay in training (corpus v1, whose writers each
            wrote one label, is "v1-…": reported separately as a writer-confounded set).
        seed: seed of splits, sampling and training.
    """

    task: str
    data: str | list[str]
    output: str
    backbone: str = "baseline"
    labels: list[str] | None = None
    label_descriptions: dict[str, str] = field(default_factory=dict)
    text_column: str = "text"
    label_column: str = "labels"
    extra_negatives: list[str] = field(default_factory=lambda: ["nus_sms_zh", "fbs_spam_sms"])
    max_real_negatives: int | None = None
    real_negative_weight: float = 0.3
    real_clause_weight: float = 1.0
    balance_authored_rate: bool = False
    real_clause_labels: str | None = "data/real_clauses"
    corpora: str | None = None
    aggregation: str = "max_sentence"
    target_precision: float | None = None
    c: float = 16.0
    min_df: int = 2
    max_features: int = 300_000
    char_ngrams: tuple[int, int] = (1, 3)
    negation_scope: bool = False
    word_vectors: str | None = None
    word_vector_weight: float = 1.0
    max_word_vectors: int = 80_000
    epochs: int = 4
    batch_size: int = 32
    learning_rate: float = 5e-5
    max_length: int = 256
    stride: int = 64
    grad_accum: int = 1
    loss: str = "bce"
    patience: int = 2
    augment: float = 0.0
    dedupe: bool = False
    writer_folds: int = 0
    real_document_folds: int = 0
    real_document_repeats: int = 1
    near_copy_ngram: int = 5
    threshold_beta: float = 1.0
    max_real_fp: float | None = None
    never_held_out: list[str] = field(default_factory=lambda: ["v1-"])
    seed: int = 0

    def __post_init__(self) -> None:
        check_task(self.task)
        if not self.sources or not all(isinstance(source, str) and source for source in self.sources):
            raise ValueError(f"data must name a corpus (a path or several), got {self.data!r}")
        if not self.backbone:
            raise ValueError("backbone must be 'baseline' or a checkpoint name/directory")
        allowed = task_info(self.task).aggregations
        if len(allowed) == 1:  # documents are always scored clause by clause
            self.aggregation = allowed[0]
        elif self.aggregation not in allowed:
            raise ValueError(f"aggregation must be {' or '.join(allowed)}, got {self.aggregation!r}")
        self.char_ngrams = tuple(self.char_ngrams)
        if len(self.char_ngrams) != 2 or not 1 <= self.char_ngrams[0] <= self.char_ngrams[1]:
            raise ValueError(f"char_ngrams must be two sizes (low, high) with 1 <= low <= high, got {self.char_ngrams}")
        undescribed = [l for l in (self.labels or []) if l not in LABELS and l not in self.label_descriptions]
        if undescribed:
            raise ValueError(f"extra label(s) {undescribed} need a description in label_descriptions")
        if self.target_precision is not None and not 0 < self.target_precision <= 1:
            raise ValueError("target_precision must be in (0, 1]")
        if self.writer_folds == 1 or self.writer_folds < 0:
            raise ValueError("writer_folds must be 0 (off) or at least 2")
        if self.real_document_folds == 1 or self.real_document_folds < 0:
            raise ValueError("real_document_folds must be 0 (off) or at least 2")
        if self.real_document_folds and task_info(self.task).reference != "labelled":
            raise ValueError(f"real_document_folds cross-fits labelled real clauses: task {self.task!r} has none")
        if self.real_document_repeats < 1 or (self.real_document_repeats > 1 and not self.real_document_folds):
            raise ValueError("real_document_repeats must be at least 1, and above 1 only with real_document_folds")
        if self.threshold_beta <= 0 or (self.threshold_beta != 1.0 and not self.real_document_folds):
            raise ValueError("threshold_beta must be positive, and other than 1 only with real_document_folds")
        if self.threshold_beta != 1.0 and self.target_precision is not None:
            raise ValueError("choose threshold_beta or target_precision: both set how thresholds are tuned")
        if not 2 <= self.near_copy_ngram <= 10:
            raise ValueError(f"near_copy_ngram must be a character n-gram size from 2 to 10, got {self.near_copy_ngram}")
        if self.balance_authored_rate and task_info(self.task).reference != "labelled":
            raise ValueError(f"balance_authored_rate matches the authored positive rate to labelled real clauses: "
                             f"task {self.task!r} has none")
        if self.real_document_folds and self.writer_folds:
            raise ValueError("choose writer_folds or real_document_folds: thresholds are tuned on one kind of held-out scores")
        if self.max_real_fp is not None and not 0 <= self.max_real_fp < 1:
            raise ValueError("max_real_fp must be in [0, 1)")
        if not 0 <= self.augment <= 1:
            raise ValueError("augment must be between 0 and 1")
        if self.word_vectors is not None and self.backbone != "baseline":
            raise ValueError("word_vectors are features of the baseline; a transformer backbone reads its own embeddings")
        if self.loss not in ("bce", "focal"):
            raise ValueError(f"loss must be bce or focal, got {self.loss!r}")
        numbers = {"c": self.c, "real_negative_weight": self.real_negative_weight,
                   "real_clause_weight": self.real_clause_weight, "learning_rate": self.learning_rate,
                   "word_vector_weight": self.word_vector_weight}
        counts = {"min_df": self.min_df, "max_features": self.max_features, "max_word_vectors": self.max_word_vectors,
                  "epochs": self.epochs,
                  "batch_size": self.batch_size, "grad_accum": self.grad_accum, "patience": self.patience}
        bad = [k for k, v in numbers.items() if v <= 0] + [k for k, v in counts.items() if v < 1]
        if self.max_length < 16 or not 0 <= self.stride < self.max_length:
            bad.append("max_length/stride")
        if bad:
            raise ValueError(f"out of range: {', '.join(bad)}")

    @property
    def sources(self) -> list[str]:
        """The data sources: ``data`` as a list."""
        return [self.data] if isinstance(self.data, str) else list(self.data)

    @property
    def threshold_rule(self) -> ThresholdRule:
        """How real-document thresholds are tuned: ``target_precision`` or best F-``threshold_beta``."""
        return ThresholdRule(self.target_precision, self.threshold_beta)

    @property
    def label_ids(self) -> list[str]:
        """The labels trained: ``labels`` or the task's taxonomy labels."""
        return list(self.labels or task_labels(self.task))

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


def load_splits(config: TrainConfig) -> tuple[dict[str, list[Example]], int, ReviewMerge | None]:
    """Train/dev/test examples of ``config.data``, how many repeated texts ``config.dedupe`` dropped
    from the files read, and what the reviewers' records changed (None when there were none).

    Each source is a folder's split files or a corpus; the corpora (all of them together) are
    split by group and joined to the folders' splits. Records with ``source: review`` (from
    ``nlpguard feedback export``, in any source) are taken out first and applied last by
    :func:`~nlpguard.training.data.apply_reviews`: the reviewed labels override the corpus's for the
    same text, and reviewed texts the corpus lacks join the training split. A review file is
    read with the data format's own columns (``text``, ``labels``) whatever ``text_column``
    and ``label_column`` say.

    Raises:
        DataError: a source breaks the data format, or only review records were given.
    """
    dropped = 0
    reviews: list[Example] = []

    def read(source) -> list[Example]:
        nonlocal dropped
        columns = ("text", "labels") if is_review_file(source) else (config.text_column, config.label_column)
        examples = read_any(source, config.task, config.label_ids, *columns, allow_duplicates=config.dedupe)
        reviews.extend(e for e in examples if e.source == REVIEW_SOURCE)
        examples = [e for e in examples if e.source != REVIEW_SOURCE]
        if config.dedupe:
            examples, count = drop_duplicates(examples, str(source))
            dropped += count
        return examples

    splits: dict[str, list[Example]] = {split: [] for split in SPLITS}
    pooled: list[Example] = []
    for source in config.sources:
        path = in_repository(source)  # the project's configs name data/… from any working directory
        if path.is_dir() and (path / "train.jsonl").is_file():
            for split in SPLITS:
                splits[split] += read(path / f"{split}.jsonl")
        else:
            pooled += read(path if path.exists() else source)
    for split, examples in group_split(pooled, seed=config.seed).items():
        splits[split] += examples
    if reviews and not any(splits.values()):
        raise DataError(f"{', '.join(config.sources)} hold(s) only reviewed records: give the corpus they correct "
                        "beside them, e.g. --data data/clauses review.jsonl")
    return splits, dropped, apply_reviews(splits, reviews) if reviews else None


def reference_data(config: TrainConfig, log) -> dict[str, list[Example]]:
    """Real texts per split from ../shared/corpora: SMS/spam negatives or labelled real clauses."""
    real: dict[str, list[Example]] = {"train": [], "dev": [], "test": []}
    root = corpora_dir(config.corpora)
    if root is None:
        log("reference corpora not found: training on the given data only")
        return real
    reference = task_info(config.task).reference
    if reference == "negatives" and config.extra_negatives:
        real = {split: message_negatives(root, split, tuple(config.extra_negatives)) for split in real}
        if config.max_real_negatives is not None:
            rng = random.Random(config.seed)
            real["train"] = rng.sample(real["train"], min(len(real["train"]), config.max_real_negatives))
        log(f"extra negatives from {root}: " + ", ".join(f"{s} {len(v)}" for s, v in real.items()))
    elif reference == "labelled" and config.real_clause_labels and in_repository(config.real_clause_labels).is_dir():
        labelled = real_clauses(root, in_repository(config.real_clause_labels))
        if config.real_document_folds:
            log(f"real labelled clauses: {len(labelled)}, all trained on (cross-fitted by document for measurement)")
            return {"train": labelled, "dev": [], "test": []}
        real, near = real_clause_splits(labelled)
        log("real labelled clauses: " + ", ".join(f"{s} {len(v)}" for s, v in real.items())
            + f" ({near} training clause(s) left out as near-copies of dev/test clauses)")
    return real


def sample_weights(config: TrainConfig, authored: list[Example], real: list[Example], labels: list[str]) -> np.ndarray:
    """Weights of the ``authored`` corpus texts followed by the ``real`` reference texts: one per text (real SMS
    count ``real_negative_weight`` for messages, real clauses ``real_clause_weight``), or one per text and label.

    With ``config.balance_authored_rate`` and real clauses, column ``k`` gives the authored clauses compliant
    for label ``k`` the weight ``P (1 - r) / (N r)`` (``P``, ``N``: authored positives and compliant clauses of
    the label, ``r``: the real clauses' positive rate), so that the authored clauses are positive at the real
    rate and what only authored text says (the lending domain) carries no label; positives and real clauses
    keep their weights. A label without authored positives, compliant clauses or real positives keeps them too.
    """
    negatives = task_info(config.task).reference == "negatives"
    real_weight = config.real_negative_weight if negatives else config.real_clause_weight
    weights = np.array([1.0] * len(authored) + [real_weight] * len(real))
    if not (config.balance_authored_rate and real):
        return weights
    columns = np.repeat(weights[:, None], len(labels), axis=1)
    authored_gold, real_rate = gold_matrix(authored, labels), gold_matrix(real, labels).mean(axis=0)
    for k, rate in enumerate(real_rate):
        positives, compliant = authored_gold[:, k].sum(), len(authored) - authored_gold[:, k].sum()
        if positives and compliant and 0 < rate < 1:
            columns[:len(authored), k] = np.where(authored_gold[:, k] == 1, 1.0, positives * (1 - rate) / (compliant * rate))
    return columns


def _fit(config: TrainConfig, spec: ModelSpec, train_set: list[Example], weights: np.ndarray,
         dev_set: list[Example], log) -> tuple[object, list[dict]]:
    labels = spec.labels
    targets = gold_matrix(train_set, labels)
    texts = [e.text for e in train_set]
    if config.backbone == "baseline":
        scorer = baseline.TfidfLogReg(labels, c=config.c, min_df=config.min_df, max_features=config.max_features,
                                      char_ngrams=config.char_ngrams, negation_scope=config.negation_scope,
                                      word_vectors=word_vector_features(config))
        scorer.fit(texts, targets, sample_weight=weights)
        return scorer, []
    from .finetune import finetune

    dev_gold = gold_matrix(dev_set, labels)

    def dev_score(scorer) -> float:
        scores = predict_scores(Model(spec, scorer, Path(config.output)), [e.text for e in dev_set])
        return label_metrics(dev_gold, scores, labels, tune_thresholds(dev_gold, scores, labels))["macro_f1"]

    return finetune(config.backbone, texts, targets, weights, labels, dev_score, epochs=config.epochs,
                    batch_size=config.batch_size, learning_rate=config.learning_rate, max_length=config.max_length,
                    stride=config.stride, grad_accum=config.grad_accum, loss=config.loss, patience=config.patience,
                    seed=config.seed, log=log)


def word_vector_features(config: TrainConfig) -> WordAverage | None:
    """The averaged-word-vector table ``config.word_vectors`` names (read once per setting), or None."""
    if config.word_vectors is None:
        return None
    return _word_vector_table(config.word_vectors, config.max_word_vectors, config.word_vector_weight)


_word_vector_table = functools.lru_cache(maxsize=2)(word_vector_table)


def model_spec(config: TrainConfig) -> ModelSpec:
    """The untrained model's spec: task, labels (thresholds 0.5 until calibrated), architecture, aggregation,
    label descriptions, window options and backbone licence record, as ``config`` sets them."""
    from ..runtime.transformer import ARCHITECTURE as TRANSFORMER

    labels = config.label_ids
    descriptions = {l: config.label_descriptions.get(l, label_info(l).definition) for l in labels}
    options = {} if config.backbone == "baseline" else {"max_length": config.max_length, "stride": config.stride}
    words = word_vector_features(config)  # the baseline's pretrained part, whose licence the model carries
    return ModelSpec(config.task, labels, {label: 0.5 for label in labels},
                     baseline.ARCHITECTURE if config.backbone == "baseline" else TRANSFORMER,
                     aggregation=config.aggregation, label_descriptions=descriptions, options=options,
                     backbone=licence_record(config.backbone) or (words.source if words else None))


def train(config: TrainConfig, log=print) -> dict:
    """Train, calibrate thresholds on dev, evaluate on test and write the model directory.

    Returns the metrics that are also written to ``OUTPUT/metrics.json``.
    """
    started = time.time()
    splits, dropped, reviewed = load_splits(config)
    if config.dedupe:
        log(f"dedupe: dropped {dropped} repeated text(s), first kept")
    if reviewed:
        log(f"review data: {reviewed.reviewed} reviewed text(s); reviewed labels overrode {reviewed.overridden} corpus "
            f"record(s), confirmed {reviewed.confirmed}; {reviewed.added} reviewed text(s) added to train")
    real = reference_data(config, log)
    if config.augment:
        rng = random.Random(config.seed)
        copies = [c for e in splits["train"] if rng.random() < config.augment for c in [disguise_example(e, rng)] if c]
        log(f"augmentation: {len(copies)} disguised copies of training texts")
        splits["train"] = splits["train"] + copies
    train_set = splits["train"] + real["train"]
    spec = model_spec(config)
    weights = sample_weights(config, splits["train"], real["train"], spec.labels)
    if spec.backbone:
        log(licence_line(spec.backbone))
    dev_set = splits["dev"] + real["dev"]
    log(f"training {config.backbone} on {len(train_set)} texts ({len(splits['train'])} from {', '.join(config.sources)})")
    scorer, history = _fit(config, spec, train_set, weights, dev_set, log)
    model = Model(spec, scorer, Path(config.output))
    metrics = _calibrate(config, model, splits, real, log)
    metrics["history"] = history
    metrics["train_seconds"] = round(time.time() - started, 1)
    metrics["counts"] = ({split: len(v) for split, v in splits.items()} | {f"real_{s}": len(v) for s, v in real.items()}
                         | ({"duplicates_dropped": dropped} if config.dedupe else {})
                         | ({"review_overridden": reviewed.overridden, "review_added": reviewed.added} if reviewed else {}))

    output = Path(config.output)
    output.mkdir(parents=True, exist_ok=True)
    model.save(output)
    _write_reports(output, config, spec, metrics)
    log(f"test macro-F1 {metrics['test']['macro_f1']}, written to {output}")
    return metrics


def _writer_held_out(config: TrainConfig, model: Model, splits: dict[str, list[Example]],
                     real: dict[str, list[Example]], log) -> tuple[dict[str, float], dict]:
    """Writer-held-out figures (one model per writer fold) and the final model's thresholds tuned on them."""
    labels = model.spec.labels
    for split in SPLITS:
        for example in splits[split]:
            example.extra["split"] = split
    examples = [e for split in SPLITS for e in splits[split]]
    folds = writer_folds(examples, config.writer_folds, tuple(config.never_held_out))

    def fit(train: list[Example], dev: list[Example]):
        weights = sample_weights(config, train, real["train"], model.spec.labels)
        return _fit(config, model.spec, train + real["train"], weights, dev + real["dev"], lambda line: None)[0]

    def predict(scorer, texts: list[str]) -> np.ndarray:
        return predict_scores(Model(model.spec, scorer, model.path), texts)

    results = cross_validate(examples, real["dev"], folds, fit, predict, log)
    held_out = held_out_metrics(results, labels, config.target_precision, config.max_real_fp)
    log(f"writer-held-out macro-F1 {held_out['macro_f1']} over {len(folds)} folds")
    confounded = [e for e in splits["dev"] if not is_held_out_writer(e, tuple(config.never_held_out))]
    real_scores = predict_scores(model, [e.text for e in real["dev"]])
    thresholds = fold_thresholds_for_final(
        results, labels, gold_matrix(confounded + real["dev"], labels),
        np.vstack([predict_scores(model, [e.text for e in confounded]), real_scores]), real_scores,
        config.target_precision, config.max_real_fp)
    return thresholds, held_out


def _calibrate(config: TrainConfig, model: Model, splits: dict[str, list[Example]],
               real: dict[str, list[Example]], log, tune: bool = True) -> dict:
    """Tune ``model``'s thresholds — on writer-held-out scores when ``config.writer_folds``, else on dev
    (authored + reference); kept as they are when not ``tune`` — and measure dev, test (per writer
    group too) and the real test sets."""
    labels = model.spec.labels
    held_out, cross_fitted = None, None
    if tune and config.real_document_folds and real["train"]:
        model.spec.thresholds, cross_fitted = _real_document_cross_fit(config, model, splits, real, log)
        log(f"thresholds tuned on held-out real documents: {model.spec.thresholds}")
    elif tune and config.writer_folds:
        model.spec.thresholds, held_out = _writer_held_out(config, model, splits, real, log)
        log(f"thresholds tuned on held-out writers and real negatives: {model.spec.thresholds}")
    elif tune:
        dev_set = splits["dev"] + real["dev"]
        dev_scores = predict_scores(model, [e.text for e in dev_set])
        model.spec.thresholds = tune_thresholds(gold_matrix(dev_set, labels), dev_scores, labels, config.target_precision)
        if config.max_real_fp is not None and real["dev"] and task_info(config.task).reference == "negatives":
            model.spec.thresholds = cap_false_positives(model.spec.thresholds, dev_scores[len(splits["dev"]):], labels,
                                                        config.max_real_fp)
        log(f"thresholds tuned on {len(dev_set)} dev texts: {model.spec.thresholds}")
    metrics = {"dev": evaluate(model, splits["dev"])[0], "test": evaluate(model, splits["test"])[0]}
    if held_out is not None:
        metrics["writer_held_out"] = held_out
        prefixes = tuple(config.never_held_out)
        groups = {"independent_writers": [e for e in splits["test"] if is_held_out_writer(e, prefixes)],
                  "writer_confounded": [e for e in splits["test"] if not is_held_out_writer(e, prefixes)]}
        metrics["test_by_corpus"] = {name: evaluate(model, group)[0] for name, group in groups.items() if group}
    if real["test"] and task_info(config.task).reference == "negatives":
        real_metrics, _ = evaluate(model, real["test"])
        metrics["real_negatives_test"] = {"n": real_metrics["n"],
                                          "false_positive_rate": real_metrics["any_label_false_positive_rate"],
                                          "per_label": {l: round(v["fp"] / max(1, real_metrics["n"]), 4)
                                                        for l, v in real_metrics["labels"].items()}}
    elif cross_fitted:
        metrics |= cross_fitted
    elif real["test"]:
        gold, scores = gold_matrix(real["test"], labels), predict_scores(model, [e.text for e in real["test"]])
        predicted = scores >= np.array([model.spec.thresholds[l] for l in labels])
        groups = [e.group or e.id for e in real["test"]]
        metrics["real_clauses_test"] = label_metrics(gold, scores, labels, model.spec.thresholds)
        metrics["real_clauses_test"]["intervals_95"] = bootstrap_intervals(gold, predicted, groups, labels)
        metrics["real_documents_test"] = document_metrics(gold, predicted, groups, labels)
        documents = real_documents(corpora_dir(config.corpora), in_repository(config.real_clause_labels), real["test"])
        if documents:
            evidence = evidence_metrics(model, documents)
            metrics["real_evidence_test"] = {key: value for key, value in evidence.items() if key != "per_document"}
            log(f"evidence on {evidence['documents']} whole real documents: precision {evidence['precision']}, "
                f"recall {evidence['recall']}, {evidence['flags_per_document']} flags per document")
    return metrics


def real_document_deals(config: TrainConfig, spec: ModelSpec, splits: dict[str, list[Example]],
                        real: dict[str, list[Example]], log=print) -> Iterator[list[DocumentFold]]:
    """The folds of each deal of the labelled real documents (``config.real_document_folds`` folds, dealt
    ``config.real_document_repeats`` times with seeds ``config.seed``, ``config.seed + 1`` …), one model per
    fold with ``spec`` (e.g. :func:`model_spec`), trained on the authored train split and the other folds'
    real clauses. The whole held-out policies (:func:`~nlpguard.training.corpora.real_documents`) are read
    once for all deals."""
    documents = real_documents(corpora_dir(config.corpora), in_repository(config.real_clause_labels), real["train"])

    def fit(real_train: list[Example]) -> Model:
        weights = sample_weights(config, splits["train"], real_train, spec.labels)
        scorer = _fit(config, spec, splits["train"] + real_train, weights, splits["dev"], lambda line: None)[0]
        return Model(spec, scorer, Path(config.output))

    for deal in range(config.real_document_repeats):
        folds = deal_documents(real["train"], config.real_document_folds, documents, config.seed + deal)
        yield cross_fit(real["train"], documents, folds, fit, log, config.near_copy_ngram)


def _real_document_cross_fit(config: TrainConfig, model: Model, splits: dict[str, list[Example]],
                             real: dict[str, list[Example]], log) -> tuple[dict[str, float], dict]:
    """Thresholds for the final model and cross-fitted real figures, one model per fold of real documents and
    deal: the first deal's full figures, each deal's headline figures and their mean under ``deals``."""
    labels = model.spec.labels
    pooled, deals, metrics = [], [], {}
    for deal, results in enumerate(real_document_deals(config, model.spec, splits, real, log)):
        figures = cross_fitted_metrics(results, labels, config.threshold_rule)
        headline = _headline(figures) | {"seed": config.seed + deal}
        log(f"deal {deal + 1}/{config.real_document_repeats}, cross-fitted over {len(results)} folds of real documents: "
            + ", ".join(f"{name} {value}" for name, value in headline.items() if name != "seed"))
        release_models(results)
        pooled += results
        deals.append(headline)
        metrics = metrics or figures
    names = [name for name in deals[0] if name != "seed"]
    metrics["real_cross_fit"]["deals"] = deals
    metrics["real_cross_fit"]["mean_over_deals"] = {
        name: round(float(np.mean([d[name] for d in deals])), 4) for name in names if None not in [d[name] for d in deals]}
    thresholds = final_thresholds(pooled, labels, config.threshold_rule)
    metrics["real_cross_fit"]["final_thresholds"] = thresholds
    return thresholds, metrics


def _headline(figures: dict) -> dict:
    """The headline cross-fitted figures: real-clause macro-F1 (all, whole policies) and evidence."""
    evidence = figures.get("real_evidence_test", {})
    return {"all_real_macro_f1": figures["real_cross_fit"]["all_real_clauses"]["macro_f1"],
            "policies_macro_f1": figures.get("real_clauses_test", {}).get("macro_f1"),
            "evidence_precision": evidence.get("precision"), "evidence_recall": evidence.get("recall"),
            "flags_per_policy": evidence.get("flags_per_document")}


def _write_reports(output: Path, config: TrainConfig, spec: ModelSpec, metrics: dict) -> None:
    (output / "metrics.json").write_text(json.dumps(metrics, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    (output / "training_config.json").write_text(json.dumps(config.to_dict(), indent=2) + "\n", encoding="utf-8")
    write_model_card(output, spec, config.to_dict(), metrics)


def recalibrate(directory: str | Path, aggregation: str | None = None, target_precision: float | None = None,
                log=print) -> dict:
    """Re-tune a trained model's thresholds without retraining, optionally under a new aggregation
    or precision target, on the same dev data its training used (``training_config.json``).

    Rewrites ``config.json`` (thresholds, aggregation; a Platt scaling from
    :mod:`~nlpguard.training.writer_calibration` is dropped), ``metrics.json`` (training history kept),
    ``training_config.json`` and the model card; weights are untouched. Returns the new metrics.
    """
    directory = Path(directory)
    settings, previous = read_training_run(directory)
    if aggregation is not None:
        settings["aggregation"] = aggregation
    if target_precision is not None:
        settings["target_precision"] = target_precision
    config = TrainConfig.from_dict(settings)
    model = Model.load(directory, config.task)
    model.spec.aggregation = config.aggregation  # a task with one aggregation keeps it (TrainConfig)
    if model.spec.platt:
        model.spec.platt = {}
        log("the Platt scaling fitted on held-out writers is dropped with its thresholds: run "
            "`nlpguard calibrate --held-out-writers` again to restore it")
    metrics = _calibrate(config, model, load_splits(config)[0], reference_data(config, log), log)
    write_recalibrated(directory, config, model, metrics, previous)
    log(f"test macro-F1 {metrics['test']['macro_f1']}, {directory} recalibrated")
    return metrics


def read_training_run(directory: Path) -> tuple[dict, dict]:
    """The ``training_config.json`` settings and ``metrics.json`` of a trained model directory."""
    try:
        settings = json.loads((directory / "training_config.json").read_text(encoding="utf-8"))
        previous = json.loads((directory / "metrics.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"{directory} has no readable training_config.json and metrics.json: {exc}") from exc
    return settings, previous


def write_recalibrated(directory: Path, config: TrainConfig, model: Model, metrics: dict, previous: dict) -> None:
    """Rewrite a recalibrated model's ``config.json`` (its spec, the transformers part kept), metrics (the
    ``previous`` run's history, time and counts kept), settings and card; the weights are not touched."""
    metrics |= {k: previous[k] for k in ("history", "train_seconds", "counts") if k in previous}
    hf_config = json.loads((directory / CONFIG_FILE).read_text(encoding="utf-8"))
    write_config(directory, model.spec, extra=hf_config)
    _write_reports(directory, config, model.spec, metrics)
