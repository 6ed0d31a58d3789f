"""The baseline model: overfits tiny data, round-trips through its directory, batch == single."""
import json

import numpy as np
import pytest

from nlpguard import Guard
from nlpguard.errors import ModelError
from nlpguard.text.normalize import NORMALIZER_VERSION
from nlpguard.training.train import TrainConfig, train

from .conftest import REPO, TINY_MESSAGES



def test_training_overfits_two_handfuls_of_messages(tiny_model):
    output, metrics = tiny_model
    assert metrics["test"]["macro_f1"] == 1.0
    guard = Guard.load(output)
    for text, labels in TINY_MESSAGES:
        assert guard.scan(text, task="messages")["labels"] == labels


def test_model_directory_is_self_describing_and_pickle_free(tiny_model):
    output, _ = tiny_model
    config = json.loads((output / "config.json").read_text(encoding="utf-8"))["nlpguard"]
    assert config["task"] == "messages"
    assert config["labels"] == ["intimidation", "privacy_disclosure", "insult"]
    assert set(config["thresholds"]) == set(config["labels"])
    assert config["normalizer"] == NORMALIZER_VERSION
    assert sorted(p.name for p in output.iterdir()) == ["README.md", "baseline.safetensors", "baseline_vocab.json",
                                                        "config.json", "metrics.json", "training_config.json"]
    card = (output / "README.md").read_text(encoding="utf-8")
    assert "## Intended use" in card and "## Out of scope" in card and "| `intimidation` |" in card


def test_save_load_keeps_scores_and_batch_equals_single(tiny_model):
    output, _ = tiny_model
    texts = [t for t, _ in TINY_MESSAGES] + ["一条从未见过的消息，里面什么都没有。另一句话。"]
    first = Guard.load(output).scan(texts, task="messages")
    second = Guard.load(output).scan(texts, task="messages", batch_size=3)
    assert first == second
    assert [Guard.load(output).scan(t, task="messages") for t in texts] == first


def test_threshold_overrides(tiny_model):
    output, _ = tiny_model
    guard = Guard.load(output)
    assert guard.scan("周末一起去爬山吗？", task="messages", thresholds={"insult": 0.0})["labels"] == ["insult"]
    with pytest.raises(ValueError, match="unknown label 'bundled_consent'"):
        guard.scan("x", task="messages", thresholds={"bundled_consent": 0.5})


def test_unusable_models_raise_model_error(tiny_model, tmp_path):
    output, _ = tiny_model
    with pytest.raises(ModelError, match="neither a directory nor a packaged model"):
        Guard.load(tmp_path / "missing")
    with pytest.raises(ModelError, match="has no 'clauses' model"):
        Guard.load(output).model("clauses")
    (output / "baseline.safetensors").write_bytes(b"garbage")
    with pytest.raises(ModelError, match="cannot load weights"):
        Guard.load(output)
    (output / "config.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ModelError, match="cannot read model config"):
        Guard.load(output)


def test_training_config_checks_values():
    with pytest.raises(ValueError, match="need a description"):
        TrainConfig(task="messages", data="d", output="o", labels=["intimidation", "spam_link"])
    with pytest.raises(ValueError, match="out of range: epochs"):
        TrainConfig(task="messages", data="d", output="o", epochs=0)
    with pytest.raises(ValueError, match="unknown training setting"):
        TrainConfig.from_dict({"task": "messages", "data": "d", "output": "o", "epoch": 3})
    config = TrainConfig(task="clauses", data="d", output="o")
    assert config.aggregation == "max_clause"
    assert TrainConfig.from_dict(config.to_dict()) == config


def test_thresholds_are_tuned_not_default(tiny_model):
    output, _ = tiny_model
    thresholds = json.loads((output / "config.json").read_text(encoding="utf-8"))["nlpguard"]["thresholds"]
    assert all(0 < v < 1 for v in thresholds.values())
    assert not np.allclose(list(thresholds.values()), 0.5)


def test_recalibrate_to_whole_aggregation_keeps_weights_and_finds_sentence_evidence(tiny_model):
    from nlpguard.apps.cli import main

    output, _ = tiny_model
    weights = (output / "baseline.safetensors").read_bytes()
    assert main(["calibrate", "--model", str(output), "--aggregation", "whole"]) == 0
    spec = json.loads((output / "config.json").read_text(encoding="utf-8"))["nlpguard"]
    metrics = json.loads((output / "metrics.json").read_text(encoding="utf-8"))
    assert spec["aggregation"] == "whole" and "train_seconds" in metrics and metrics["test"]["n"] == len(TINY_MESSAGES)
    assert (output / "baseline.safetensors").read_bytes() == weights
    assert "aggregation `whole`" in (output / "README.md").read_text(encoding="utf-8")

    guard = Guard.load(output)
    model = guard.model("messages")
    text = "明天下午三点开会，记得带电脑。再不还，明天带几个兄弟去你公司门口堵你"
    whole = np.round(model.scorer.predict_proba([text])[0], 4)
    limit = guard.scan(text, task="messages")["scores"]["intimidation"]  # flag at exactly the whole message's score
    record = guard.scan(text, task="messages", thresholds={"intimidation": limit, "privacy_disclosure": 1.0, "insult": 1.0})
    assert [record["scores"][l] for l in model.spec.labels] == pytest.approx(whole.tolist())
    assert record["labels"] == ["intimidation"]
    [evidence] = record["evidence"]  # the threatening sentence, not the meeting reminder
    assert evidence["text"] == text[evidence["start"]:evidence["end"]] and evidence["text"].startswith("再不还")
    assert guard.scan("明天下午三点开会，记得带电脑。周末一起去爬山吗？", task="messages")["evidence"] == []


@pytest.mark.shared
def test_max_real_fp_caps_thresholds_tuned_on_dev_without_writer_folds(tiny_data, tmp_path, corpora):
    from nlpguard.training.corpora import message_negatives
    from nlpguard.training.evaluation import predict_scores
    from nlpguard.runtime.modeldir import Model

    settings = dict(task="messages", data=str(tiny_data), extra_negatives=["nus_sms_zh"], max_real_negatives=300,
                    min_df=1, c=20.0, corpora=str(corpora))
    free = train(TrainConfig(output=str(tmp_path / "free"), **settings), log=lambda line: None)
    capped = train(TrainConfig(output=str(tmp_path / "capped"), max_real_fp=0.0, **settings), log=lambda line: None)
    real_dev = [e.text for e in message_negatives(corpora, "dev", ("nus_sms_zh",))]
    model = Model.load(tmp_path / "capped", "messages")
    limits = np.array([model.spec.thresholds[l] for l in model.spec.labels])
    assert not (predict_scores(model, real_dev) >= limits).any()  # no real dev SMS reaches a capped threshold
    assert all(capped["test"]["labels"][l]["threshold"] >= free["test"]["labels"][l]["threshold"] for l in model.spec.labels)


def test_project_configs_find_their_data_from_any_working_directory(tmp_path, monkeypatch):
    from nlpguard.training.train import load_splits

    monkeypatch.chdir(tmp_path)
    config = TrainConfig.from_dict(json.loads((REPO / "training/configs/baseline_messages.json").read_text(encoding="utf-8")))
    splits, _, _ = load_splits(config)
    assert {split: len(v) for split, v in splits.items()} == {
        split: sum(1 for line in (REPO / f"data/messages/{split}.jsonl").open(encoding="utf-8") if line.strip())
        for split in ("train", "dev", "test")}
