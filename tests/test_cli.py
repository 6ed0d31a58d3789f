"""The ``nlpguard`` command: one output record per input record, exit codes, formats."""
import csv
import json
import subprocess
import sys

import pytest

from nlpguard.apps.cli import main

from .conftest import write_jsonl

MESSAGES = ["明早八点我们的人就到你单位门口等你，不信你试试。", "周末一起去爬山吗？我带水，你带吃的"]


def run(args, stdin=b""):
    proc = subprocess.run([sys.executable, "-m", "nlpguard", *args], input=stdin, capture_output=True)
    return proc.returncode, proc.stdout.decode("utf-8"), proc.stderr.decode("utf-8")


def lines(text):
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_stdin_jsonl_with_error_records_keeps_order_and_exits_1():
    stdin = "\n".join([json.dumps({"id": "a", "text": MESSAGES[0]}, ensure_ascii=False), '{"id": "b"',
                       json.dumps({"text": MESSAGES[1]}, ensure_ascii=False)]).encode("utf-8")
    code, out, err = run(["scan", "-", "--task", "messages"], stdin)
    records = lines(out)
    assert code == 1 and "Traceback" not in err
    assert [r["id"] for r in records] == ["a", "stdin:2", "stdin:3"]
    assert "intimidation" in records[0]["labels"] and "error" in records[1] and "labels" not in records[1]
    assert records[2]["labels"] == []


@pytest.mark.parametrize("args, message", [
    (["scan", "missing.jsonl", "--task", "messages"], "no such file"),
    (["scan", "-", "--task", "messages", "--model", "no/such/model"], "neither a directory"),
    (["scan", "-", "--task", "messages", "--threshold", "nope=0.5"], "unknown label 'nope'"),
    (["scan", "-", "--task", "messages", "--threshold", "insult=high"], "LABEL=VALUE"),
    (["scan", "-", "--task", "sms"], "invalid choice"),
    (["frobnicate"], "invalid choice"),
])
def test_usage_errors_exit_2_with_one_line(args, message):
    code, out, err = run(args)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and message in err and "Traceback" not in err


def test_csv_input_to_csv_output(tmp_path):
    source = tmp_path / "in.csv"
    with open(source, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "text", "campaign"])
        writer.writerows([["m1", MESSAGES[0], "c"], ["m2", MESSAGES[1], "c"]])
    output = tmp_path / "out.csv"
    assert main(["scan", str(source), "--task", "messages", "--format", "csv", "--output", str(output)]) == 0
    rows = list(csv.DictReader(open(output, encoding="utf-8")))
    assert [r["id"] for r in rows] == ["m1", "m2"]
    assert "intimidation" in rows[0]["labels"] and rows[1]["labels"] == ""
    assert float(rows[0]["score_intimidation"]) > float(rows[1]["score_intimidation"])


def test_threshold_zero_flags_everything(tmp_path, capsys):
    source = write_jsonl(tmp_path / "m.jsonl", [{"id": i, "text": t} for i, t in enumerate(MESSAGES)])
    assert main(["scan", str(source), "--task", "messages", "--threshold", "insult=0"]) == 0
    records = lines(capsys.readouterr().out)
    assert [r["id"] for r in records] == ["0", "1"] and all("insult" in r["labels"] for r in records)


def test_html_report_is_self_contained(tmp_path):
    source = tmp_path / "m.txt"
    source.write_text("\n".join(MESSAGES) + "\n", encoding="utf-8")
    output = tmp_path / "report.html"
    assert main(["scan", str(source), "--task", "messages", "--format", "html", "--output", str(output)]) == 0
    page = output.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "2 records, 1 flagged" in page
    assert "单位门口" in page and "刑法 293-1" in page
    assert "http://" not in page and "https://" not in page and "<script src" not in page


def test_clauses_document_scan(tmp_path, capsys):
    doc = tmp_path / "policy.md"
    doc.write_text("# 隐私政策\n\n1. 您使用本应用即视为同意本政策全部内容。\n2. 我们将读取您的通讯录、通话记录和短信。\n", encoding="utf-8")
    assert main(["scan", str(doc), "--task", "clauses"]) == 0
    (record,) = lines(capsys.readouterr().out)
    assert record["id"] == "policy.md"
    assert {"bundled_consent", "excessive_collection"} <= set(record["labels"])
    text = doc.read_text(encoding="utf-8")
    assert all(text[e["start"]:e["end"]] == e["text"] for e in record["evidence"])


