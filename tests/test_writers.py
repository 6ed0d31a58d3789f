"""Output writers and ``--resume`` in-process: exact bytes of JSONL and CSV, the clause view the CSV
and HTML share with ``scan_document``, and resuming a cut-off output (no subprocess, no model load
beyond the embedded default)."""
from __future__ import annotations

import csv
import io
import json

import pytest

from nlpguard.io.inputs import InputRecord
from nlpguard.io.outputs import CsvWriter, DocumentHtmlWriter, JsonlWriter, clause_rows, make_writer
from nlpguard.io.resume import ResumeError, check_fingerprint, fingerprint_path, input_fingerprint, skip_written

from .conftest import REPO

MESSAGES = ["三天内不还钱就把你欠款的事发给你通讯录里所有人", "【银行】您本期账单已出，请按时还款。", "   "]
POLICY = (REPO / "data" / "examples" / "loan_app_policy.txt").read_text(encoding="utf-8")


def _records(guard, texts, task, clauses=False):
    inputs = [InputRecord.from_mapping({"id": f"r{i}", "text": text, "sender": f"s{i}"}, str(i)) for i, text in enumerate(texts)]
    return inputs, list(guard.pipe(inputs, task, clauses=clauses))


def test_jsonl_writer_writes_the_record_then_kept_fields_one_line_each(guard):
    inputs, outputs = _records(guard, MESSAGES, "messages")
    stream = io.StringIO()
    writer = JsonlWriter(stream, guard.labels("messages"), "messages", keep=("sender",))
    for record, output in zip(inputs, outputs):
        writer.write(output, record)
    lines = stream.getvalue().splitlines()
    assert [json.loads(line) for line in lines] == [{**o, "sender": f"s{i}"} for i, o in enumerate(outputs)]
    assert json.loads(lines[2]) == {"id": "r2", "error": json.loads(lines[2])["error"], "sender": "s2"}
    assert "通讯录" in lines[0]  # UTF-8 as is, not \\u escapes


def test_jsonl_writer_escapes_lone_surrogates_instead_of_failing():
    raw = io.BytesIO()
    stream = io.TextIOWrapper(raw, encoding="utf-8", newline="")  # a UTF-8 file, as --output opens it
    writer = JsonlWriter(stream, [], "messages")
    writer.write({"id": "x\ud800", "error": "text: lone surrogate"})
    writer.write({"id": "ok", "labels": ["insult"]})
    writer.close()
    lines = raw.getvalue().decode("utf-8").splitlines()
    assert lines[0] == '{"id": "x\\ud800", "error": "text: lone surrogate"}' and json.loads(lines[1])["id"] == "ok"


def test_csv_writer_messages_one_row_per_record_and_formulas_defused(guard):
    labels = guard.labels("messages")
    stream = io.StringIO()
    writer = CsvWriter(stream, labels, "messages", keep=("sender",))
    writer.write({"id": "=cmd|' /C calc'!A0", "labels": [], "scores": {l: 0.0 for l in labels}, "families": [], "evidence": []},
                 InputRecord.from_mapping({"id": "x", "text": "t", "sender": "+86 10086"}, "0"))
    writer.write({"id": "e", "error": "text: empty"})
    rows = list(csv.reader(io.StringIO(stream.getvalue())))
    assert rows[0] == ["id", "labels", "families", *[f"score_{l}" for l in labels], "evidence", "error", "sender"]
    assert rows[1][0] == "'=cmd|' /C calc'!A0" and rows[1][-1] == "'+86 10086"
    assert rows[2][0] == "e" and rows[2][-2] == "text: empty"


def test_document_writers_render_the_clauses_scan_document_returns(guard):
    labels = guard.labels("clauses")
    document = guard.scan_document(POLICY)
    _, (record,) = _records(guard, [POLICY], "clauses", clauses=True)
    assert record["clauses"] == document["clauses"] and record["evidence"] == document["evidence"]
    flagged = [c for c in document["clauses"] if c["labels"]]
    rows = clause_rows(record["clauses"])
    assert [(r["start"], r["end"], r["labels"]) for r in rows] == [(c["start"], c["end"], c["labels"]) for c in flagged]
    # the same clauses the evidence names, each with the scores of its flagged labels
    assert {(e["start"], e["end"], e["label"], e["score"]) for e in record["evidence"]} == {
        (r["start"], r["end"], label, r["scores"][label]) for r in rows for label in r["labels"]}
    assert all(POLICY[r["start"]:r["end"]] == r["text"] for r in rows)

    stream = io.StringIO()
    writer = make_writer("csv", stream, labels, "clauses")
    assert writer.needs_clauses
    writer.write(record, InputRecord("policy.txt", POLICY))
    table = list(csv.DictReader(io.StringIO(stream.getvalue())))
    assert [(int(t["start"]), t["labels"]) for t in table] == [(r["start"], ";".join(r["labels"])) for r in rows]

    html = io.StringIO()
    report = DocumentHtmlWriter(html, labels)
    report.write({**record, "id": "policy.txt"})
    report.write({"id": "broken.pdf", "error": "cannot read broken.pdf: not a PDF"})
    report.close()
    page = html.getvalue()
    assert page.count("<tr data-filter><td data-v=") == len(rows) and "cannot read broken.pdf" in page


def test_messages_writers_do_not_ask_for_clauses(guard):
    for fmt in ("jsonl", "csv", "html"):
        assert not make_writer(fmt, io.StringIO(), guard.labels("messages"), "messages").needs_clauses


def _input(n: int) -> list[InputRecord]:
    return [InputRecord(f"m{i}", f"text {i}") for i in range(n)]


def test_resume_skips_complete_lines_and_cuts_a_half_written_one(tmp_path):
    output = tmp_path / "out.jsonl"
    output.write_bytes(b'{"id": "m0", "labels": []}\n{"id": "m1", "error": "bad"}\n{"id": "m2", "lab')
    records = iter(_input(5))
    assert skip_written(records, output) == (2, 1)
    assert output.read_bytes() == b'{"id": "m0", "labels": []}\n{"id": "m1", "error": "bad"}\n'
    assert next(records).id == "m2"  # the next record to scan is the one cut off
    assert skip_written(iter(_input(5)), tmp_path / "missing.jsonl") == (0, 0)


@pytest.mark.parametrize("content, problem", [
    (b'{"id": "m0"}\n{"id": "zz"}\n', "has id 'zz' but input record 2 is 'm1'"),
    (b'{"id": "m0"}\nnot json\n', "is not JSON"),
    (b'{"id": "m0"}\n{"id": "m1"}\n{"id": "m2"}\n', "more records than the input's 2"),
])
def test_resume_refuses_an_output_of_another_input(tmp_path, content, problem):
    output = tmp_path / "out.jsonl"
    output.write_bytes(content)
    with pytest.raises(ResumeError, match=problem):
        skip_written(iter(_input(2)), output)
    assert output.read_bytes() == content  # nothing cut from a file that is refused


def test_resume_refuses_an_input_that_changed_since_the_interrupted_run(tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_text('{"id": "a", "text": "x"}\n', encoding="utf-8")
    partial = tmp_path / "out.jsonl.partial"
    fingerprint_path(partial).write_text(json.dumps(input_fingerprint([str(source)])), encoding="utf-8")
    check_fingerprint(partial, [str(source)])  # unchanged: fine
    source.write_text('{"id": "a", "text": "y"}\n', encoding="utf-8")
    with pytest.raises(ResumeError, match="the input changed since the interrupted run"):
        check_fingerprint(partial, [str(source)])
