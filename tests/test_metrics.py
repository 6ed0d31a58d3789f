import numpy as np
import pytest

from nlpguard.training.metrics import label_metrics, tune_thresholds

GOLD = np.array([[1], [1], [1], [0], [0], [0], [0], [0]])
SCORES = np.array([[0.9], [0.8], [0.35], [0.7], [0.3], [0.2], [0.1], [0.05]])


def test_best_f1_threshold():
    assert tune_thresholds(GOLD, SCORES, ["a"]) == {"a": 0.35}         # P 0.75 R 1.0 (F1 0.857) beats 0.8's F1 0.8


def test_target_precision_threshold_is_the_lowest_reaching_it():
    assert tune_thresholds(GOLD, SCORES, ["a"], target_precision=0.7) == {"a": 0.35}  # P 0.75; at 0.3 only 0.6
    assert tune_thresholds(GOLD, SCORES, ["a"], target_precision=1.0) == {"a": 0.8}


def test_label_without_positives_keeps_the_default():
    assert tune_thresholds(np.zeros((3, 1)), np.array([[0.2], [0.9], [0.4]]), ["a"]) == {"a": 0.5}


def test_confusion_counts_and_f1():
    metrics = label_metrics(GOLD, SCORES, ["a"], {"a": 0.5})
    m = metrics["labels"]["a"]
    assert (m["tp"], m["fp"], m["fn"], m["tn"]) == (2, 1, 1, 4)
    assert m["f1"] == pytest.approx(2 / 3, abs=1e-4)
    assert metrics["any_label_false_positive_rate"] == pytest.approx(0.2)


def test_bootstrap_intervals_resample_whole_documents():
    from nlpguard.training.metrics import bootstrap_intervals

    gold = np.array([[1], [0], [1], [0], [1], [0]])
    perfect = bootstrap_intervals(gold, gold.copy(), ["a", "a", "b", "b", "c", "c"], ["x"], rounds=200)
    assert perfect == {"x": [1.0, 1.0], "macro_f1": [1.0, 1.0]}
    # document c is all wrong: resamples without it score 1, resamples of c alone score 0
    predicted = np.array([[1], [0], [1], [0], [0], [1]])
    low, high = bootstrap_intervals(gold, predicted, ["a", "a", "b", "b", "c", "c"], ["x"], rounds=500)["x"]
    assert low < 0.67 < high and high == 1.0


def test_expected_calibration_error_is_zero_when_scores_match_rates_and_measures_overconfidence():
    from nlpguard.training.metrics import expected_calibration_error

    # 10 texts scored 0.25, a quarter-ish positive; 10 scored 0.85, 8 or 9 of 10 positive
    truth = np.array([1, 0, 0, 0] * 5 + [1] * 17 + [0] * 3)
    scores = np.array([0.25] * 20 + [0.85] * 20)
    assert expected_calibration_error(truth, scores) == pytest.approx(0.0)
    # every score 0.95 but half the texts are positive: off by 0.45
    assert expected_calibration_error(np.array([1, 0] * 10), np.full(20, 0.95)) == pytest.approx(0.45)
    # two bins of equal weight, one off by 0.2 and one exact
    assert expected_calibration_error(np.array([0, 0, 1, 1]), np.array([0.2, 0.2, 1.0, 1.0])) == pytest.approx(0.1)
    assert expected_calibration_error(np.array([]), np.array([])) == 0.0


def test_fold_pooled_metrics_decide_at_each_folds_threshold_but_rank_the_models_own_scores():
    """Two folds with different thresholds: decisions come from the shifted scores, PR-AUC and ECE from the raw ones."""
    from nlpguard.training.metrics import fold_pooled_metrics

    labels = ["a"]
    gold = np.array([[1], [0], [1], [0]])
    raw = np.array([[0.9], [0.6], [0.3], [0.1]])  # fold 1: rows 0-1, threshold 0.8; fold 2: rows 2-3, threshold 0.2
    cut = np.array([[0.8], [0.8], [0.2], [0.2]])
    shifted = raw - cut + 0.5
    figures = fold_pooled_metrics(gold, shifted, raw, labels)["labels"]["a"]
    assert (figures["tp"], figures["fp"], figures["fn"]) == (2, 0, 0)
    assert figures["threshold"] == "per fold"
    assert figures["pr_auc"] == label_metrics(gold, raw, labels, {"a": 0.5})["labels"]["a"]["pr_auc"] < 1.0
    assert label_metrics(gold, shifted, labels, {"a": 0.5})["labels"]["a"]["pr_auc"] == 1.0
