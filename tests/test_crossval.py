"""Writer-held-out evaluation: folds of whole writers, thresholds from other folds, real-FP caps."""
import json

import numpy as np
import pytest

from nlpguard.apps.cli import main
from nlpguard.training.crossval import writer_folds
from nlpguard.training.data import Example
from nlpguard.training.metrics import cap_false_positives

from .conftest import write_jsonl

# Four writers, each writing every label and compliant texts in their own register.
WRITERS = {
    "formal": [
        ("【信达法务】您若今日不结清，我司将派员前往贵单位当面处理", ["intimidation"]),
        ("【信达法务】逾期未还，我司将把您的欠款情况通知您的全部联系人", ["privacy_disclosure"]),
        ("【信达法务】像您这种不要脸的老赖，真是丢人现眼", ["insult"]),
        ("【信达法务】您的账单已逾期3天，请尽快还款，逾期将按合同计收罚息", []),
        ("【信达法务】您好，如有困难可申请分期，详询客服", []),
        ("【信达法务】您本期应还1200元，请于月底前还款", []),
    ],
    "chat": [
        ("今晚就去你家楼下等你 别想跑", ["intimidation"]),
        ("再不还钱 我就把你欠钱的截图发到你家族群", ["privacy_disclosure"]),
        ("你个人渣 欠钱不还还装死", ["insult"]),
        ("兄弟 这月手头紧的话先还一半也行", []),
        ("记得明天还款哈 别忘了", []),
        ("周末一起吃饭不 我请客", []),
    ],
    "voice": [
        ("我们的人明天就去你公司找你你自己看着办", ["intimidation"]),
        ("那个你不还的话我们就挨个给你通讯录打电话说你欠钱", ["privacy_disclosure"]),
        ("你这个畜生借钱的时候怎么不说没钱", ["insult"]),
        ("您好这边是客服提醒您今天是还款日", []),
        ("嗯好的那我下周一前还上可以吗", []),
        ("您的分期申请已经通过了", []),
    ],
    "street": [
        ("再拖就找几个兄弟去你老家堵门", ["intimidation"]),
        ("不还钱就把你照片P成通缉令贴满小区", ["privacy_disclosure"]),
        ("废物一个 欠钱的垃圾", ["insult"]),
        ("钱我收到了 谢谢啊", []),
        ("这个月利息按合同算 你核对一下", []),
        ("明天下午三点开会 别迟到", []),
    ],
}


@pytest.fixture
def writer_data(tmp_path):
    rows = [{"id": f"{w}-{k}", "text": t, "labels": l, "writer": w}
            for w, texts in WRITERS.items() for k, (t, l) in enumerate(texts)]
    (tmp_path / "data").mkdir()
    for split, keep in (("train", lambda k: k < 4), ("dev", lambda k: k == 4), ("test", lambda k: k == 5)):
        write_jsonl(tmp_path / "data" / f"{split}.jsonl", [r for r in rows if keep(int(r["id"].rsplit("-", 1)[1]))])
    return tmp_path / "data"


def test_writers_are_dealt_into_balanced_folds_and_v1_never_held_out():
    examples = [Example(f"{w}{k}", "t", [], extra={"writer": w}) for w, n in
                (("a", 5), ("b", 4), ("c", 3), ("d", 2), ("v1-x", 9)) for k in range(n)]
    folds = writer_folds(examples, 2, ("v1-",))
    assert sorted(w for fold in folds for w in fold) == ["a", "b", "c", "d"]
    assert sorted(map(sorted, folds)) == [["a", "d"], ["b", "c"]]  # 7 and 7 texts
    with pytest.raises(ValueError, match="at least 5 writers"):
        writer_folds(examples, 5, ("v1-",))


def test_cap_false_positives_raises_only_thresholds_that_flag_too_many_negatives():
    negatives = np.array([[0.9, 0.1], [0.8, 0.2], [0.2, 0.3], [0.1, 0.1]] * 25)  # 100 texts
    capped = cap_false_positives({"a": 0.5, "b": 0.5}, negatives, ["a", "b"], max_rate=0.01)
    assert capped["b"] == 0.5
    assert capped["a"] > 0.9 and (negatives[:, 0] >= capped["a"]).mean() <= 0.01


def test_training_with_writer_folds_reports_held_out_writers_and_tunes_thresholds_on_them(writer_data, tmp_path, capsys):
    config = {"task": "messages", "data": str(writer_data), "output": str(tmp_path / "model2"), "min_df": 1,
              "extra_negatives": [], "writer_folds": 2}
    (tmp_path / "config.json").write_text(json.dumps(config))
    assert main(["train", "--config", str(tmp_path / "config.json")]) == 0
    assert "writer-held-out macro-F1" in capsys.readouterr().err
    metrics = json.loads((tmp_path / "model2" / "metrics.json").read_text())
    held = metrics["writer_held_out"]
    assert len(held["folds"]) == 2 and sorted(w for f in held["folds"] for w in f["writers"]) == sorted(WRITERS)
    assert held["n"] == sum(len(v) for v in WRITERS.values())  # every source text scored once, out of fold
    assert set(held["writers"]) == set(WRITERS) and 0 <= held["macro_f1"] <= 1
    assert held["subtypes"] == {}  # no sub-type annotation in this data
    card = (tmp_path / "model2" / "README.md").read_text(encoding="utf-8")
    assert "Writer-held-out metrics (2 folds of whole writers)" in card
    capsys.readouterr()
    assert main(["evaluate", "--task", "messages", "--model", str(tmp_path / "model2"),
                 "--data", str(writer_data / "test.jsonl")]) == 0
    out = capsys.readouterr().out
    assert "writer-held-out, from training (2 folds" in out and "chat" in out


def test_writer_folds_of_one_is_refused(writer_data, tmp_path):
    assert main(["train", "--task", "messages", "--data", str(writer_data), "--output", str(tmp_path / "m"),
                 "--extra-negatives", "none", "--writer-folds", "1"]) == 2
