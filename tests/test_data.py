import json

import pytest

from nlpguard.training.data import Example, group_split, read_examples, validate_file
from nlpguard.errors import DataError
from nlpguard.text.normalize import normalize_text
from nlpguard.taxonomy import task_labels

from .conftest import REPO, write_jsonl


def test_validate_names_each_problem_with_its_line(tmp_path):
    path = tmp_path / "d.jsonl"
    lines = [json.dumps({"id": "a", "text": "你好", "labels": []}, ensure_ascii=False),
             json.dumps({"id": "b", "text": "滚", "labels": ["threat"]}, ensure_ascii=False),
             json.dumps({"id": "a", "text": "另一条", "labels": []}, ensure_ascii=False),
             json.dumps({"id": "c", "text": "你好", "labels": []}, ensure_ascii=False),
             json.dumps({"id": "d", "text": "  ", "labels": []}),
             '{"id": "e", "text": "坏',
             json.dumps({"id": "f", "text": "x", "labels": "insult"})]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    problems = validate_file(path, "messages")
    assert problems == [
        f"{path}:2: unknown label(s) ['threat']",
        f"{path}:3: duplicate id 'a' (first on line 1)",
        f"{path}:4: duplicate text (first on line 1)",
        f"{path}:5: 'text' is missing, empty or not a string",
        f"{path}:6: invalid JSON: Unterminated string starting at (column 21)",
        f"{path}:7: 'labels' must be a list of label ids ([] for compliant)",
    ]
    with pytest.raises(DataError, match="unknown label"):
        read_examples(path, "messages")


def test_labels_of_the_other_task_are_rejected(tmp_path):
    path = write_jsonl(tmp_path / "d.jsonl", [{"id": "a", "text": "x", "labels": ["bundled_consent"]}])
    assert "unknown label(s) ['bundled_consent']" in validate_file(path, "messages")[0]
    assert validate_file(path, "clauses") == []


def test_group_split_never_separates_a_group():
    examples = [Example(f"{g}-{v}", f"text {g} {v}", [], group=f"g{g}") for g in range(200) for v in range(3)]
    splits = group_split(examples, seed=3)
    where = {}
    for name, subset in splits.items():
        for example in subset:
            assert where.setdefault(example.group, name) == name
    assert 0.05 < len(splits["test"]) / len(examples) < 0.2
    assert group_split(examples, seed=3) == splits  # reproducible


@pytest.mark.parametrize("task, minimum_total, minimum_per_label", [("messages", 11000, 2000), ("clauses", 2000, 150)])
def test_shipped_corpus_is_valid_and_large_enough(task, minimum_total, minimum_per_label):
    examples = {split: read_examples(REPO / "data" / task / f"{split}.jsonl", task) for split in ("train", "dev", "test")}
    everything = [e for subset in examples.values() for e in subset]
    assert len(everything) >= minimum_total
    for label in task_labels(task):
        assert sum(label in e.labels for e in everything) >= minimum_per_label, label
    if task == "messages":
        assert sum(not e.labels for e in everything) / len(everything) >= 0.40
    groups = {split: {e.group for e in subset} for split, subset in examples.items()}
    assert not groups["train"] & groups["test"] and not groups["train"] & groups["dev"] and not groups["dev"] & groups["test"]
    texts = [e.text for e in everything]
    assert len(texts) == len(set(texts))


@pytest.mark.parametrize("task", ["messages", "clauses"])
def test_identical_normalised_texts_carry_identical_labels(task):
    labels_of: dict[str, set] = {}
    for split in ("train", "dev", "test"):
        for example in read_examples(REPO / "data" / task / f"{split}.jsonl", task):
            key = normalize_text(example.text)
            assert labels_of.setdefault(key, set(example.labels)) == set(example.labels), example.id


def test_messages_v2_every_writer_writes_every_label_and_dev_test_hold_source_texts_only():
    examples = {split: read_examples(REPO / "data" / "messages" / f"{split}.jsonl", "messages")
                for split in ("train", "dev", "test")}
    v2 = [e for subset in examples.values() for e in subset
          if not e.extra.get("writer", "").startswith("v1-") and "variant_of" not in e.extra]
    writers = {e.extra["writer"] for e in v2}
    assert len(writers) >= 10
    for writer in writers:
        mine = [e for e in v2 if e.extra["writer"] == writer]
        for label in task_labels("messages"):
            assert sum(label in e.labels for e in mine) >= 50, (writer, label)
        assert sum(not e.labels for e in mine) >= 0.35 * len(mine), writer
    assert len(v2) >= 8000
    assert sum(len(e.text) <= 25 for e in v2) >= 0.2 * len(v2)
    assert all(e.source.startswith("authored") for split in ("dev", "test") for e in examples[split])
