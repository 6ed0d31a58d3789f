"""Calibration for transfer: Platt scaling in the model format and scoring path, fitted on held-out writers."""
import json

import numpy as np
import pytest

from nlpguard import Guard
from nlpguard.apps.cli import main
from nlpguard.errors import ModelError
from nlpguard.runtime.modeldir import Model, ModelSpec
from nlpguard.runtime.scoring import platt_scale
from nlpguard.training.data import Example
from nlpguard.training.writer_calibration import cross_fitted_calibration, fit_platt

from .conftest import write_jsonl
from .test_crossval import WRITERS, writer_data  # noqa: F401  (writer_data: the fixture, shared)

LABELS = ["intimidation", "privacy_disclosure", "insult"]


def test_platt_scale_keeps_order_is_identity_at_one_zero_and_shifts_with_the_intercept():
    p = np.array([[0.01, 0.5, 0.9, 0.999]]).T
    assert np.allclose(platt_scale(p, [1.0], [0.0]), p)
    soft = platt_scale(p, [0.5], [0.0])[:, 0]
    assert soft[1] == pytest.approx(0.5) and np.all(np.diff(soft) > 0)
    assert soft[3] < 0.999 and soft[0] > 0.01  # pulled towards 0.5
    assert platt_scale(p, [0.5], [0.0])[3, 0] == pytest.approx(1 / (1 + np.exp(-np.log(999) / 2)))
    assert platt_scale(p, [1.0], [-2.0])[1, 0] == pytest.approx(1 / (1 + np.exp(2)))  # 0.5 moves down


def test_fit_platt_recovers_over_confidence_and_a_shift():
    rng = np.random.default_rng(0)
    true_p = rng.uniform(0.02, 0.98, 20000)
    truth = rng.random(20000) < true_p
    logit = np.log(true_p / (1 - true_p))
    distorted = 1 / (1 + np.exp(-(3 * logit + 1.5)))  # logits tripled and shifted: an over-confident model
    slope, intercept = fit_platt(truth, distorted)
    assert slope == pytest.approx(1 / 3, rel=0.08) and intercept == pytest.approx(-0.5, abs=0.08)
    assert fit_platt(truth, true_p) == pytest.approx([1.0, 0.0], abs=0.08)
    assert fit_platt(np.zeros(10), np.linspace(0.1, 0.9, 10)) == [1.0, 0.0]  # one class: unchanged


def test_spec_writes_platt_scaling_as_format_2_and_refuses_what_it_cannot_read():
    spec = ModelSpec("messages", LABELS, {l: 0.5 for l in LABELS}, "nlpguard.TfidfLogReg.v1")
    data = spec.to_dict()
    assert data["format_version"] == 1 and "platt" not in data  # unchanged for models without it
    spec.platt = {"insult": [0.8, -1.5]}
    data = spec.to_dict()
    assert data["format_version"] == 2 and data["platt"] == {"insult": [0.8, -1.5]}
    assert ModelSpec.from_dict(data).platt == {"insult": [0.8, -1.5]}
    with pytest.raises(ModelError, match="newer nlpguard"):
        ModelSpec.from_dict(data | {"format_version": 3})
    with pytest.raises(ModelError, match="labels \\['threat'\\]"):
        ModelSpec.from_dict(data | {"platt": {"threat": [1.0, 0.0]}})
    for bad in ([0, 1.0], [1.0], [1.0, float("nan")], "1,0"):
        with pytest.raises(ModelError, match="positive slope"):
            ModelSpec.from_dict(data | {"platt": {"insult": bad}})


def test_scan_scores_are_the_scaled_scorer_probabilities(tiny_model, tmp_path):
    texts = ["再不还钱就去你单位闹", "您本期账单已出，请按时还款"]
    raw = Guard.load(tiny_model[0]).scan(texts, task="messages")
    model = Model.load(tiny_model[0], "messages")
    model.spec.platt = {"intimidation": [0.5, -1.0]}
    model.save(tmp_path / "scaled")
    scaled = Guard.load(tmp_path / "scaled").scan(texts, task="messages")
    for before, after in zip(raw, scaled):
        p = before["scores"]["intimidation"]
        assert after["scores"]["intimidation"] == pytest.approx(platt_scale([[p]], [0.5], [-1.0])[0, 0], abs=2e-4)
        assert after["scores"]["insult"] == before["scores"]["insult"]


