"""Calibration for transfer: Platt scaling and thresholds chosen on writers a model never saw.

Thresholds tuned on the dev split are tuned on the training writers' own style, and a
fine-tuned encoder's scores are over-confident on it (thresholds of 0.98, expected calibration
error near 0.1). A model trained on a data folder whose test split holds whole writers out
(``training/hold_out_writers.py``) can instead be calibrated on those writers plus the real dev
negatives: per label, Platt scaling (score = ``sigmoid(a * logit(p) + b)``, a logistic regression
on the logit; a temperature alone, ``b = 0``, made the expected calibration error of the packaged
e5 model worse, 0.096 → 0.109, where Platt scaling brought it to 0.023) and a threshold (best F1,
capped at the model's real false-positive rate).

Refitting a transformer once per writer fold costs hours of CPU, so one model is calibrated
by cross-fitting instead: each held-out writer in turn is scored through the scaling and
thresholds fitted on the *other* held-out writers, and the pooled figures are what text by a
writer outside calibration gets. The shipped scaling and thresholds are then fitted on
all held-out writers; the test split has then served calibration, so its own figures are no
longer held out — the cross-fitted figures are (the model card says so).
"""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression

from ..errors import ModelError
from ..runtime.modeldir import Model
from ..runtime.scoring import platt_scale
from .crossval import FoldScores, fold_thresholds_for_final, held_out_metrics, writer_of
from .evaluation import gold_matrix, predict_scores
from .metrics import expected_calibration_error
from .modelcard import HELD_OUT_FILE, held_out_writers


def fit_platt(truth: np.ndarray, probabilities: np.ndarray) -> list[float]:
    """``[slope, intercept]`` of a logistic regression of 0/1 ``truth`` on ``logit(probabilities)`` (sklearn's
    default L2 penalty: negligible on thousands of texts, it keeps the slope finite when a few separate
    perfectly); ``[1, 0]`` when ``truth`` has one class only or the fit would reverse the order."""
    truth = np.asarray(truth).astype(int)
    if truth.min() == truth.max():
        return [1.0, 0.0]
    p = np.clip(np.asarray(probabilities, dtype=np.float64), 1e-6, 1 - 1e-6)
    fitted = LogisticRegression(max_iter=1000).fit(np.log(p / (1 - p))[:, None], truth)
    slope, intercept = float(fitted.coef_[0, 0]), float(fitted.intercept_[0])
    return [round(slope, 4), round(intercept, 4)] if slope > 0 else [1.0, 0.0]


def fit_platt_per_label(gold: np.ndarray, probabilities: np.ndarray, labels: list[str]) -> dict[str, list[float]]:
    """:func:`fit_platt` for each label (columns of ``gold`` and ``probabilities``)."""
    return {label: fit_platt(gold[:, k], probabilities[:, k]) for k, label in enumerate(labels)}


def scale(scores: np.ndarray, platt: dict[str, list[float]], labels: list[str]) -> np.ndarray:
    """``scores`` (n, n_labels) through each label's Platt scaling."""
    return platt_scale(scores, [platt[l][0] for l in labels], [platt[l][1] for l in labels])


def _by_writer(examples, gold: np.ndarray, scores: np.ndarray) -> dict[str, tuple[list, np.ndarray, np.ndarray]]:
    rows: dict[str, list[int]] = defaultdict(list)
    for i, example in enumerate(examples):
        rows[writer_of(example)].append(i)
    return {w: ([examples[i] for i in index], gold[index], scores[index]) for w, index in sorted(rows.items())}


