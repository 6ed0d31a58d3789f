"""The transformer path on a tiny randomly initialised BERT built here (no network, no real checkpoint)."""
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from nlpguard import Guard  # noqa: E402
from nlpguard.runtime.modeldir import Model  # noqa: E402
from nlpguard.text.normalize import normalize_text  # noqa: E402
from nlpguard.training.train import TrainConfig, train  # noqa: E402

from .conftest import TINY_MESSAGES  # noqa: E402


def test_fine_tuning_overfits_the_tiny_set(tiny_classifier):
    output, metrics = tiny_classifier
    assert metrics["test"]["macro_f1"] == 1.0
    assert [h["epoch"] for h in metrics["history"]][:3] == [1, 2, 3]


def test_directory_loads_in_transformers_and_in_guard(tiny_classifier):
    output, _ = tiny_classifier
    config = json.loads((output / "config.json").read_text(encoding="utf-8"))
    assert config["nlpguard"]["architecture"] == "nlpguard.HFSequenceClassifier.v1"
    assert config["nlpguard"]["options"] == {"max_length": 32, "stride": 8}
    assert (output / "model.safetensors").is_file() and not list(output.glob("*.bin"))
    hf = transformers.AutoModelForSequenceClassification.from_pretrained(str(output))
    assert hf.config.id2label == {0: "intimidation", 1: "privacy_disclosure", 2: "insult"}
    guard = Guard.load(output)
    for text, labels in TINY_MESSAGES:
        assert guard.scan(text, task="messages")["labels"] == labels


def test_save_load_identical_and_batch_equals_single(tiny_classifier):
    output, _ = tiny_classifier
    texts = [t for t, _ in TINY_MESSAGES]
    first = Guard.load(output).scan(texts, task="messages")
    assert Guard.load(output).scan(texts, task="messages", batch_size=3) == first
    assert [Guard.load(output).scan(t, task="messages") for t in texts] == first


def test_long_text_is_windowed_not_truncated(tiny_classifier):
    output, _ = tiny_classifier
    scorer = Model.load(output, "messages").scorer
    tail = "今晚我们的人就到你家楼下等你，你跑不了"
    long_text = "明天下午三点开会，记得带电脑。" * 6 + tail
    encoded, owners = scorer.windows([long_text])
    assert len(owners) > 1                                   # several windows, none dropped
    last_window = scorer.tokenizer.decode(encoded["input_ids"][-1], skip_special_tokens=True).replace(" ", "")
    assert last_window.endswith(normalize_text(tail))        # the end of the text is read
    per_window = np.stack([scorer.predict_proba([scorer.tokenizer.decode(ids, skip_special_tokens=True).replace(" ", "")])[0]
                           for ids in encoded["input_ids"]])
    np.testing.assert_allclose(scorer.predict_proba([long_text])[0], per_window.max(axis=0), atol=1e-4)  # padding noise


def test_extra_labels_from_a_researchers_csv(tiny_backbone, tmp_path):
    import csv

    source = tmp_path / "corpus.csv"
    with open(source, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["body", "tags", "group"])
        for i in range(30):
            text, labels = TINY_MESSAGES[i % len(TINY_MESSAGES)]
            extra = ["night_contact"] if i % 3 == 0 else []
            writer.writerow([f"{text}（{i}）", ";".join(labels + extra), f"g{i}"])
    config = TrainConfig(task="messages", data=str(source), output=str(tmp_path / "m"), backbone="baseline",
                         text_column="body", label_column="tags", extra_negatives=[], min_df=1,
                         labels=["intimidation", "privacy_disclosure", "insult", "night_contact"],
                         label_descriptions={"night_contact": "contact between 22:00 and 08:00"})
    train(config, log=lambda line: None)
    guard = Guard.load(tmp_path / "m")
    record = guard.scan("再不还，明天带几个兄弟去你公司门口堵你", task="messages")
    assert set(record["scores"]) == {"intimidation", "privacy_disclosure", "insult", "night_contact"}
    assert guard.model("messages").spec.label_descriptions["night_contact"] == "contact between 22:00 and 08:00"


