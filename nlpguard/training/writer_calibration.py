"""Calibration for transfer: temperatures and thresholds chosen on writers a model never saw.

Thresholds tuned on the dev split are tuned on the training writers' own style, and a
fine-tuned encoder's scores are over-confident on it (thresholds of 0.98, expected calibration
error near 0.1). A model trained on a data folder whose test split holds whole writers out
(``training/hold_out_writers.py``) can instead be calibrated on those writers: per label, a
temperature ``T`` (score = ``sigmoid(logit(p) / T)``, fitted by log-loss) and a threshold
(best F1 on the held-out writers plus the real dev negatives, capped at the model's real
false-positive rate).

Refitting a transformer once per writer fold costs hours of CPU, so one model is calibrated
by cross-fitting instead: each held-out writer in turn is scored at the temperatures and
thresholds fitted on the *other* held-out writers, and the pooled figures are what text by a
writer outside calibration gets. The shipped temperatures and thresholds are then fitted on
all held-out writers; the test split has then served calibration, so its own figures are no
longer held out — the cross-fitted figures are (the model card says so).
"""
from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import numpy as np
from scipy.optimize import minimize_scalar

from ..errors import ModelError
from ..runtime.modeldir import CONFIG_FILE, Model, write_config
from ..runtime.scoring import temper
from .crossval import FoldScores, fold_thresholds_for_final, held_out_metrics, writer_of
from .evaluation import gold_matrix, predict_scores
from .metrics import expected_calibration_error
from .modelcard import HELD_OUT_FILE, write_model_card


def fit_temperature(truth: np.ndarray, probabilities: np.ndarray) -> float:
    """The temperature (0.05–50) minimising the log-loss of ``sigmoid(logit(p) / T)`` against 0/1 ``truth``."""
    truth = np.asarray(truth, dtype=np.float64)
    p = np.asarray(probabilities, dtype=np.float64)[:, None]

    def log_loss(log_t: float) -> float:
        q = np.clip(temper(p, [np.exp(log_t)])[:, 0], 1e-12, 1 - 1e-12)
        return float(-np.mean(truth * np.log(q) + (1 - truth) * np.log(1 - q)))

    found = minimize_scalar(log_loss, bounds=(np.log(0.05), np.log(50.0)), method="bounded")
    return round(float(np.exp(found.x)), 4)


def fit_temperatures(gold: np.ndarray, probabilities: np.ndarray, labels: list[str]) -> dict[str, float]:
    """One temperature per label (columns of ``gold`` and ``probabilities``); a label without positives keeps 1."""
    return {label: fit_temperature(gold[:, k], probabilities[:, k]) if gold[:, k].any() else 1.0
            for k, label in enumerate(labels)}


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
    others plus the real negatives) and ``ece``: per label, before (raw scores) and after (each writer at
    the temperatures fitted on the other writers).
    """
    gold = gold_matrix(examples, labels)
    writers = _by_writer(examples, gold, scores)
    if len(writers) < 2:
        raise ModelError(f"calibrating on held-out writers needs at least two writers, the test split has {list(writers)}")
    results = [FoldScores([w], rows, block, real_scores) for w, (rows, _, block) in writers.items()]
    figures = held_out_metrics(results, labels, target_precision, max_real_fp)
    tempered = []
    for w, (_, gold_w, scores_w) in writers.items():
        others = [name for name in writers if name != w]
        t = fit_temperatures(np.vstack([writers[o][1] for o in others]), np.vstack([writers[o][2] for o in others]), labels)
        tempered.append(temper(scores_w, [t[label] for label in labels]))
    pooled_gold = np.vstack([g for _, g, _ in writers.values()])
    pooled_raw = np.vstack([s for _, _, s in writers.values()])
    pooled_tempered = np.vstack(tempered)
    figures["ece"] = {label: {"before": round(expected_calibration_error(pooled_gold[:, k], pooled_raw[:, k]), 4),
                              "after": round(expected_calibration_error(pooled_gold[:, k], pooled_tempered[:, k]), 4)}
                      for k, label in enumerate(labels)}
    return figures


def calibrate_on_held_out_writers(directory: str | Path, log=print) -> dict:
    """Fit ``directory``'s temperatures and thresholds on the held-out writers of its training data.

    The model must have been trained on a folder written by ``training/hold_out_writers.py`` (its
    test split is whole writers). Writes ``config.json`` (temperatures, thresholds), ``metrics.json``
    (``held_out_writer_calibration``: the cross-fitted figures; ``test`` is then in-sample) and the
    model card; the weights are untouched. Returns the new metrics.
    """
    from .train import TrainConfig, _calibrate, _write_reports, load_splits, reference_data

    directory = Path(directory)
    try:
        settings = json.loads((directory / "training_config.json").read_text(encoding="utf-8"))
        previous = json.loads((directory / "metrics.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"{directory} has no readable training_config.json and metrics.json: {exc}") from exc
    config = TrainConfig.from_dict(settings)
    if not any((Path(source) / HELD_OUT_FILE).is_file() for source in config.sources):
        raise ModelError(f"{directory} was not trained on a folder with whole writers held out ({HELD_OUT_FILE}, "
                         "written by training/hold_out_writers.py): there are no unseen writers to calibrate on")
    model = Model.load(directory, config.task)
    model.spec.temperatures = {}
    labels = model.spec.labels
    held = load_splits(config)[0]["test"]
    real = reference_data(config, log)
    log(f"scoring {len(held)} texts of held-out writers and {len(real['dev'])} real dev negatives")
    scores = predict_scores(model, [e.text for e in held])
    real_scores = predict_scores(model, [e.text for e in real["dev"]])
    figures = cross_fitted_calibration(held, scores, real_scores, labels, config.target_precision, config.max_real_fp)
    log(f"cross-fitted over {len(figures['writers'])} held-out writers: macro-F1 {figures['macro_f1']}, "
        f"ECE before/after {figures['ece']}")
    temperatures = fit_temperatures(gold_matrix(held, labels), scores, labels)
    everyone = [FoldScores(sorted({writer_of(e) for e in held}), held, scores, real_scores)]
    raw_thresholds = fold_thresholds_for_final(everyone, labels, np.zeros((0, len(labels))), np.zeros((0, len(labels))),
                                               real_scores, config.target_precision, config.max_real_fp, exclude_split="")
    # The thresholds were tuned on raw scores; the same decisions at the tempered scores (rounded as scores are).
    model.spec.thresholds = {label: round(float(temper([[raw_thresholds[label]]], [temperatures[label]])[0, 0]), 4)
                             for label in labels}
    model.spec.temperatures = temperatures
    log(f"temperatures {temperatures}, thresholds {model.spec.thresholds}")
    metrics = _calibrate(config, model, load_splits(config)[0], real, log, tune=False)
    metrics["held_out_writer_calibration"] = figures
    metrics |= {k: previous[k] for k in ("history", "train_seconds", "counts") if k in previous}
    hf_config = json.loads((directory / CONFIG_FILE).read_text(encoding="utf-8"))
    write_config(directory, model.spec, extra=hf_config)
    _write_reports(directory, config, model.spec, metrics)
    return metrics
