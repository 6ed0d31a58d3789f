"""Every supported document format through the installed ``nlpguard`` command (README command 1).

One folder holds a policy in each format — .txt in UTF-8, GB18030 and UTF-16, .md, .html with
navigation and footer, .pdf, .docx — plus a corrupt PDF, a non-zip .docx and a binary file named
.txt. Each readable document yields clauses; each unreadable one yields an error record naming
the file; the batch goes on and exits 1, with no traceback.
"""
import itertools
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from training.document_formats import FOOTER, NAV, html_page, write_docx, write_formats, write_pdf

CLAUSES = [
    "第一条 您注册或使用本应用即视为同意本政策全部条款。",
    "第二条 我们有权随时单方修改本协议，修改后的协议一经公布即生效，无需另行通知。",
    "第三条 为了向您提供借款服务，我们需要收集您的姓名和身份证号码，用于身份核验。",
    "第四条 您逾期未还款的，您授权我们联系您通讯录中的联系人告知您的欠款情况。",
]


def nlpguard_command() -> str:
    """The console script installed beside this interpreter (as README command 1 installs it)."""
    script = Path(sys.executable).with_name("nlpguard")
    found = str(script) if script.is_file() else shutil.which("nlpguard")
    if not found:
        pytest.skip("the nlpguard console script is not installed in this environment")
    return found


HTML = html_page(CLAUSES, title="借款服务隐私政策")


@pytest.fixture
def policies(tmp_path):
    root = tmp_path / "policies"
    root.mkdir()
    text = "借款服务隐私政策\n" + "\n".join(CLAUSES) + "\n"
    (root / "utf8.txt").write_text(text, encoding="utf-8")
    (root / "gb18030.txt").write_bytes(text.encode("gb18030"))
    (root / "utf16.txt").write_bytes(text.encode("utf-16"))
    (root / "policy.md").write_text("# 借款服务隐私政策\n\n" + "\n\n".join(f"- {c}" for c in CLAUSES) + "\n", encoding="utf-8")
    (root / "policy.html").write_text(HTML, encoding="utf-8")
    write_pdf(root / "policy.pdf", CLAUSES)
    write_docx(root / "policy.docx", CLAUSES, title="借款服务隐私政策")
    (root / "corrupt.pdf").write_bytes(b"%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 2 0 R >>\nendobj\n" + bytes(range(256)))
    (root / "notzip.docx").write_bytes(b"this is plain text, not a zip archive")
    (root / "binary.txt").write_bytes(bytes(range(256)) * 40)
    return root


def test_every_format_yields_clauses_and_unreadable_files_error_records(policies, tmp_path):
    output = tmp_path / "out.jsonl"
    proc = subprocess.run([nlpguard_command(), "scan", str(policies), "--task", "clauses", "--output", str(output),
                           "--progress", "off"], capture_output=True, text=True)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    records = {r["id"]: r for r in map(json.loads, output.read_text(encoding="utf-8").splitlines())}
    readable = ["utf8.txt", "gb18030.txt", "utf16.txt", "policy.md", "policy.html", "policy.pdf", "policy.docx"]
    assert set(records) == set(readable) | {"corrupt.pdf", "notzip.docx", "binary.txt"}
    for name in readable:
        record = records[name]
        assert "error" not in record, (name, record)
        found = {e["text"] for e in record["evidence"]}
        # The bundled-consent and unilateral clauses are found in every format, with their own text.
        assert any("视为同意本政策全部条款" in t for t in found), (name, found)
        assert {"bundled_consent", "unilateral_terms"} <= set(record["labels"]), (name, record["labels"])
        assert all(NAV not in t and FOOTER not in t for t in found), name
    for name, cause in (("corrupt.pdf", "PDF"), ("notzip.docx", "DOCX"), ("binary.txt", "")):
        record = records[name]
        assert set(record) == {"id", "error"}, record
        assert name in record["error"] and cause in record["error"]