def test_corpus_saved_with_datasets_is_read_with_column_mapping(tmp_path):
    datasets = pytest.importorskip("datasets")
    from nlpguard.training.data import read_any

    rows = {"content": [t for t, _ in TINY_MESSAGES], "y": [";".join(l) for _, l in TINY_MESSAGES]}
    datasets.Dataset.from_dict(rows).save_to_disk(str(tmp_path / "ds"))
    examples = read_any(tmp_path / "ds", "messages", ["intimidation", "privacy_disclosure", "insult"],
                        text_column="content", label_column="y")
    assert [(e.text, e.labels) for e in examples] == [(t, l) for t, l in TINY_MESSAGES]


def test_packaged_transformer_loads_by_name_for_both_tasks_and_labels_real_looking_messages():
    guard = Guard.load("zh-bert-small")
    assert guard.tasks == ["messages", "clauses"]
    assert guard.model("messages").spec.backbone["name"] == "multilingual-e5-small"  # licence recorded: MIT
    cases = [("明早八点我们的人就到你单位门口等你，不信你试试。", ["intimidation"]),
             ("再不还款，我们就把你欠钱的事发到你所有联系人和家族群里。", ["privacy_disclosure"]),
             ("你这种老赖就是社会的垃圾，脸都不要了。", ["insult"]),
             ("這個月再不還錢，就去你老家找你爸媽聊聊", ["intimidation"]),          # traditional script
             ("您好，您的账单已逾期3天，请于今日18点前还款，如有疑问请致电客服。", []),  # a lawful reminder
             ("晚上一起吃饭吗？我在公司楼下等你", []),                                # "waiting downstairs", benign
             ("亲，你的快递已到菜鸟驿站，请凭取件码取件", [])]
    records = guard.scan([text for text, _ in cases], task="messages")
    assert [r["labels"] for r in records] == [labels for _, labels in cases]
    doc = guard.scan("第一条 本协议最终解释权归本公司所有。\n第二条 我们有权随时修改本协议。", task="clauses")
    assert len(doc["scores"]) == 6


def test_token_batches_bound_padded_tokens_and_keep_every_window_once():
    from nlpguard.runtime.transformer import token_batches

    lengths = [3, 5, 5, 8, 30, 120, 300]  # ascending, as the scorer sorts them
    order = [6, 2, 0, 4, 1, 3, 5]
    batches = token_batches(lengths, order, max_tokens=64)
    assert batches == [[6, 2, 0, 4], [1], [3], [5]]  # 4 x 8 tokens fit; 2 x 30 would, but 5 x 30 does not
    assert token_batches(lengths, order, max_tokens=10_000) == [order]
    assert token_batches([500], [0], max_tokens=64) == [[0]]  # a window longer than the budget still runs


