"""Bad input through the real ``nlpguard scan`` command: every input record yields exactly one output
record (an error record when it cannot be scanned); unusable commands exit 2 with one line."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from nlpguard.runtime.modeldir import PACKAGED_MODELS

THREAT = "三天内不还钱就爆你通讯录，让你全家都知道你是老赖"
PLAIN = "周末一起去爬山吗？我带水，你带吃的"


def scan(*args, stdin=b""):
    proc = subprocess.run([sys.executable, "-m", "nlpguard", "scan", *args, "--progress", "off"],
                          input=stdin, capture_output=True)
    out = [json.loads(line) for line in proc.stdout.decode("utf-8").splitlines()]
    return proc.returncode, out, proc.stderr.decode("utf-8")


def jsonl(*objects) -> bytes:
    return b"".join(json.dumps(o, ensure_ascii=False).encode("utf-8") + b"\n" for o in objects)


def test_mixed_bad_lines_one_output_per_input_record_in_order(tmp_path):
    lines = [
        jsonl({"id": "ok1", "text": THREAT}),
        b'{"id": "bad-utf8", "text": "\xff\xfe\xfd"}\n',
        "\n".encode(),                                               # empty line: not a record
        '{"id": "gbk", "text": "不还钱就上门"}\n'.encode("gbk"),      # a GBK line in a UTF-8 file
        jsonl({"id": "nul", "text": "还款提醒\u0000请按时还款"}),
        b'[1, 2]\n', b'"just a string"\n', b'42\n', b'null\n',
        jsonl({"id": "num", "text": 5}), jsonl({"id": "list", "text": ["a"]}), jsonl({"id": "none", "text": None}),
        jsonl({"id": "blank", "text": "   "}),
        json.dumps({"id": "surrogate", "text": "\ud800" + PLAIN}).encode("ascii") + b"\n",  # a lone \\ud800 escape
        jsonl({"id": 17, "text": PLAIN}),
        b'{"id": "truncated", "text": "abc\n',
        jsonl({"id": "ok2", "text": PLAIN}),
    ]
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(b"".join(lines))
    code, out, err = scan(str(path), "--task", "messages")
    assert code == 1 and "Traceback" not in err
    assert len(out) == len(lines) - 1  # every non-blank line, once
    ids = [r["id"] for r in out]
    assert ids[0] == "ok1" and ids[-1] == "ok2" and "17" in ids
    by_id = {r["id"]: r for r in out}
    assert "privacy_disclosure" in by_id["ok1"]["labels"] and by_id["ok2"]["labels"] == []
    assert "not valid UTF-8" in out[1]["error"]
    assert "--encoding gb18030" in out[2]["error"]  # the GBK line says how to read it
    assert "labels" in by_id["nul"]                   # a NUL character is text, scanned
    for rid in ("num", "list", "none", "blank", "surrogate"):
        assert set(by_id[rid]) == {"id", "error"}, rid
    assert all("expected a JSON object" in r["error"] for r in out[4:8])
    assert "invalid JSON" in out[-2]["error"]


def test_gbk_file_reads_with_encoding_option(tmp_path):
    path = tmp_path / "gbk.txt"
    path.write_bytes(f"{THREAT}\n{PLAIN}\n".encode("gbk"))
    code, out, _ = scan(str(path), "--task", "messages")
    assert code == 1 and len(out) == 2 and all("--encoding gb18030" in r["error"] for r in out)
    code, out, _ = scan(str(path), "--task", "messages", "--encoding", "gbk")
    assert code == 0 and "privacy_disclosure" in out[0]["labels"] and out[1]["labels"] == []
    csv_path = tmp_path / "gbk.csv"
    csv_path.write_bytes(f"id,text\nc1,{THREAT}\n".encode("gb18030"))
    code, out, _ = scan(str(csv_path), "--task", "messages", "--encoding", "gb18030")
    assert code == 0 and out[0]["id"] == "c1" and "privacy_disclosure" in out[0]["labels"]


def test_raw_nul_bytes_in_a_text_line_are_scanned(tmp_path):
    path = tmp_path / "nul.txt"
    path.write_bytes(THREAT.encode("utf-8") + b"\x00\x00\n" + PLAIN.encode("utf-8") + b"\n")
    code, out, _ = scan(str(path), "--task", "messages")
    assert code == 0 and len(out) == 2 and "privacy_disclosure" in out[0]["labels"]


def test_one_megabyte_single_line(tmp_path):
    filler = "您好，您本月的账单已出，请于到期日前按时还款，感谢您的配合。"
    text = filler * (1_000_000 // len(filler.encode("utf-8")) + 1) + THREAT
    assert len(text.encode("utf-8")) > 1_000_000
    path = tmp_path / "big.jsonl"
    path.write_bytes(jsonl({"id": "big", "text": text}, {"id": "small", "text": PLAIN}))
    code, out, _ = scan(str(path), "--task", "messages", "--max-chars", "1000000")  # over the 200,000 default
    assert code == 0 and [r["id"] for r in out] == ["big", "small"]
    assert "privacy_disclosure" in out[0]["labels"]
    for item in out[0]["evidence"]:  # offsets point into the 1 MB original
        assert text[item["start"]:item["end"]] == item["text"]
    assert any(item["text"] == THREAT for item in out[0]["evidence"])


@pytest.fixture
def corrupt_model(tmp_path):
    model = tmp_path / "corrupt"
    shutil.copytree(PACKAGED_MODELS / "baseline" / "messages", model)
    (model / "baseline.safetensors").write_bytes(b"\x00" * 64)
    return model


@pytest.mark.parametrize("case, message", [
    ("csv-without-text", "no 'text' column"),
    ("missing-model", "neither a directory nor a packaged model"),
    ("corrupt-weights", "cannot load weights"),
    ("unknown-threshold", "unknown label 'nope'"),
    ("bad-encoding", "unknown encoding"),
    ("resume-to-stdout", "--resume needs --output"),
])
def test_unusable_commands_exit_2_with_one_line(tmp_path, corrupt_model, case, message):
    good = tmp_path / "m.jsonl"
    good.write_bytes(jsonl({"text": PLAIN}))
    no_text = tmp_path / "m.csv"
    no_text.write_text("id,body\n1,你好\n", encoding="utf-8")
    args = {
        "csv-without-text": [str(no_text), "--task", "messages"],
        "missing-model": [str(good), "--task", "messages", "--model", str(tmp_path / "no-such-model")],
        "corrupt-weights": [str(good), "--task", "messages", "--model", str(corrupt_model)],
        "unknown-threshold": [str(good), "--task", "messages", "--threshold", "nope=0.5"],
        "bad-encoding": [str(good), "--task", "messages", "--encoding", "klingon"],
        "resume-to-stdout": [str(good), "--task", "messages", "--resume"],
    }[case]
    code, out, err = scan(*args)
    assert code == 2 and out == []
    assert len(err.strip().splitlines()) == 1 and message in err and "Traceback" not in err


def messages_file(path, n):
    texts = [THREAT, PLAIN, "【某银行】您本期账单已到期，请按时还款", "再不还，明天带几个兄弟去你公司门口堵你"]
    rows = [{"id": f"m{i:05d}", "text": f"{texts[i % 4]}（{i}）"} for i in range(n)]
    rows[7] = {"id": "m00007", "text": ""}  # an error record before the interruption
    path.write_bytes(jsonl(*rows))
    return path


@pytest.mark.slow
def test_resume_after_kill_equals_an_uninterrupted_run(tmp_path):
    source = messages_file(tmp_path / "in.jsonl", 12000)
    reference = tmp_path / "reference.jsonl"
    code, _, _ = scan(str(source), "--task", "messages", "--output", str(reference))
    assert code == 1

    output = tmp_path / "out.jsonl"
    output.write_bytes(b"a previous good report\n")
    partial = tmp_path / "out.jsonl.partial"
    proc = subprocess.Popen([sys.executable, "-m", "nlpguard", "scan", str(source), "--task", "messages",
                             "--output", str(output), "--batch-size", "64", "--progress", "off"],
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while (not partial.exists() or partial.stat().st_size < 200_000) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert output.read_bytes() == b"a previous good report\n"  # a killed run leaves the old output in place
    with open(partial, "ab") as handle:  # as if killed in the middle of writing a line
        handle.write(b'{"id": "m9')
    written = partial.read_bytes().count(b"\n")
    assert 0 < written < 12000, "the run was not interrupted mid-way"

    code, out, err = scan(str(source), "--task", "messages", "--output", str(output), "--resume")
    assert code == 1 and "1 record(s) could not be scanned" in err  # the error record before the kill counts
    assert output.read_bytes() == reference.read_bytes() and not partial.exists()
    code, _, _ = scan(str(source), "--task", "messages", "--output", str(output), "--resume")  # nothing left to do
    assert code == 1 and output.read_bytes() == reference.read_bytes()


def test_resume_refuses_an_output_of_another_input(tmp_path):
    output = tmp_path / "out.jsonl"
    output.write_bytes(jsonl({"id": "other", "labels": []}))
    source = messages_file(tmp_path / "in.jsonl", 20)
    code, _, err = scan(str(source), "--task", "messages", "--output", str(output), "--resume")
    assert code == 2 and "has id 'other' but input record 1 is 'm00000'" in err


def test_an_output_that_is_an_input_is_refused_and_the_input_kept(tmp_path):
    source = messages_file(tmp_path / "s.jsonl", 20)
    before = source.read_bytes()
    linked = tmp_path / "link.jsonl"
    os.link(source, linked)
    for output in (source, linked):
        for option in ("--output", "--summary"):
            code, out, err = scan(str(source), "--task", "messages", option, str(output))
            assert code == 2 and "is also an input" in err and "Traceback" not in err
    code, _, err = scan(str(source), "--task", "messages", "--output", str(source), "--format", "html")
    assert code == 2 and source.read_bytes() == before


@pytest.mark.parametrize("option, where, message", [
    ("--output", "missing/out.jsonl", "does not exist"),
    ("--summary", "missing/summary.json", "does not exist"),
    ("--output", ".", "is a folder"),
])
def test_unwritable_outputs_are_usage_errors_before_scanning(tmp_path, option, where, message):
    source = messages_file(tmp_path / "s.jsonl", 20)
    target = tmp_path / where if where != "." else tmp_path
    code, out, err = scan(str(source), "--task", "messages", option, str(target))
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


@pytest.mark.parametrize("change, message", [
    (lambda c: c.update({"nlpguard": [1]}), '"nlpguard" section must be a JSON object'),
    (lambda c: c["nlpguard"]["thresholds"].update({"insult": 1.5}), "threshold of 'insult' must be a number from 0 to 1"),
    (lambda c: c["nlpguard"]["thresholds"].update({"insult": "high"}), "threshold of 'insult' must be a number"),
    (lambda c: c["nlpguard"].update({"options": {"max_length": "abc"}}), "options.max_length must be a non-negative"),
    (lambda c: c["nlpguard"].update({"labels": "insult"}), "labels must be a non-empty list"),
])
def test_malformed_model_configs_are_one_line_usage_errors(tmp_path, change, message):
    model = tmp_path / "model"
    shutil.copytree(PACKAGED_MODELS / "baseline" / "messages", model)
    config = json.loads((model / "config.json").read_text(encoding="utf-8"))
    change(config)
    (model / "config.json").write_text(json.dumps(config), encoding="utf-8")
    source = tmp_path / "m.jsonl"
    source.write_bytes(jsonl({"text": PLAIN}))
    code, out, err = scan(str(source), "--task", "messages", "--model", str(model))
    assert code == 2 and out == [] and message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_resume_refuses_an_input_whose_texts_changed_under_the_same_ids(tmp_path):
    source = messages_file(tmp_path / "in.jsonl", 3000)
    output = tmp_path / "out.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "nlpguard", "scan", str(source), "--task", "messages",
                             "--output", str(output), "--batch-size", "64", "--workers", "1", "--progress", "off"],
                            stderr=subprocess.DEVNULL)
    partial = tmp_path / "out.jsonl.partial"
    deadline = time.time() + 60
    while (not partial.exists() or partial.stat().st_size < 20_000) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert partial.exists(), "the run finished before it could be interrupted"
    source.write_bytes(source.read_bytes().replace("周末".encode(), "月底".encode()))  # same ids, other texts
    code, _, err = scan(str(source), "--task", "messages", "--output", str(output), "--resume")
    assert code == 2 and "the input changed since the interrupted run" in err and "Traceback" not in err


def test_records_and_documents_over_the_size_limits_are_error_records(tmp_path):
    source = tmp_path / "m.jsonl"
    source.write_bytes(jsonl({"id": "big", "text": "还款" * 150_001}, {"id": "ok", "text": PLAIN}))
    started = time.monotonic()
    code, out, err = scan(str(source), "--task", "messages")
    assert code == 1 and [r["id"] for r in out] == ["big", "ok"] and time.monotonic() - started < 30
    assert "300,002 characters, over the limit of 200,000" in out[0]["error"] and "labels" in out[1]
    code, out, _ = scan(str(source), "--task", "messages", "--max-chars", "400000")
    assert code == 0 and all("labels" in r for r in out)
    policy = tmp_path / "policy.txt"
    policy.write_text("第一条 您注册即视为同意本政策全部条款。\n" * 100, encoding="utf-8")
    code, out, _ = scan(str(policy), "--task", "clauses", "--max-document-chars", "1000")
    assert code == 1 and "over the limit of 1,000" in out[0]["error"]


def test_a_docx_that_inflates_past_the_cap_is_refused_before_inflating(tmp_path, monkeypatch):
    import zipfile

    from nlpguard.io import documents

    bomb = tmp_path / "bomb.docx"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("word/document.xml", b"\0" * 5_000_000)  # 5 MB of zeros, a few KB compressed
    monkeypatch.setattr(documents, "MAX_DOCX_INFLATED_BYTES", 1_000_000)
    with pytest.raises(documents.DocumentError, match="inflates to 5,000,000 bytes, over the limit"):
        documents.read_document(bomb)


def test_deeply_nested_html_keeps_its_text(tmp_path):
    from nlpguard.io.documents import read_document

    page = tmp_path / "deep.html"
    page.write_text("<html><body>" + "<div>" * 600 + "<p>第一条 您注册或使用本应用即视为同意本政策全部条款。</p>"
                    + "</div>" * 600 + "<script>var x = 1;</script></body></html>", encoding="utf-8")
    assert read_document(page) == "第一条 您注册或使用本应用即视为同意本政策全部条款。"