def test_a_failing_reader_is_one_documents_error_not_the_batchs(policies, tmp_path, monkeypatch):
    """Any exception inside a reader (e.g. a missing HTML-cleaning module) names the file and its cause."""
    from nlpguard.io import documents
    from nlpguard.io.inputs import read_inputs

    def broken(data: bytes) -> str:
        raise ImportError("lxml.html.clean module is now a separate project lxml_html_clean")

    monkeypatch.setattr(documents, "_html", broken)
    (record,) = read_inputs(str(policies / "policy.html"), "clauses")
    assert record.text is None
    assert "policy.html" in record.error and "ImportError" in record.error and "lxml_html_clean" in record.error
    (fine,) = read_inputs(str(policies / "policy.md"), "clauses")
    assert fine.error is None and "视为同意" in fine.text


@pytest.mark.shared
@pytest.mark.slow
def test_real_policies_in_every_format_scan_without_errors_and_offsets_point_into_each_file(corpora, tmp_path):
    from nlpguard.training.corpora import _find, _rows
    from nlpguard.io.documents import read_document

    root = tmp_path / "real"
    root.mkdir()
    policies = [row["text"] for row in itertools.islice(_rows(_find(corpora, "ca4p483")), 3)]
    for k, text in enumerate(policies):
        write_formats(text, root, f"p{k}")
    output = tmp_path / "out.jsonl"
    proc = subprocess.run([nlpguard_command(), "scan", str(root), "--task", "clauses", "--output", str(output),
                           "--progress", "off"], capture_output=True, text=True)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    records = {r["id"]: r for r in map(json.loads, output.read_text(encoding="utf-8").splitlines())}
    assert len(records) == 15
    for name, record in records.items():
        text = read_document(root / name)
        assert len(text) > 500, name
        for item in record["evidence"]:
            assert text[item["start"]:item["end"]] == item["text"], name


def test_offsets_in_text_read_back_from_a_file_map_to_the_original():
    from training.document_formats import source_offsets

    original = "第一条 本协议由您与本公司订立。\n第二条 我们有权随时修改本协议。\n"
    extracted = "隐私政策\n第一条 本协议由您与本公\n司订立。第二条 我们有权随时修改本协议。"
    back = source_offsets(original, extracted)
    start = extracted.index("第二条")
    assert original[back[start]:back[len(extracted)]].strip() == "第二条 我们有权随时修改本协议。"
    assert original[back[extracted.index("司订立")]] == "司"


@pytest.mark.shared
@pytest.mark.slow
def test_evidence_read_from_every_format_matches_the_original_text(corpora, guard, tmp_path):
    """Three held-out real policies written as txt/md/html/pdf/docx: the flags read back from each
    file land on the same hand-labelled clauses as the flags on the original text."""
    from nlpguard.training.corpora import real_documents
    from nlpguard.io.documents import read_document
    from nlpguard.training.evaluation import document_flags, evidence_from_flags
    from training.document_formats import source_offsets

    from .conftest import REPO

    model = guard.model("clauses")
    documents = real_documents(corpora, REPO / "data" / "real_clauses")[:3]
    original = evidence_from_flags([(d, document_flags(model, t, model.spec.thresholds), c) for d, t, c in documents],
                                   model.spec.labels)
    for kind in ("txt", "md", "html", "pdf", "docx"):
        flagged = []
        for doc, text, clauses in documents:
            extracted = read_document(write_formats(text, tmp_path, doc)[kind])
            back = source_offsets(text, extracted)
            flagged.append((doc, [((int(back[s]), int(back[e])), label)
                                  for (s, e), label in document_flags(model, extracted, model.spec.thresholds)], clauses))
        measured = evidence_from_flags(flagged, model.spec.labels)
        assert abs(measured["recall"] - original["recall"]) <= 0.05, kind
        assert abs(measured["flags_per_document"] - original["flags_per_document"]) <= 1, kind