def cross_fitted_calibration(examples, scores: np.ndarray, real_scores: np.ndarray, labels: list[str],
                             target_precision: float | None = None, max_real_fp: float | None = None) -> dict:
    """Leave-one-writer-out figures of calibrating on held-out writers.

    ``examples`` (with ``writer`` in ``extra``) and their raw ``scores``; ``real_scores``: the real dev
    negatives. Returns :func:`~nlpguard.training.crossval.held_out_metrics` (each writer thresholded on the
    others plus the real negatives) and ``ece``: per label, before (raw scores) and after (each writer
    through the Platt scaling fitted on the other writers plus the real negatives).
    """
    gold = gold_matrix(examples, labels)
    writers = _by_writer(examples, gold, scores)
    if len(writers) < 2:
        raise ModelError(f"calibrating on held-out writers needs at least two writers, the test split has {list(writers)}")
    results = [FoldScores([w], rows, block, real_scores) for w, (rows, _, block) in writers.items()]
    figures = held_out_metrics(results, labels, target_precision, max_real_fp)
    scaled = []
    for w, (_, _, scores_w) in writers.items():
        others = [name for name in writers if name != w]
        platt = _fit_with_negatives([writers[o][1] for o in others], [writers[o][2] for o in others], real_scores, labels)
        scaled.append(scale(scores_w, platt, labels))
    pooled_gold = np.vstack([g for _, g, _ in writers.values()])
    pooled_raw = np.vstack([s for _, _, s in writers.values()])
    pooled_scaled = np.vstack(scaled)
    figures["ece"] = {label: {"before": round(expected_calibration_error(pooled_gold[:, k], pooled_raw[:, k]), 4),
                              "after": round(expected_calibration_error(pooled_gold[:, k], pooled_scaled[:, k]), 4)}
                      for k, label in enumerate(labels)}
    for label in labels:  # the pooled scores were shifted by each writer's thresholds: their own ECE means nothing
        figures["labels"][label]["ece"] = figures["ece"][label]["after"]
    return figures


def _fit_with_negatives(golds: list[np.ndarray], scores: list[np.ndarray], real_scores: np.ndarray,
                        labels: list[str]) -> dict[str, list[float]]:
    """Platt scaling fitted on writers' texts plus the real negatives (all gold 0)."""
    gold = np.vstack(golds + [np.zeros((len(real_scores), len(labels)), dtype=np.int8)])
    return fit_platt_per_label(gold, np.vstack(scores + [real_scores]), labels)


def calibrate_on_held_out_writers(directory: str | Path, log=print) -> dict:
    """Fit ``directory``'s Platt scaling and thresholds on the held-out writers of its training data.

    The model must have been trained on a folder written by ``training/hold_out_writers.py`` (its
    test split is whole writers). Writes ``config.json`` (``platt``, thresholds), ``metrics.json``
    (``held_out_writer_calibration``: the cross-fitted figures; ``test`` is then in-sample) and the
    model card; the weights are untouched. Returns the new metrics.
    """
    from .train import TrainConfig, _calibrate, load_splits, read_training_run, reference_data, write_recalibrated

    directory = Path(directory)
    settings, previous = read_training_run(directory)
    config = TrainConfig.from_dict(settings)
    if not held_out_writers(settings):
        raise ModelError(f"{directory} was not trained on a folder with whole writers held out ({HELD_OUT_FILE}, "
                         "written by training/hold_out_writers.py): there are no unseen writers to calibrate on")
    model = Model.load(directory, config.task)
    model.spec.platt = {}
    labels = model.spec.labels
    splits = load_splits(config)[0]
    held = splits["test"]
    real = reference_data(config, log)
    log(f"scoring {len(held)} texts of held-out writers and {len(real['dev'])} real dev negatives")
    scores = predict_scores(model, [e.text for e in held])
    real_scores = predict_scores(model, [e.text for e in real["dev"]])
    figures = cross_fitted_calibration(held, scores, real_scores, labels, config.target_precision, config.max_real_fp)
    log(f"cross-fitted over {len(figures['writers'])} held-out writers: macro-F1 {figures['macro_f1']}, "
        f"ECE before/after {figures['ece']}")
    platt = _fit_with_negatives([gold_matrix(held, labels)], [scores], real_scores, labels)
    everyone = [FoldScores(sorted({writer_of(e) for e in held}), held, scores, real_scores)]
    raw_thresholds = fold_thresholds_for_final(everyone, labels, np.zeros((0, len(labels))), np.zeros((0, len(labels))),
                                               real_scores, config.target_precision, config.max_real_fp, exclude_split="")
    # The thresholds were tuned on raw scores; the same decisions at the scaled scores (rounded as scores are).
    cuts = scale(np.array([[raw_thresholds[label] for label in labels]]), platt, labels)[0]
    model.spec.thresholds = {label: round(float(cut), 4) for label, cut in zip(labels, cuts)}
    model.spec.platt = platt
    log(f"Platt scaling [slope, intercept] {platt}, thresholds {model.spec.thresholds}")
    metrics = _calibrate(config, model, splits, real, log, tune=False)
    metrics["held_out_writer_calibration"] = figures
    write_recalibrated(directory, config, model, metrics, previous)
    return metrics
