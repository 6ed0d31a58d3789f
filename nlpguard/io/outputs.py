"""Write scan records as JSON Lines, CSV or a self-contained HTML report.

Writers take records one at a time (``write``) and finish with ``close``;
JSON Lines and CSV stream. For messages the HTML report is a compliance team's
batch summary (:mod:`nlpguard.io.summary`: counts per label, family, sender,
campaign and hour, and the top flagged messages); for agreements (``clauses``) it is a
regulator's report: a document × label summary, then every document with its
flagged clauses, label, severity, score and legal grounds. Tables sort by
clicking a column and filter by typing, with no server and no external assets.
"""
from __future__ import annotations

import csv
import html
import json
from collections import Counter
from datetime import timezone, tzinfo
from typing import TextIO

from .inputs import InputRecord
from .summary import BatchSummary
from ..taxonomy import label_info, task_info

HTML_MAX_SHOWN = 500


# The fields of an interface record, in the order Spark's output columns use.
RECORD_FIELDS = ("id", "labels", "families", "scores", "evidence", "error")


def kept_fields(source: InputRecord | None, keep: tuple[str, ...]) -> dict:
    """The input fields named in ``keep`` (None where the input record has no such field)."""
    extra = source.extra if source is not None else {}
    return {name: extra.get(name) for name in keep}


class JsonlWriter:
    """One JSON object per line: the interface record, then the input fields named in ``keep``."""

    needs_clauses = False  # writes the interface record as it is

    def __init__(self, stream: TextIO, labels: list[str], task: str = "messages", keep: tuple[str, ...] = ()):
        self.stream = stream
        self.keep = keep

    def write(self, record: dict, source: InputRecord | None = None) -> None:
        """Write one record (with \\u escapes if it holds lone surrogates that UTF-8 cannot encode)."""
        if self.keep:
            record = record | kept_fields(source, self.keep)
        try:
            self.stream.write(json.dumps(record, ensure_ascii=False) + "\n")
        except UnicodeEncodeError:  # raised before anything reaches the stream
            self.stream.write(json.dumps(record) + "\n")

    def close(self) -> None:
        """Flush the stream."""
        self.stream.flush()


# Cells a spreadsheet would read as a formula (OWASP "CSV injection"): neutralised with a leading '.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class _SafeCsv:
    """A ``csv.writer`` whose text cells never start like a formula."""

    def __init__(self, stream: TextIO):
        self.writer = csv.writer(stream)

    def writerow(self, row: list) -> None:
        """Write ``row``, prefixing ``'`` to every text cell that starts with = + - @ tab or CR."""
        self.writer.writerow(["'" + cell if isinstance(cell, str) and cell.startswith(_FORMULA_START) else cell
                              for cell in row])


SEVERITY_WEIGHT = {"high": 3.0, "medium": 1.0}


def clause_rows(clauses: list[dict]) -> list[dict]:
    """The flagged clauses of a document record's ``clauses`` (see :func:`~nlpguard.runtime.scoring.clause_results`),
    in document order, as report rows: offsets, text, heading, the flagged labels, the highest
    severity among them, and each flagged label's score and grounds."""
    rows = []
    for clause in clauses:
        if not clause["labels"]:
            continue
        severity = ""
        for label in clause["labels"]:  # the first of the most severe labels
            if SEVERITY_WEIGHT.get(label_info(label).severity, 0) > SEVERITY_WEIGHT.get(severity, 0):
                severity = label_info(label).severity
        rows.append({"start": clause["start"], "end": clause["end"], "text": clause["text"], "heading": clause["heading"] or "",
                     "labels": list(clause["labels"]),
                     "severity": severity,
                     "scores": {label: clause["scores"][label] for label in clause["labels"]},
                     "grounds": {label: label_info(label).grounds for label in clause["labels"] if label_info(label).grounds}})
    return rows


