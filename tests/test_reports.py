"""Agreement reports: per-clause CSV, and the HTML report opened in a real headless browser."""
import csv
import shutil
import subprocess

import pytest

from nlpguard.apps.cli import main

from .conftest import REPO

POLICY = REPO / "data" / "examples" / "loan_app_policy.txt"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
BROWSER_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture
def folder(tmp_path):
    """A folder of agreements: one abusive policy, one fair clause in a sub-folder, one broken PDF."""
    root = tmp_path / "policies"
    (root / "sub").mkdir(parents=True)
    (root / "loan.txt").write_text(POLICY.read_text(encoding="utf-8"), encoding="utf-8")
    (root / "sub" / "fair.md").write_text("## 信息收集\n\n1. 我们仅在您申请借款时收集姓名和身份证号码，用于身份核验。\n", encoding="utf-8")
    (root / "sub" / "broken.pdf").write_bytes(b"%PDF-1.4 truncated")
    return root


def test_folder_is_read_recursively_and_csv_has_one_row_per_flagged_clause(folder, tmp_path):
    output = tmp_path / "clauses.csv"
    assert main(["scan", str(folder), "--task", "clauses", "--format", "csv", "--output", str(output)]) == 1
    rows = list(csv.DictReader(open(output, encoding="utf-8")))
    documents = [r["document"] for r in rows]
    assert set(documents) == {"loan.txt", "sub/fair.md", "sub/broken.pdf"}
    loan = [r for r in rows if r["document"] == "loan.txt"]
    assert len(loan) >= 6 and len({(r["start"], r["end"]) for r in loan}) == len(loan)   # one row per clause
    text = POLICY.read_text(encoding="utf-8")
    for row in loan:
        assert text[int(row["start"]):int(row["end"])] == row["clause"]
        assert row["severity"] in ("high", "medium") and row["grounds"]
    assert [r["labels"] for r in rows if r["document"] == "sub/fair.md"] == [""]
    assert "PDF" in [r for r in rows if r["document"] == "sub/broken.pdf"][0]["error"]


def test_clause_evidence_carries_heading_severity_and_grounds(guard):
    doc = "二、我们如何使用信息\n1. 您使用本应用即视为同意我们将您的信息用于营销推广。\n"
    record = guard.scan_document(doc)
    (item,) = [e for e in record["evidence"] if e["label"] == "bundled_consent"]
    assert item["heading"] == "二、我们如何使用信息" and item["severity"] == "high" and "个人信息保护法" in item["grounds"]
    assert [c["text"] for c in record["clauses"]] == ["二、我们如何使用信息", "1. 您使用本应用即视为同意我们将您的信息用于营销推广。"]
    assert record["clauses"][0]["labels"] == [] and "bundled_consent" in record["clauses"][1]["labels"]


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium not installed (Debian: apt-get install chromium)")
def test_html_report_renders_in_headless_chromium(folder, tmp_path):
    report = tmp_path / "report.html"
    main(["scan", str(folder), "--task", "clauses", "--format", "html", "--output", str(report)])
    page = report.read_text(encoding="utf-8")
    assert "<script src" not in page and "<link" not in page and "http" not in page.replace("http-equiv", "")
    profile = tmp_path / "profile"
    browser = subprocess.run([CHROMIUM, *BROWSER_FLAGS, f"--user-data-dir={profile}", "--dump-dom", report.as_uri()],
                             capture_output=True, timeout=120, text=True)
    assert browser.returncode == 0, browser.stderr[-2000:]
    dom = browser.stdout
    assert "nlpguard agreements report" in dom and "3 documents, 1 with flagged clauses, 1 unreadable" in dom
    assert "视为同意本政策全部条款" in dom and "个人信息保护法 14, 16" in dom
    shot = tmp_path / "report.png"
    screenshot = subprocess.run([CHROMIUM, *BROWSER_FLAGS, f"--user-data-dir={profile}", "--window-size=1280,900",
                                 f"--screenshot={shot}", report.as_uri()], capture_output=True, timeout=120, text=True)
    assert screenshot.returncode == 0, screenshot.stderr[-2000:]
    assert shot.is_file() and shot.stat().st_size > 10_000


def test_agreements_report_ranks_documents_and_shows_each_clause_once(tmp_path):
    root = tmp_path / "docs"
    root.mkdir()
    (root / "a_fair.md").write_text("1. 我们仅在您申请借款时收集姓名和身份证号码，用于身份核验。\n", encoding="utf-8")
    (root / "b_loan.txt").write_text(POLICY.read_text(encoding="utf-8"), encoding="utf-8")
    (root / "c_two_labels.txt").write_text(
        "第一条 您使用本应用即视为同意本政策，本公司有权随时单方修改本协议且无需通知您。\n", encoding="utf-8")
    report = tmp_path / "report.html"
    main(["scan", str(root), "--task", "clauses", "--format", "html", "--output", str(report)])
    page = report.read_text(encoding="utf-8")
    order = [page.index(f"<h2>{name}</h2>") for name in ("b_loan.txt", "c_two_labels.txt", "a_fair.md")]
    assert order == sorted(order)  # most severe first, nothing flagged last
    assert "Nothing flagged" in page and "nothing flagged</td>" in page and "class='scroll'" in page
    section = page[page.index("<h2>c_two_labels.txt</h2>"):]
    rows = section[:section.index("</section>")].count("<tr data-filter>")
    assert rows == 1 and "bundled_consent, unilateral_terms" in section  # one row, both labels
