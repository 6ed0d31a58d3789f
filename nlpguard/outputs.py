"""Write scan records as JSON Lines, CSV or a self-contained HTML report.

Writers take records one at a time (``write``) and finish with ``close``;
JSON Lines and CSV stream, the HTML report keeps only counts and the
highest-scoring flagged records it shows.
"""
from __future__ import annotations

import csv
import heapq
import html
import json
from collections import Counter
from typing import TextIO

from .taxonomy import LABELS

FORMATS = ("jsonl", "csv", "html")
HTML_MAX_SHOWN = 500


class JsonlWriter:
    """One JSON object per line, exactly the interface record."""

    def __init__(self, stream: TextIO, labels: list[str]):
        self.stream = stream

    def write(self, record: dict) -> None:
        """Write one record."""
        self.stream.write(json.dumps(record, ensure_ascii=False) + "\n")

    def close(self) -> None:
        """Flush the stream."""
        self.stream.flush()


class CsvWriter:
    """One row per record: id, labels, families, a score column per label, evidence, error."""

    def __init__(self, stream: TextIO, labels: list[str]):
        self.stream = stream
        self.labels = labels
        self.writer = csv.writer(stream)
        self.writer.writerow(["id", "labels", "families", *[f"score_{l}" for l in labels], "evidence", "error"])

    def write(self, record: dict) -> None:
        """Write one record as a row."""
        scores = record.get("scores", {})
        evidence = " | ".join(f"{e['label']}@{e['start']}-{e['end']}: {e['text']}" for e in record.get("evidence", []))
        self.writer.writerow([record["id"], ";".join(record.get("labels", [])), ";".join(record.get("families", [])),
                              *[scores.get(l, "") for l in self.labels], evidence, record.get("error", "")])

    def close(self) -> None:
        """Flush the stream."""
        self.stream.flush()


_STYLE = """body{font-family:system-ui,'Noto Sans CJK SC',sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}
th{background:#f3f3f3}.rec{border:1px solid #ddd;border-radius:6px;padding:.6em 1em;margin:.8em 0}
mark{background:#ffd7d7}.high{color:#b00020;font-weight:bold}.medium{color:#a85d00;font-weight:bold}
.err{color:#777}small{color:#666}"""


class HtmlWriter:
    """A single self-contained page: counts per label, then the top flagged records with evidence."""

    def __init__(self, stream: TextIO, labels: list[str]):
        self.stream = stream
        self.labels = labels
        self.counts: Counter = Counter()
        self.total = self.errors = self.flagged = 0
        self.shown: list[tuple[float, int, dict]] = []

    def write(self, record: dict) -> None:
        """Count one record and keep it if it is among the highest-scoring flagged ones."""
        self.total += 1
        if "error" in record:
            self.errors += 1
            return
        if record["labels"]:
            self.flagged += 1
            self.counts.update(record["labels"])
            top = max(record["scores"][l] for l in record["labels"])
            item = (top, -self.total, record)
            if len(self.shown) < HTML_MAX_SHOWN:
                heapq.heappush(self.shown, item)
            else:
                heapq.heappushpop(self.shown, item)

    def close(self) -> None:
        """Write the page."""
        e = html.escape
        rows = "".join(
            f"<tr><td>{e(l)}</td><td>{e(LABELS[l].family) if l in LABELS else ''}</td>"
            f"<td class='{LABELS[l].severity if l in LABELS else ''}'>{e(LABELS[l].severity) if l in LABELS else ''}</td>"
            f"<td>{self.counts[l]}</td><td>{e(LABELS[l].grounds) if l in LABELS else ''}</td></tr>" for l in self.labels)
        parts = [f"<!DOCTYPE html><html lang='zh'><head><meta charset='utf-8'><title>nlpguard report</title>"
                 f"<style>{_STYLE}</style></head><body><h1>nlpguard scan report</h1>",
                 f"<p>{self.total} records, {self.flagged} flagged, {self.errors} with errors.</p>",
                 "<table><tr><th>label</th><th>family</th><th>severity</th><th>records</th><th>legal grounds</th></tr>",
                 rows, "</table>"]
        shown = sorted(self.shown, reverse=True)
        if shown:
            parts.append(f"<h2>Flagged records (top {len(shown)} by score)</h2>")
        for _, _, record in shown:
            parts.append(f"<div class='rec'><b>{e(record['id'])}</b> — {e(', '.join(record['labels']))}")
            for ev in record["evidence"]:
                grounds = LABELS[ev["label"]].grounds if ev["label"] in LABELS else ""
                parts.append(f"<p><mark>{e(ev['text'])}</mark><br><small>{e(ev['label'])} {ev['score']:.3f} "
                             f"[{ev['start']}:{ev['end']}] — {e(grounds)}</small></p>")
            parts.append("</div>")
        parts.append("</body></html>\n")
        self.stream.write("".join(parts))
        self.stream.flush()


WRITERS = {"jsonl": JsonlWriter, "csv": CsvWriter, "html": HtmlWriter}
