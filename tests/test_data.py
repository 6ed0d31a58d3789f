import json
import shutil
import subprocess
import sys

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


@pytest.mark.parametrize("task, writers, per_label, total, short", [("messages", 10, 50, 8000, 25), ("clauses", 18, 10, 2400, 40)])
def test_v2_every_writer_writes_every_label_and_compliant_texts(task, writers, per_label, total, short):
    examples = {split: read_examples(REPO / "data" / task / f"{split}.jsonl", task) for split in ("train", "dev", "test")}
    v2 = [e for subset in examples.values() for e in subset
          if not e.extra.get("writer", "").startswith("v1-") and "variant_of" not in e.extra]
    assert len({e.extra["writer"] for e in v2}) >= writers
    for writer in {e.extra["writer"] for e in v2}:
        mine = [e for e in v2 if e.extra["writer"] == writer]
        for label in task_labels(task):
            assert sum(label in e.labels for e in mine) >= per_label, (writer, label)
        assert sum(not e.labels for e in mine) >= 0.35 * len(mine), writer
    assert len(v2) >= total
    assert sum(len(e.text) <= short for e in v2) >= 0.2 * len(v2)
    # short texts are as often compliant as not: length gives no label away
    shorts = [e for e in v2 if len(e.text) <= short]
    assert abs(sum(not e.labels for e in shorts) / len(shorts) - sum(not e.labels for e in v2) / len(v2)) < 0.1
    if task == "messages":  # messages keep disguised variants out of dev/test; clauses keep v1's scheme
        assert all(e.source.startswith("authored") for split in ("dev", "test") for e in examples[split])


def test_hold_out_writers_moves_every_source_clause_of_the_named_writers_to_test_and_none_elsewhere(tmp_path):
    done = subprocess.run([sys.executable, "training/hold_out_writers.py", "--task", "clauses", "--writers", "cw01", "cw04",
                           "--out", str(tmp_path)], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    folder = {split: read_examples(tmp_path / f"{split}.jsonl", "clauses") for split in ("train", "dev", "test")}
    assert {e.extra["writer"] for e in folder["test"]} == {"cw01", "cw04"}
    assert not any(e.extra.get("writer") in ("cw01", "cw04") for split in ("train", "dev") for e in folder[split])
    sources = [e for split in ("train", "dev", "test") for e in read_examples(REPO / "data" / "clauses" / f"{split}.jsonl", "clauses")
               if e.extra.get("writer") in ("cw01", "cw04") and "variant_of" not in e.extra]
    assert sorted(e.id for e in folder["test"]) == sorted(e.id for e in sources)
    assert json.loads((tmp_path / "held_out_writers.json").read_text()) == {"source": "data/clauses", "writers": ["cw01", "cw04"]}
    unknown = subprocess.run([sys.executable, "training/hold_out_writers.py", "--task", "clauses", "--writers", "w04",
                              "--out", str(tmp_path / "x")], cwd=REPO, capture_output=True, text=True)
    assert unknown.returncode != 0 and "no texts by w04" in unknown.stderr


def test_hold_out_writers_names_the_folder_it_read_as_the_source(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for split in ("train", "dev", "test"):
        shutil.copy(REPO / "data" / "clauses" / f"{split}.jsonl", corpus)
    done = subprocess.run([sys.executable, "training/hold_out_writers.py", "--task", "clauses", "--writers", "cw02",
                           "--data", str(corpus), "--out", str(tmp_path / "out")], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "out" / "held_out_writers.json").read_text()) == {"source": str(corpus), "writers": ["cw02"]}