def test_evaluate_prints_metrics_and_writes_errors(tmp_path, capsys):
    data = write_jsonl(tmp_path / "gold.jsonl", [
        {"id": "1", "text": MESSAGES[0], "labels": ["intimidation"]},
        {"id": "2", "text": MESSAGES[1], "labels": ["insult"]},  # deliberately wrong gold: one error
    ])
    errors, metrics = tmp_path / "errors.jsonl", tmp_path / "metrics.json"
    assert main(["evaluate", "--task", "messages", "--data", str(data), "--errors", str(errors), "--output", str(metrics)]) == 0
    out = capsys.readouterr().out
    assert "macro-F1" in out and "intimidation" in out
    (error,) = lines(errors.read_text(encoding="utf-8"))
    assert error["id"] == "2" and error["missed"] == ["insult"]
    assert json.loads(metrics.read_text())["labels"]["intimidation"]["tp"] == 1


def test_data_validate_exit_codes(tmp_path, capsys):
    good = write_jsonl(tmp_path / "good.jsonl", [{"id": "1", "text": "你好", "labels": []}])
    bad = write_jsonl(tmp_path / "bad.jsonl", [{"id": "1", "text": "你好", "labels": ["scary"]}])
    assert main(["data", "validate", str(good)]) == 0
    assert main(["data", "validate", str(bad)]) == 1
    assert f"{bad}:1: unknown label(s) ['scary']" in capsys.readouterr().out


def test_train_command_writes_a_loadable_model(tiny_data, tmp_path, capsys):
    output = tmp_path / "m"
    code = main(["train", "--task", "messages", "--backbone", "baseline", "--data", str(tiny_data), "--output", str(output),
                 "--extra-negatives", "none", "--min-df", "1", "--c", "20"])
    assert code == 0
    source = tmp_path / "m.txt"
    source.write_text("再不还，明天带几个兄弟去你公司门口堵你\n明天下午三点开会，记得带电脑\n", encoding="utf-8")
    capsys.readouterr()
    assert main(["scan", str(source), "--task", "messages", "--model", str(output)]) == 0
    assert [r["labels"] for r in lines(capsys.readouterr().out)] == [["intimidation"], []]


def test_every_input_line_yields_one_output_line_on_a_long_stream(tmp_path, capsys):
    rows = [{"id": i, "text": MESSAGES[i % 2] if i % 7 else ""} for i in range(1000)]
    source = write_jsonl(tmp_path / "many.jsonl", rows)
    assert main(["scan", str(source), "--task", "messages", "--batch-size", "64"]) == 1
    records = lines(capsys.readouterr().out)
    assert [r["id"] for r in records] == [str(i) for i in range(1000)]
    assert sum("error" in r for r in records) == len(range(0, 1000, 7))


def test_evaluate_slices_reports_perturbations(tmp_path, capsys):
    data = write_jsonl(tmp_path / "gold.jsonl", [
        {"id": "1", "text": "再不还钱就把你的欠款发到你通讯录里每个人", "labels": ["privacy_disclosure"], "tags": ["obfuscated"]},
        {"id": "2", "text": MESSAGES[1], "labels": [], "tags": ["hard_negative"]},
    ])
    report_file = tmp_path / "metrics.json"
    assert main(["evaluate", "--task", "messages", "--data", str(data), "--slices", "--output", str(report_file)]) == 0
    assert "perturbation" in capsys.readouterr().out
    report = json.loads(report_file.read_text(encoding="utf-8"))
    perturbed = report["perturbations"]
    assert set(perturbed) == {"clean", "homophone", "pinyin", "spaced", "traditional", "fullwidth", "zero_width"}
    assert all(0 <= row["macro_f1"] <= 1 and 0 <= row["changed"] <= 2 for row in perturbed.values())
    assert perturbed["spaced"]["changed"] == 2  # every text can be spaced out
    assert report["slices"]["obfuscated"]["n"] == 1 and report["slices"]["obfuscated"]["positives"] == 1
    assert report["slices"]["hard_negative"]["positives"] == 0