def test_cross_fitting_thresholds_each_writer_on_the_others():
    examples, rows = [], []
    rng = np.random.default_rng(1)
    for w in ("a", "b", "c"):
        for k in range(60):
            gold = [int(k % 3 == j) for j in range(3)]
            examples.append(Example(f"{w}{k}", "t", [l for l, g in zip(LABELS, gold) if g], extra={"writer": w}))
            rows.append([0.97 if g else 0.9 * rng.random() for g in gold])  # over-confident positives
    real = rng.random((200, 3)) * 0.5
    figures = cross_fitted_calibration(examples, np.array(rows), real, LABELS, max_real_fp=0.01)
    assert sorted(figures["writers"]) == ["a", "b", "c"] and [f["writers"] for f in figures["folds"]] == [["a"], ["b"], ["c"]]
    assert figures["n"] == 180 and set(figures["ece"]) == set(LABELS)
    assert all(set(v) == {"before", "after"} for v in figures["ece"].values())
    assert all(figures["labels"][l]["ece"] == figures["ece"][l]["after"] for l in LABELS)
    # positives all at 0.97 and negatives spread over 0-0.9 are miscalibrated; scaling fitted on the other writers helps
    assert all(figures["ece"][l]["after"] <= figures["ece"][l]["before"] for l in LABELS)
    with pytest.raises(ModelError, match="at least two writers"):
        cross_fitted_calibration(examples[:60], np.array(rows[:60]), real, LABELS)


@pytest.fixture
def held_out_folder(tmp_path):
    """A folder as training/hold_out_writers.py writes it: two writers trained on, two held out as test."""
    rows = [{"id": f"{w}-{k}", "text": t, "labels": l, "writer": w}
            for w, texts in WRITERS.items() for k, (t, l) in enumerate(texts)]
    folder = tmp_path / "fold"
    folder.mkdir()
    held = {"voice", "street"}
    write_jsonl(folder / "train.jsonl", [r for r in rows if r["writer"] not in held and not r["id"].endswith("-4")])
    write_jsonl(folder / "dev.jsonl", [r for r in rows if r["writer"] not in held and r["id"].endswith("-4")])
    write_jsonl(folder / "test.jsonl", [r for r in rows if r["writer"] in held])
    (folder / "held_out_writers.json").write_text(json.dumps({"source": "data/messages", "writers": sorted(held)}))
    return folder


def test_calibrate_on_held_out_writers_writes_platt_scaling_and_cross_fitted_figures(held_out_folder, tmp_path, capsys):
    assert main(["train", "--task", "messages", "--data", str(held_out_folder), "--output", str(tmp_path / "m"),
                 "--extra-negatives", "none", "--min-df", "1"]) == 0
    weight_files = sorted(p for p in (tmp_path / "m").iterdir() if p.suffix == ".safetensors")
    weights = [p.read_bytes() for p in weight_files]
    assert weight_files
    assert main(["calibrate", "--model", str(tmp_path / "m"), "--held-out-writers"]) == 0
    assert "cross-fitted over 2 held-out writers" in capsys.readouterr().err
    spec = json.loads((tmp_path / "m" / "config.json").read_text())["nlpguard"]
    assert spec["format_version"] == 2 and set(spec["platt"]) == set(LABELS)
    metrics = json.loads((tmp_path / "m" / "metrics.json").read_text())
    calibration = metrics["held_out_writer_calibration"]
    assert sorted(calibration["writers"]) == ["street", "voice"] and calibration["n"] == 12
    assert metrics["test"]["labels"]["insult"]["threshold"] == spec["thresholds"]["insult"]
    card = (tmp_path / "m" / "README.md").read_text(encoding="utf-8")
    assert "Calibration on held-out writers (2 writers, cross-fitted)" in card and "in-sample" in card
    assert [p.read_bytes() for p in weight_files] == weights  # weights untouched
    # The stored scaling and thresholds reproduce the reported decisions when the model is loaded and scans.
    held = [json.loads(line) for line in (held_out_folder / "test.jsonl").read_text(encoding="utf-8").splitlines()]
    results = Guard.load(tmp_path / "m").scan([r["text"] for r in held], task="messages")
    for label in LABELS:
        block = metrics["test"]["labels"][label]
        assert sum(label in r["labels"] for r in results) == block["tp"] + block["fp"]
    # Re-tuning thresholds on dev drops the scaling fitted with the held-out writers' thresholds, saying so.
    capsys.readouterr()
    assert main(["calibrate", "--model", str(tmp_path / "m")]) == 0
    assert "Platt scaling fitted on held-out writers is dropped" in capsys.readouterr().err
    spec = json.loads((tmp_path / "m" / "config.json").read_text())["nlpguard"]
    assert "platt" not in spec and spec["format_version"] == 1
    assert "held_out_writer_calibration" not in json.loads((tmp_path / "m" / "metrics.json").read_text())


def test_calibrate_on_held_out_writers_refuses_a_model_without_them(writer_data, tmp_path):
    assert main(["train", "--task", "messages", "--data", str(writer_data), "--output", str(tmp_path / "m"),
                 "--extra-negatives", "none", "--min-df", "1"]) == 0
    assert main(["calibrate", "--model", str(tmp_path / "m"), "--held-out-writers"]) == 2
    assert main(["calibrate", "--model", str(tmp_path / "m"), "--held-out-writers", "--aggregation", "whole"]) == 2

