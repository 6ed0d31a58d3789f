"""Message batch summary: JSON counts per label, family, sender, campaign and time, and the HTML report."""
import csv
import json
import subprocess
from collections import Counter
from datetime import datetime, timezone

import pytest

from nlpguard.apps.cli import main
from nlpguard.io.outputs import highlight
from nlpguard.io.summary import parse_timestamp

from .test_reports import BROWSER_FLAGS, CHROMIUM

TEXTS = ["三天内不还钱就爆你通讯录，让你全家都知道你是老赖", "周末一起去爬山吗？我带水，你带吃的",
         "再不还，明天带几个兄弟去你公司门口堵你", "【某银行】您本期账单已到期，请按时还款",
         "您好，这里是某金融的还款提醒。您的账单已逾期三天。再不还钱，我们就把你欠钱的事发到你们公司群里。"]


@pytest.fixture
def batch(tmp_path):
    rows = [{"id": f"m{i:03d}", "text": TEXTS[i % 5], "sender": ["agent-07", "agent-12", "vendor-A"][i % 3],
             "campaign": "c-nov" if i < 60 else "c-dec", "timestamp": f"2026-11-{20 + i // 40:02d}T{i % 24:02d}:15:00+08:00"}
            for i in range(120)]
    rows[5]["timestamp"] = "last tuesday"
    rows[6] = {"id": "m006", "text": "", "sender": "agent-07"}
    del rows[7]["sender"]
    path = tmp_path / "batch.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path, rows


def test_json_summary_counts_agree_with_the_records(batch, tmp_path):
    path, rows = batch
    out, summary_path = tmp_path / "out.jsonl", tmp_path / "summary.json"
    assert main(["scan", str(path), "--task", "messages", "--output", str(out), "--summary", str(summary_path)]) == 1
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    summary = json.loads(summary_path.read_text(encoding="utf-8"))
    scanned = [r for r in records if "error" not in r]
    assert (summary["records"], summary["scanned"], summary["errors"]) == (120, 119, 1)
    assert summary["flagged"] == sum(bool(r["labels"]) for r in scanned) > 0
    assert {l: v["records"] for l, v in summary["labels"].items()} == {
        l: sum(l in r["labels"] for r in scanned) for l in ("intimidation", "privacy_disclosure", "insult")}
    assert summary["families"] == dict(Counter(f for r in scanned for f in r["families"]))
    fields = {r["id"]: r for r in rows}
    for sender, group in summary["by_sender"].items():
        mine = [r for r in scanned if fields[r["id"]].get("sender") == sender]
        assert group["records"] == len(mine) and group["flagged"] == sum(bool(r["labels"]) for r in mine)
    assert sum(g["records"] for g in summary["by_sender"].values()) == 118  # one error, one without sender
    assert set(summary["by_campaign"]) == {"c-nov", "c-dec"}
    timeline = summary["timeline"]
    assert timeline["unit"] == "hour" and timeline["unreadable_timestamps"] == 1
    assert sum(p["records"] for p in timeline["periods"]) == 118  # the error record and the unreadable timestamp aside
    assert timeline["periods"] == sorted(timeline["periods"], key=lambda p: p["period"])
    top = summary["top_flagged"]
    assert [max(r["scores"][l] for l in r["labels"]) for r in top] == sorted(
        (max(r["scores"][l] for l in r["labels"]) for r in top), reverse=True)
    assert top[0]["sender"] in {"agent-07", "agent-12", "vendor-A"} and top[0]["evidence"]


def test_timeline_switches_to_days_for_long_batches(tmp_path):
    path = tmp_path / "long.csv"
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "text", "timestamp"])
        for day in range(1, 11):
            writer.writerow([f"d{day}", TEXTS[2], f"2026-10-{day:02d} 10:00:00"])
            writer.writerow([f"e{day}", TEXTS[1], str(int(datetime(2026, 10, day, 12, tzinfo=timezone.utc).timestamp()))])
    summary_path = tmp_path / "summary.json"
    assert main(["scan", str(path), "--task", "messages", "--output", str(tmp_path / "o.jsonl"), "--summary", str(summary_path)]) == 0
    timeline = json.loads(summary_path.read_text(encoding="utf-8"))["timeline"]
    assert timeline["unit"] == "day" and [p["period"] for p in timeline["periods"]] == [f"2026-10-{d:02d}" for d in range(1, 11)]
    assert all(p["records"] == 2 and p["flagged"] == 1 for p in timeline["periods"])