def test_threshold_takes_several_values_after_one_flag_or_repeated_flags(tmp_path, capsys):
    source = write_jsonl(tmp_path / "m.jsonl", [{"id": i, "text": t} for i, t in enumerate(MESSAGES)])
    assert main(["scan", str(source), "--task", "messages", "--threshold", "insult=0", "privacy_disclosure=0"]) == 0
    one_flag = lines(capsys.readouterr().out)
    assert main(["scan", str(source), "--task", "messages", "--threshold", "insult=0",
                 "--threshold", "privacy_disclosure=0"]) == 0
    assert lines(capsys.readouterr().out) == one_flag
    assert all({"insult", "privacy_disclosure"} <= set(r["labels"]) for r in one_flag)
    code, out, err = run(["scan", "--task", "messages", "--threshold", "insult=0.5", str(source)])
    assert code == 2 and "put the inputs before --threshold" in err


def test_train_dedupe_drops_repeated_texts_and_reports_conflicts(tmp_path, capsys):
    from .conftest import TINY_MESSAGES

    rows = [(t, ";".join(l)) for t, l in TINY_MESSAGES] * 3  # every text three times, same labels
    corpus = tmp_path / "corpus.csv"
    with open(corpus, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["content", "tags"])
        writer.writerows(rows)
    base = ["train", "--task", "messages", "--data", str(corpus), "--text-column", "content", "--label-column", "tags",
            "--extra-negatives", "none", "--min-df", "1", "--output", str(tmp_path / "m")]
    code, _, err = run(base)
    assert code == 2 and "duplicate text" in err and "--dedupe" in err
    assert main(base + ["--dedupe"]) == 0
    assert "dedupe: dropped 20 repeated text(s)" in capsys.readouterr().err
    card = (tmp_path / "m" / "README.md").read_text(encoding="utf-8")
    assert "20 repeated texts dropped" in card
    assert json.loads((tmp_path / "m" / "metrics.json").read_text())["counts"]["duplicates_dropped"] == 20
    with open(corpus, "a", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerow([TINY_MESSAGES[0][0], "insult"])  # the same text, other labels
    code, _, err = run(base + ["--dedupe"])
    assert code == 2 and "records '1' and '31' have the same text but different labels" in err


def test_csv_cells_that_a_spreadsheet_would_run_as_formulas_are_neutralised(tmp_path, capsys):
    payloads = ['=HYPERLINK("http://evil.example","x")', "+1+1", "-2+3", "@SUM(A1)", "\tcmd", "\r=1"]
    source = write_jsonl(tmp_path / "m.jsonl", [{"id": p, "text": p + "，三天内不还钱就爆你通讯录"} for p in payloads])
    output = tmp_path / "out.csv"
    assert main(["scan", str(source), "--task", "messages", "--format", "csv", "--output", str(output)]) == 0
    rows = list(csv.reader(open(output, encoding="utf-8", newline="")))  # as a spreadsheet parses the file
    cells = [cell for row in rows[1:] for cell in row]
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")]
    assert [row[0] for row in rows[1:]] == ["'" + p for p in payloads]  # the text itself is kept, after the quote
    assert any(c.startswith("privacy_disclosure@") for c in cells)  # ordinary cells are untouched


def test_bare_command_lists_the_commands_and_version_prints():
    code, out, err = run([])
    assert code == 0 and all(name in out for name in ("scan", "train", "evaluate", "serve", "calibrate", "data"))
    code, out, _ = run(["--version"])
    from nlpguard import __version__

    assert code == 0 and out.strip() == f"nlpguard {__version__}"


def test_every_option_of_every_command_has_help_text():
    import argparse

    from nlpguard.apps.cli import build_parser

    missing = []

    def walk(parser, path):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    walk(sub, path + [name])
            elif not action.help and action.dest != "help":
                missing.append((path, action.dest))

    walk(build_parser(), [])
    assert missing == []


def test_python_api_empty_and_none_texts_and_repr(guard):
    assert guard.scan("", task="messages") == {"error": "empty 'text'"}
    records = guard(["  ", "明早八点我们的人就到你单位门口等你，不信你试试。"], task="messages")
    assert records[0] == {"error": "empty 'text'"} and records[1]["labels"] == ["intimidation"]
    with pytest.raises(TypeError, match="texts must be a string or an iterable of strings, got NoneType"):
        guard.scan(None, task="messages")
    assert repr(guard).startswith("Guard(model='baseline', tasks=['messages', 'clauses']")


def test_a_transformer_model_without_its_runtime_fails_at_load(monkeypatch):
    import importlib.util

    from nlpguard import Guard
    from nlpguard.errors import ModelError

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name in ("torch", "transformers") else real(name, *a))
    with pytest.raises(ModelError, match="needs torch and transformers"):
        Guard.load("zh-bert-small")


