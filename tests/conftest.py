"""Shared fixtures: the embedded default guard, the reference corpora folder, a tiny training set."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from nlpguard import Guard
from nlpguard.training.corpora import corpora_dir
from nlpguard.text.normalize import normalize_text

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def guard() -> Guard:
    """The embedded default model, loaded once."""
    return Guard.load()


@pytest.fixture(scope="session")
def corpora() -> Path:
    """The reference corpora folder; tests using it skip when ../shared is absent."""
    root = corpora_dir()
    if root is None:
        pytest.skip("reference corpora (../shared/corpora) not present: a fresh clone has none")
    return root


TINY_MESSAGES = [
    ("三天内不还钱，就把你欠款的事发给你通讯录里所有人", ["privacy_disclosure"]),
    ("再不还，明天带几个兄弟去你公司门口堵你", ["intimidation"]),
    ("你这个老赖真不要脸，人渣一个", ["insult"]),
    ("不还钱就把你的照片P成通缉令发到朋友圈", ["privacy_disclosure"]),
    ("今晚我们的人就到你家楼下等你，你跑不了", ["intimidation"]),
    ("欠钱不还的畜生，废物一个", ["insult"]),
    ("【某银行】您本期账单已到期，请按时还款", []),
    ("周末一起去爬山吗？我带水", []),
    ("您好，您的还款已成功，感谢您的支持", []),
    ("明天下午三点开会，记得带电脑", []),
]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    """Write rows as UTF-8 JSON Lines and return the path."""
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture
def tiny_data(tmp_path: Path) -> Path:
    """A folder with train/dev/test.jsonl of the tiny message set (same texts in each: an overfit check)."""
    rows = [{"id": f"t{i}", "text": t, "labels": l} for i, (t, l) in enumerate(TINY_MESSAGES)]
    for split in ("train", "dev", "test"):
        write_jsonl(tmp_path / f"{split}.jsonl", rows)
    return tmp_path


@pytest.fixture
def tiny_model(tiny_data, tmp_path):
    """The baseline trained on the tiny messages: its directory and metrics."""
    from nlpguard.training.train import TrainConfig, train

    output = tmp_path / "model"
    config = TrainConfig(task="messages", data=str(tiny_data), output=str(output), extra_negatives=[], min_df=1, c=20.0)
    metrics = train(config, log=lambda line: None)
    return output, metrics


@pytest.fixture(scope="session")
def tiny_backbone(tmp_path_factory):
    """A 2-layer BERT with a character vocabulary, saved like a Hugging Face checkpoint."""
    transformers = pytest.importorskip("transformers")
    torch = pytest.importorskip("torch")
    directory = tmp_path_factory.mktemp("tiny-bert")
    chars = sorted({c for text, _ in TINY_MESSAGES for c in normalize_text(text)} | set("一条从未见过的消息里面什么都没有另句话"))
    (directory / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *chars]) + "\n", encoding="utf-8")
    tokenizer = transformers.BertTokenizerFast.from_pretrained(str(directory))
    config = transformers.BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=64, num_hidden_layers=2,
                                     num_attention_heads=2, intermediate_size=128, max_position_embeddings=128)
    torch.manual_seed(0)
    transformers.BertForMaskedLM(config).save_pretrained(str(directory))
    tokenizer.save_pretrained(str(directory))
    return directory


@pytest.fixture(scope="session")
def tiny_classifier(tiny_backbone, tmp_path_factory):
    """The tiny backbone fine-tuned on the tiny messages (train = dev = test: an overfit check)."""
    from nlpguard.training.train import TrainConfig, train

    data = tmp_path_factory.mktemp("data")
    rows = [{"id": f"t{i}", "text": t, "labels": l} for i, (t, l) in enumerate(TINY_MESSAGES)]
    for split in ("train", "dev", "test"):
        (data / f"{split}.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    output = tmp_path_factory.mktemp("model")
    config = TrainConfig(task="messages", data=str(data), output=str(output), backbone=str(tiny_backbone),
                         extra_negatives=[], epochs=30, batch_size=4, learning_rate=2e-3, max_length=32, stride=8,
                         patience=30)
    metrics = train(config, log=lambda line: None)
    return output, metrics