def test_a_model_folder_with_only_pickled_weights_is_refused(tiny_classifier, tmp_path):
    import shutil
    import subprocess
    import sys

    import torch
    from safetensors.torch import load_file

    directory, _ = tiny_classifier
    pickled = tmp_path / "pickled"
    shutil.copytree(directory, pickled)
    torch.save(load_file(str(pickled / "model.safetensors")), str(pickled / "pytorch_model.bin"))
    (pickled / "model.safetensors").unlink()
    source = tmp_path / "m.txt"
    source.write_text("三天内不还钱就爆你通讯录\n", encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "nlpguard", "scan", str(source), "--task", "messages",
                           "--model", str(pickled)], capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stdout == ""
    assert "no model.safetensors" in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_model_card_snippet_reproduces_scan_scores_with_plain_transformers(tiny_classifier):
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    directory, _ = tiny_classifier
    card = (directory / "README.md").read_text(encoding="utf-8")
    assert "normalised first" in card and "sigmoid" in card and "nlpguard.thresholds" in card
    spec = json.loads((directory / "config.json").read_text())["nlpguard"]
    tokenizer_config = json.loads((directory / "tokenizer_config.json").read_text())
    assert tokenizer_config["max_length"] == spec["options"]["max_length"]  # the card's window, not another
    texts = [t for t, _ in TINY_MESSAGES[:6]]
    model = AutoModelForSequenceClassification.from_pretrained(str(directory), use_safetensors=True).float().eval()
    tokenizer = AutoTokenizer.from_pretrained(str(directory))
    batch = tokenizer([normalize_text(t) for t in texts], truncation=True, max_length=spec["options"]["max_length"],
                      padding=True, return_tensors="pt")
    with torch.no_grad():
        plain = torch.sigmoid(model(**batch).logits).numpy()
    guard = Guard.load(str(directory))
    scanned = np.array([[r["scores"][l] for l in spec["labels"]] for r in guard.scan(texts, task="messages")])
    assert np.abs(plain - scanned).max() < 1e-3  # scan rounds scores to 4 decimals


def test_cards_of_models_trained_on_other_data_make_no_debt_collection_claims(tiny_backbone, tmp_path):
    from nlpguard.training.train import TrainConfig, train

    data = tmp_path / "corpus.jsonl"
    data.write_text("".join(json.dumps({"id": f"c{k}", "text": t, "labels": ["offensive"] if k % 2 else []},
                                       ensure_ascii=False) + "\n" for k, (t, _) in enumerate(TINY_MESSAGES)), encoding="utf-8")
    output = tmp_path / "model"
    train(TrainConfig(task="messages", data=str(data), output=str(output), labels=["offensive"],
                      label_descriptions={"offensive": "attacks a person"}, extra_negatives=[], min_df=1),
          log=lambda line: None)
    card = (output / "README.md").read_text(encoding="utf-8")
    assert "Screening outbound debt-collection messages" not in card and "claims do not apply" in card
    assert "authored" not in card and "Reported speech" not in card
    assert str(data) in card
    assert (output / "baseline.safetensors").stat().st_mode & 0o044 == 0o044  # readable by others, like the rest


def test_fine_tuning_takes_one_weight_per_text_and_label(tiny_backbone):
    """Equal weight columns train exactly as one weight per text; a label whose column is zero gets no
    gradient from the loss, so its head stays where it started."""
    from nlpguard.training.finetune import finetune, load_backbone

    labels = ["intimidation", "privacy_disclosure", "insult"]
    texts = [text for text, _ in TINY_MESSAGES]
    targets = np.array([[int(label in found) for label in labels] for _, found in TINY_MESSAGES])
    ramp = np.linspace(0.5, 2.0, len(texts))

    def run(weights):
        scorer, history = finetune(str(tiny_backbone), texts, targets, weights, labels, lambda scorer: 0.0,
                                   epochs=1, batch_size=4, max_length=32, stride=8, log=lambda line: None)
        return scorer.model.state_dict(), history[0]["train_loss"]

    flat, flat_loss = run(ramp)
    columns, columns_loss = run(np.repeat(ramp[:, None], len(labels), axis=1))
    assert columns_loss == flat_loss
    assert all(torch.allclose(flat[name], columns[name], atol=1e-6) for name in flat)
    silenced = np.repeat(ramp[:, None], len(labels), axis=1)
    silenced[:, 2] = 0.0
    torch.manual_seed(0)                                          # finetune seeds the same way before loading
    start = load_backbone(str(tiny_backbone), labels)[1].state_dict()
    state, _ = run(silenced)
    head = next(name for name in state if name.endswith("classifier.weight"))
    assert not torch.allclose(flat[head][2], start[head][2], atol=1e-4)   # trained with its loss, the row moves
    assert torch.allclose(state[head][2], start[head][2], atol=1e-5)     # without it, only weight decay touches it