class CsvWriter:
    """Messages: one row per record (id, labels, families, a score column per label, evidence, error).

    Clauses: one row per flagged clause (document id, clause offsets, section heading, clause
    text, labels, severity, grounds, a score column per label); a document without flagged
    clauses, or one that could not be read, still gets one row. Text cells that a spreadsheet
    would run as a formula (starting with = + - @, tab or CR) get a leading ``'``.
    """

    def __init__(self, stream: TextIO, labels: list[str], task: str = "messages", keep: tuple[str, ...] = ()):
        self.stream = stream
        self.labels = labels
        self.task = task
        self.keep = keep
        self.writer = _SafeCsv(stream)
        self.documents = self.needs_clauses = task_info(task).documents  # a row per flagged clause
        if self.documents:
            self.writer.writerow(["document", "start", "end", "heading", "clause", "labels", "severity", "grounds",
                                  *[f"score_{l}" for l in labels], "error", *keep])
        else:
            self.writer.writerow(["id", "labels", "families", *[f"score_{l}" for l in labels], "evidence", "error", *keep])

    def _kept_cells(self, source: InputRecord | None) -> list:
        return ["" if v is None else v if isinstance(v, (str, int, float)) else json.dumps(v, ensure_ascii=False)
                for v in kept_fields(source, self.keep).values()]

    def _clause_rows(self, record: dict, kept: list) -> None:
        if "error" in record or not record["labels"]:
            self.writer.writerow([record["id"], "", "", "", "", "", "", "", *[""] * len(self.labels), record.get("error", ""),
                                  *kept])
            return
        for row in clause_rows(record["clauses"]):
            self.writer.writerow([record["id"], row["start"], row["end"], row["heading"], row["text"],
                                  ";".join(row["labels"]), row["severity"], " | ".join(row["grounds"].values()),
                                  *[row["scores"].get(l, "") for l in self.labels], "", *kept])

    def write(self, record: dict, source: InputRecord | None = None) -> None:
        """Write one record as a row (messages) or as its flagged clauses (clauses), kept fields last."""
        kept = self._kept_cells(source)
        if self.documents:
            self._clause_rows(record, kept)
            return
        scores = record.get("scores", {})
        evidence = " | ".join(f"{e['label']}@{e['start']}-{e['end']}: {e['text']}" for e in record.get("evidence", []))
        self.writer.writerow([record["id"], ";".join(record.get("labels", [])), ";".join(record.get("families", [])),
                              *[scores.get(l, "") for l in self.labels], evidence, record.get("error", ""), *kept])

    def close(self) -> None:
        """Flush the stream."""
        self.stream.flush()


_STYLE = """body{font-family:system-ui,'Noto Sans CJK SC',sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}
th{background:#f3f3f3}.rec{border:1px solid #ddd;border-radius:6px;padding:.6em 1em;margin:.8em 0}
mark{background:#ffd7d7}.high{color:#b00020;font-weight:bold}.medium{color:#a85d00;font-weight:bold}
.err{color:#777}small{color:#666}"""


def highlight(text: str, evidence: list[dict]) -> str:
    """``text`` as HTML with each evidence span (offsets into ``text``) in a ``<mark>`` titled by its labels."""
    spans: list[list] = []
    for item in sorted(evidence, key=lambda e: (e["start"], e["end"])):
        if spans and item["start"] < spans[-1][1]:
            spans[-1][1] = max(spans[-1][1], item["end"])
            spans[-1][2].add(item["label"])
        else:
            spans.append([item["start"], item["end"], {item["label"]}])
    parts, position = [], 0
    for start, end, labels in spans:
        parts.append(html.escape(text[position:start]))
        parts.append(f"<mark title='{html.escape(', '.join(sorted(labels)))}'>{html.escape(text[start:end])}</mark>")
        position = end
    parts.append(html.escape(text[position:]))
    return "".join(parts)


def _bars(periods: list[tuple[str, dict]]) -> str:
    """An inline SVG bar chart of flagged records per period (no external assets)."""
    if not periods:
        return ""
    width, height = max(len(periods) * 14, 320), 120
    peak = max(counts["flagged"] for _, counts in periods) or 1
    bars = "".join(
        f"<rect x='{i * 14}' y='{height - 100 * c['flagged'] / peak:.1f}' width='11' height='{100 * c['flagged'] / peak:.1f}' "
        f"fill='#c62828'><title>{html.escape(p)}: {c['flagged']} flagged of {c['records']}</title></rect>"
        for i, (p, c) in enumerate(periods))
    axis = (f"<text x='0' y='{height + 16}' font-size='11'>{html.escape(periods[0][0])}</text>"
            f"<text x='{width}' y='{height + 16}' font-size='11' text-anchor='end'>{html.escape(periods[-1][0])}</text>"
            f"<text x='0' y='10' font-size='11'>{peak} flagged</text>")
    return (f"<svg width='{width}' height='{height + 20}' role='img' aria-label='flagged records per period'>"
            f"<line x1='0' y1='{height}' x2='{width}' y2='{height}' stroke='#999'/>{bars}{axis}</svg>")