@pytest.mark.parametrize("value, expected", [
    ("2026-11-25T09:30:00+08:00", "2026-11-25T01:30"), ("2026-11-25 09:30", "2026-11-25T09:30"),
    ("2026-11-25T01:30:00Z", "2026-11-25T01:30"), ("1795570200", "2026-11-25T01:30"), ("1795570200000", "2026-11-25T01:30"),
])
def test_timestamps_in_common_forms(value, expected):
    assert parse_timestamp(value).astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M") == expected


def test_unreadable_timestamps_are_none():
    assert parse_timestamp("yesterday") is None and parse_timestamp("") is None


def test_highlight_marks_evidence_in_the_full_text_and_escapes():
    text = "<b>您好</b>。再不还钱就去你家。谢谢"
    start = text.index("再")
    evidence = [{"label": "intimidation", "start": start, "end": start + 9}, {"label": "insult", "start": start + 3, "end": start + 7}]
    assert highlight(text, evidence) == ("&lt;b&gt;您好&lt;/b&gt;。<mark title='insult, intimidation'>再不还钱就去你家。</mark>谢谢")


def test_html_report_has_groups_timeline_and_highlighted_messages(batch, tmp_path):
    path, _ = batch
    report = tmp_path / "report.html"
    assert main(["scan", str(path), "--task", "messages", "--format", "html", "--output", str(report)]) == 1
    page = report.read_text(encoding="utf-8")
    assert "120 records" in page and "1 with errors" in page
    assert "<h2>By sender</h2>" in page and "agent-07" in page and "<h2>By campaign</h2>" in page
    assert "<svg" in page and "Flagged per hour (UTC)" in page
    assert "<mark title='privacy_disclosure'>再不还钱，我们就把你欠钱的事发到你们公司群里。</mark>" in page
    assert "您好，这里是某金融的还款提醒。" in page  # the unflagged context around the evidence
    assert "http://" not in page and "https://" not in page and "<script src" not in page
    if CHROMIUM is None:
        pytest.skip("Chromium not installed: the page was checked as text only")
    dom = subprocess.run([CHROMIUM, *BROWSER_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", report.as_uri()],
                         capture_output=True, timeout=120, text=True).stdout
    assert "nlpguard message batch report" in dom and "vendor-A" in dom


def test_summary_with_resume_is_a_usage_error(batch, tmp_path, capsys):
    path, _ = batch
    assert main(["scan", str(path), "--task", "messages", "--output", str(tmp_path / "o.jsonl"), "--resume",
                 "--summary", str(tmp_path / "s.json")]) == 2
    assert "cannot be combined with --resume" in capsys.readouterr().err


def test_timezone_reads_zoneless_timestamps_and_shows_hours_there(tmp_path, capsys):
    rows = [{"id": "a", "text": "明早八点我们的人就到你单位门口等你，不信你试试。", "timestamp": "2026-11-25 09:30"},
            {"id": "b", "text": "周末一起去爬山吗？", "timestamp": "2026-11-25T01:10:00Z"}]
    source = tmp_path / "m.jsonl"
    source.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    summary = tmp_path / "s.json"
    assert main(["scan", str(source), "--task", "messages", "--summary", str(summary), "--timezone", "Asia/Shanghai",
                 "--output", str(tmp_path / "o.jsonl")]) == 0
    timeline = json.loads(summary.read_text(encoding="utf-8"))["timeline"]
    assert timeline["timezone"] == "Asia/Shanghai"
    assert [p["period"] for p in timeline["periods"]] == ["2026-11-25T09:00+08:00"]  # 01:10Z is 09:10 in Shanghai
    report = tmp_path / "r.html"
    assert main(["scan", str(source), "--task", "messages", "--format", "html", "--output", str(report),
                 "--timezone", "Asia/Shanghai"]) == 0
    assert "Flagged per hour (Asia/Shanghai)" in report.read_text(encoding="utf-8")
    assert main(["scan", str(source), "--task", "messages", "--timezone", "Mars/Olympus"]) == 2
    assert "unknown time zone 'Mars/Olympus'" in capsys.readouterr().err
