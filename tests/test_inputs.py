import json

import pytest

from nlpguard.io.inputs import check_input, read_inputs


def records(path, task="messages", declared=None):
    return [(r.id, r.text, r.error) for r in read_inputs(str(path), task, declared)]


def test_jsonl_records_keep_ids_and_get_file_line_defaults(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_bytes(b'{"id": 7, "text": "\xe4\xbd\xa0\xe5\xa5\xbd"}\n\n{"text": "second", "labels": ["x"]}\n')
    assert records(path) == [("7", "你好", None), (f"{path}:3", "second", None)]


@pytest.mark.parametrize("line, problem", [
    (b'{"id": "a", "text": ', "invalid JSON"),
    (b'{"id": "a"}', "missing 'text'"),
    (b'{"id": "a", "text": ""}', "empty 'text'"),
    (b'{"id": "a", "text": 7}', "'text' is int"),
    (b'["text"]', "expected a JSON object"),
    (b'{"id": "a", "text": "\xff\xfe"}', "not valid UTF-8"),
])
def test_bad_jsonl_lines_become_error_records(tmp_path, line, problem):
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b'{"text": "ok"}\n' + line + b'\n{"text": "ok too"}\n')
    got = records(path)
    assert len(got) == 3
    assert got[0][1] == "ok" and got[2][1] == "ok too"
    assert got[1][1] is None and problem in got[1][2]


def test_csv_with_id_and_quoted_newlines(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text('id,text,sender\nc1,"第一行\n第二行",x\n,没有id,y\nc3,,z\n', encoding="utf-8")
    got = records(path)
    assert got[0] == ("c1", "第一行\n第二行", None)
    assert got[1] == (f"{path}:4", "没有id", None)
    assert got[2][0] == "c3" and got[2][2] == "empty 'text'"


def test_csv_without_text_column_is_a_usage_error(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("id,body\n1,hi\n", encoding="utf-8")
    with pytest.raises(ValueError, match="no 'text' column"):
        check_input(str(path), "messages")


def test_txt_is_one_message_per_line_for_messages_and_one_document_for_clauses(tmp_path):
    path = tmp_path / "m.txt"
    path.write_text("第一条 甲\n\n第二条 乙\n", encoding="utf-8")
    assert [r[1] for r in records(path)] == ["第一条 甲", "第二条 乙"]
    assert records(path, "clauses") == [("m.txt", "第一条 甲\n\n第二条 乙\n", None)]


def test_gbk_document_is_decoded(tmp_path):
    path = tmp_path / "policy.txt"
    path.write_bytes("第一条 本协议的最终解释权归本公司所有。我们有权随时修改本协议。".encode("gbk"))
    assert records(path, "clauses")[0][1].startswith("第一条 本协议")


def test_unreadable_document_is_an_error_record_not_a_crash(tmp_path):
    path = tmp_path / "broken.pdf"
    path.write_bytes(b"%PDF-1.4 this is not really a pdf")
    (rid, text, error), = records(path, "clauses")
    assert rid == "broken.pdf" and text is None and "PDF" in error


def test_missing_file_and_unsupported_type_are_usage_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        check_input(str(tmp_path / "nope.jsonl"), "messages")
    with pytest.raises(ValueError, match="unsupported input type .pdf for --task messages"):
        check_input(str(tmp_path / "x.pdf"), "messages")


def test_numeric_and_missing_ids(tmp_path):
    path = tmp_path / "ids.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in
                              [{"id": 12, "text": "a"}, {"id": "", "text": "b"}, {"text": "c"}]) + "\n", encoding="utf-8")
    assert [r[0] for r in records(path)] == ["12", f"{path}:2", f"{path}:3"]