class HtmlWriter:
    """The message-batch report: counts per label and family, per sender and campaign, over time,
    and the top flagged messages with their evidence highlighted in the full text."""

    needs_clauses = False

    def __init__(self, stream: TextIO, labels: list[str], task: str = "messages", zone: tzinfo = timezone.utc):
        self.stream = stream
        self.labels = labels
        self.summary = BatchSummary(labels, task, top=HTML_MAX_SHOWN, zone=zone)

    def write(self, record: dict, source: InputRecord | None = None) -> None:
        """Count one record and keep it if it is among the highest-scoring flagged ones."""
        self.summary.add(record, source.fields if source else None, source.text if source else None)

    def _groups(self, title: str, groups: dict[str, dict], limit: int = 200, by_flagged: bool = True) -> str:
        if not groups:
            return ""
        e = html.escape
        shown = sorted(groups.items(), key=lambda kv: (-kv[1]["flagged"], kv[0]) if by_flagged else kv[0])[:limit]
        head = "".join(f"<th onclick='sortBy(this)'>{e(l)}</th>" for l in self.labels)
        rows = "".join(
            f"<tr data-filter><td>{e(name)}</td><td data-v='{g['records']}'>{g['records']}</td>"
            f"<td data-v='{g['flagged']}'>{g['flagged']}</td><td data-v='{g['flagged_rate']}'>{g['flagged_rate']:.2%}</td>"
            + "".join(f"<td data-v='{g['labels'].get(l, 0)}' class='{'hit' if g['labels'].get(l) else ''}'>"
                      f"{g['labels'].get(l, '') or ''}</td>" for l in self.labels) + "</tr>"
            for name, g in shown)
        more = f"<p><small>{len(groups) - limit} more in the JSON summary (--summary).</small></p>" if len(groups) > limit else ""
        return (f"<h2>By {e(title)}</h2><table><thead><tr><th onclick='sortBy(this)'>{e(title)}</th>"
                f"<th onclick='sortBy(this)'>records</th><th onclick='sortBy(this)'>flagged</th>"
                f"<th onclick='sortBy(this)'>rate</th>{head}</tr></thead><tbody>{rows}</tbody></table>{more}")

    def close(self) -> None:
        """Write the page."""
        e = html.escape
        data = self.summary.to_dict()
        rows = "".join(
            f"<tr><td>{e(l)}</td><td>{e(label_info(l).family)}</td>"
            f"<td class='{label_info(l).severity}'>{e(label_info(l).severity)}</td>"
            f"<td data-v='{data['labels'][l]['records']}'>{data['labels'][l]['records']}</td>"
            f"<td>{data['labels'][l]['records'] / max(data['scanned'], 1):.2%}</td>"
            f"<td>{e(label_info(l).grounds)}</td></tr>" for l in self.labels)
        families = ", ".join(f"{e(f)} {n}" for f, n in sorted(data["families"].items())) or "none"
        parts = [f"<!DOCTYPE html><html lang='zh'><head><meta charset='utf-8'><title>nlpguard message report</title>"
                 f"<style>{_STYLE} th{{cursor:pointer}} td.hit{{background:#ffe3e3}} input{{padding:4px;width:22em}}</style>"
                 f"<script>{_SCRIPT}</script></head><body><h1>nlpguard message batch report</h1>",
                 f"<p>{data['records']} records, {data['flagged']} flagged ({data['flagged_rate']:.2%} of scanned), "
                 f"{data['errors']} with errors. Families: {families}. Click a column to sort; type to filter.</p>",
                 "<p><input id='q' placeholder='filter senders, campaigns and messages' oninput='filterAll(this.value)'></p>",
                 "<h2>Labels</h2><table><thead><tr><th onclick='sortBy(this)'>label</th><th>family</th>"
                 "<th onclick='sortBy(this)'>severity</th><th onclick='sortBy(this)'>records</th>"
                 "<th>share of scanned</th><th>legal grounds</th></tr></thead><tbody>", rows, "</tbody></table>"]
        timeline = data["timeline"]
        if timeline["periods"]:
            periods = [(p["period"], p) for p in timeline["periods"]]
            parts.append(f"<h2>Flagged per {e(timeline['unit'])} ({e(timeline['timezone'])})</h2>{_bars(periods)}")
            parts.append(self._groups(timeline["unit"], {p: counts for p, counts in periods}, len(periods), by_flagged=False))
            if timeline["unreadable_timestamps"]:
                parts.append(f"<p><small>{timeline['unreadable_timestamps']} unreadable timestamps not counted.</small></p>")
        parts.append(self._groups("sender", data["by_sender"]))
        parts.append(self._groups("campaign", data["by_campaign"]))
        examples = self.summary.top_examples()
        if examples:
            parts.append(f"<h2>Flagged messages (top {len(examples)} by score)</h2>")
        for record in examples:
            meta = " · ".join(e(f"{k} {record[k]}") for k in ("sender", "campaign", "timestamp") if k in record)
            tags = " ".join(f"<span class='{label_info(l).severity}'>{e(l)} {record['scores'][l]:.3f}</span>"
                            for l in record["labels"])
            body = highlight(record["text"], record["evidence"]) if record.get("text") is not None else ""
            grounds = sorted({ev["grounds"] for ev in record["evidence"] if ev.get("grounds")})
            parts.append(f"<div class='rec' data-filter><b>{e(record['id'])}</b> — {tags}<br><small>{meta}</small>"
                         f"<p>{body}</p><small>{e(' | '.join(grounds))}</small></div>")
        parts.append("</body></html>\n")
        self.stream.write("".join(parts))
        self.stream.flush()