def test_a_custom_label_set_trains_evaluates_validates_and_scans_end_to_end(tmp_path):
    offensive = ["你这种人就是垃圾", "滚远点，废物", "真是个蠢货", "人渣一个", "脑子有病吧你", "恶心死了你这个骗子"]
    fine = ["今天天气不错", "明天一起吃饭吧", "谢谢你的帮助", "会议改到三点", "快递到了记得拿", "周末去爬山吗"]
    corpus = tmp_path / "corpus.csv"
    with open(corpus, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["content", "label"])
        writer.writerows([(t, "offensive") for t in offensive] + [(t, "") for t in fine] + [(offensive[0], "offensive")])
    descriptions = tmp_path / "labels.json"
    descriptions.write_text(json.dumps({"offensive": "attacks a person"}), encoding="utf-8")
    model = tmp_path / "model"
    columns = ["--text-column", "content", "--label-column", "label"]
    code, _, err = run(["train", "--task", "messages", "--data", str(corpus), "--output", str(model), "--labels",
                        "offensive", "--label-descriptions", str(descriptions), "--extra-negatives", "none",
                        "--min-df", "1", "--dedupe", *columns])
    assert code == 0, err
    code, out, _ = run(["evaluate", "--task", "messages", "--model", str(model), "--data", str(corpus), *columns])
    assert code == 0 and "offensive" in out
    code, out, _ = run(["data", "validate", str(corpus), "--task", "messages", "--model", str(model), *columns])
    assert code == 1 and out.splitlines() == [f"{corpus}: record 13: duplicate text"]  # the labels are known
    code, out, _ = run(["scan", "-", "--task", "messages", "--model", str(model)],
                       stdin=json.dumps({"id": "x", "text": "你这种人就是垃圾"}, ensure_ascii=False).encode("utf-8"))
    assert code == 0 and lines(out)[0]["labels"] == ["offensive"] and set(lines(out)[0]["scores"]) == {"offensive"}
    bad = tmp_path / "bad.csv"
    bad.write_text("content,label\n" + "".join(f"文本{k},scary\n" for k in range(30)), encoding="utf-8")
    code, out, _ = run(["data", "validate", str(bad), "--task", "messages", "--model", str(model), *columns])
    assert code == 1 and len(out.splitlines()) == 21 and out.splitlines()[-1] == "... and 10 more problem(s)"
    assert "unknown label(s) ['scary']" in out.splitlines()[0]
    code, _, err = run(["train", "--task", "messages", "--data", str(bad), "--output", str(tmp_path / "m2"), *columns])
    assert code == 2 and "--labels a,b and --label-descriptions FILE" in err


def test_keep_carries_input_fields_into_jsonl_and_csv_outputs(tmp_path, capsys):
    rows = [{"id": "a", "text": MESSAGES[0], "sender": "agent-7", "meta": {"batch": 3}},
            {"id": "b", "text": "", "sender": "agent-8"}, {"id": "c", "text": MESSAGES[1]}]
    source = write_jsonl(tmp_path / "m.jsonl", rows)
    assert main(["scan", str(source), "--task", "messages", "--keep", "sender,meta"]) == 1
    out = lines(capsys.readouterr().out)
    assert [(r["sender"], r["meta"]) for r in out] == [("agent-7", {"batch": 3}), ("agent-8", None), (None, None)]
    assert "labels" in out[0] and "error" in out[1]  # the interface fields are untouched
    output = tmp_path / "out.csv"
    assert main(["scan", str(source), "--task", "messages", "--keep", "sender,meta", "--format", "csv",
                 "--output", str(output)]) == 1
    table = list(csv.DictReader(open(output, encoding="utf-8", newline="")))
    assert [(r["sender"], r["meta"]) for r in table] == [("agent-7", '{"batch": 3}'), ("agent-8", ""), ("", "")]
    code, _, err = run(["scan", str(source), "--task", "messages", "--keep", "labels"])
    assert code == 2 and "would overwrite fields of the output record" in err