_SCRIPT = """function sortBy(th){const t=th.closest('table'),i=[...th.parentNode.children].indexOf(th),
b=t.tBodies[0],r=[...b.rows],d=th.dataset.dir==='asc'?-1:1;th.dataset.dir=d===1?'asc':'desc';
r.sort((x,y)=>{const a=x.cells[i].dataset.v??x.cells[i].textContent,c=y.cells[i].dataset.v??y.cells[i].textContent;
const n=parseFloat(a)-parseFloat(c);return(isNaN(n)?a.localeCompare(c,'zh'):n)*d});r.forEach(x=>b.appendChild(x))}
function filterAll(q){q=q.toLowerCase();document.querySelectorAll('[data-filter]').forEach(e=>{
e.style.display=e.textContent.toLowerCase().includes(q)?'':'none'})}"""


def severity_score(evidence: list[dict]) -> float:
    """How much a document needs reading: per flagged (clause, label), its score weighted 3 for a
    high-severity label and 1 for a medium one, summed."""
    return round(sum(SEVERITY_WEIGHT.get(item.get("severity", ""), 1.0) * item["score"] for item in evidence), 2)


class DocumentHtmlWriter:
    """The agreements report: documents ranked by severity score in a summary table, then each
    document's flagged clauses, one row per clause with all its labels."""

    needs_clauses = True  # records scanned with their clauses (Guard.pipe(..., clauses=True))

    def __init__(self, stream: TextIO, labels: list[str], task: str = "clauses"):
        self.stream = stream
        self.labels = labels
        self.documents: list[dict] = []

    def write(self, record: dict, source: InputRecord | None = None) -> None:
        """Keep the document's id, labels, evidence, flagged clauses and error (not its text)."""
        document = {k: record[k] for k in ("id", "labels", "evidence", "error") if k in record}
        document["rows"] = clause_rows(record["clauses"]) if "error" not in record else []
        document["severity_score"] = severity_score(record.get("evidence", []))
        self.documents.append(document)

    def _ranked(self) -> list[tuple[int, dict]]:
        """(anchor index, document), most severe first; unreadable documents last."""
        return sorted(enumerate(self.documents), key=lambda pair: ("error" in pair[1], -pair[1]["severity_score"], pair[0]))

    def _summary(self, ranked: list[tuple[int, dict]]) -> str:
        e = html.escape
        head = "".join(f"<th onclick='sortBy(this)' title='{e(label_info(l).definition)}'>{e(l)}</th>"
                       for l in self.labels)
        rows = []
        for index, doc in ranked:
            counts = Counter(item["label"] for item in doc.get("evidence", []))
            high = sum(1 for item in doc.get("evidence", []) if item.get("severity") == "high")
            cells = "".join(f"<td data-v='{counts[l]}' class='{'hit' if counts[l] else ''}'>{counts[l] or ''}</td>" for l in self.labels)
            status = (e(doc["error"]) if "error" in doc else f"{len(doc['labels'])} label(s)" if doc["labels"]
                      else "nothing flagged")
            rows.append(f"<tr data-filter><td><a href='#doc-{index}'>{e(doc['id'])}</a></td>"
                        f"<td data-v='{doc['severity_score']}'>{doc['severity_score']:g}</td><td data-v='{high}'>{high}</td>"
                        f"{cells}<td>{status}</td></tr>")
        return (f"<div class='scroll'><table id='summary'><thead><tr><th onclick='sortBy(this)'>document</th>"
                f"<th onclick='sortBy(this)' title='per flagged clause and label: its score, weighted 3 when the label "
                f"is high-severity'>severity score</th><th onclick='sortBy(this)'>high-severity clauses</th>{head}"
                f"<th onclick='sortBy(this)'>status</th></tr></thead><tbody>{''.join(rows)}</tbody></table></div>")

    def close(self) -> None:
        """Write the page."""
        e = html.escape
        flagged = sum(1 for d in self.documents if d.get("labels"))
        errors = sum(1 for d in self.documents if "error" in d)
        ranked = self._ranked()
        parts = [f"<!DOCTYPE html><html lang='zh'><head><meta charset='utf-8'>"
                 f"<meta name='viewport' content='width=device-width, initial-scale=1'><title>nlpguard agreements report</title>"
                 f"<style>{_STYLE} th{{cursor:pointer}} td.hit{{background:#ffe3e3}} input{{padding:4px;width:22em;max-width:90%}}"
                 f" .scroll{{overflow-x:auto;max-width:100%}} td{{overflow-wrap:anywhere}}</style>"
                 f"<script>{_SCRIPT}</script></head><body><h1>nlpguard agreements report</h1>",
                 f"<p>{len(self.documents)} documents, {flagged} with flagged clauses, {errors} unreadable; "
                 f"{len(self.documents) - flagged - errors} with nothing flagged. Documents are ranked by severity score. "
                 f"Click a column to sort; type to filter.</p>",
                 "<p><input id='q' placeholder='filter documents and clauses' oninput='filterAll(this.value)'></p>",
                 self._summary(ranked)]
        for index, doc in ranked:
            parts.append(f"<section id='doc-{index}' data-filter><h2>{e(doc['id'])}</h2>")
            if "error" in doc:
                parts.append(f"<p class='err'>{e(doc['error'])}</p></section>")
                continue
            if not doc["rows"]:
                parts.append("<p>Nothing flagged: no clause reached a label's threshold.</p></section>")
                continue
            parts.append("<div class='scroll'><table><thead><tr><th onclick='sortBy(this)'>position</th><th>clause</th>"
                         "<th onclick='sortBy(this)'>labels</th><th onclick='sortBy(this)'>severity</th>"
                         "<th onclick='sortBy(this)'>score</th><th>legal grounds</th></tr></thead><tbody>")
            for row in doc["rows"]:
                section = f"<br><small>{e(row['heading'])}</small>" if row["heading"] else ""
                parts.append(f"<tr data-filter><td data-v='{row['start']}'>{row['start']}–{row['end']}</td>"
                             f"<td><mark>{e(row['text'])}</mark>{section}</td><td>{e(', '.join(row['labels']))}</td>"
                             f"<td class='{row['severity']}'>{e(row['severity'])}</td>"
                             f"<td data-v='{max(row['scores'].values())}'>{max(row['scores'].values()):.3f}</td>"
                             f"<td>{e(' | '.join(f'{l}: {g}' for l, g in row['grounds'].items()))}</td></tr>")
            parts.append("</tbody></table></div></section>")
        parts.append("</body></html>\n")
        self.stream.write("".join(parts))
        self.stream.flush()


FORMATS = ("jsonl", "csv", "html")


def make_writer(fmt: str, stream: TextIO, labels: list[str], task: str, keep: tuple[str, ...] = (),
                zone: tzinfo = timezone.utc):
    """The writer for an output format and task; JSONL and CSV carry the input fields named in ``keep``;
    the messages report reads timestamps without a zone in ``zone`` and shows hours there."""
    if fmt == "html":
        return DocumentHtmlWriter(stream, labels, task) if task_info(task).documents else HtmlWriter(stream, labels, task, zone)
    return {"jsonl": JsonlWriter, "csv": CsvWriter}[fmt](stream, labels, task, keep)
