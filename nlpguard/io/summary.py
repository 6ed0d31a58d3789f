"""Batch summary of a scan for compliance teams: counts that stream, in constant memory per group.

:class:`BatchSummary` takes output records one at a time (with the input
record's ``sender``, ``campaign`` and ``timestamp`` fields when present) and
keeps counts per label and family, per sender and per campaign, per hour of
the timestamps, and the highest-scoring flagged records. ``to_dict`` is the
JSON summary (``nlpguard scan --summary FILE``); the HTML report of a message
batch renders the same figures.
"""
from __future__ import annotations

import heapq
from collections import Counter, defaultdict
from datetime import datetime, timezone, tzinfo

from ..taxonomy import LABELS

TOP_EXAMPLES = 200


def parse_timestamp(value: str, zone: tzinfo = timezone.utc) -> datetime | None:
    """An ISO 8601 date/time (``2026-11-25T09:30:00+08:00``, ``2026-11-25 09:30``) or Unix seconds
    or milliseconds, as an aware datetime (times without a zone are taken in ``zone``, UTC by
    default); None when unreadable."""
    text = value.strip()
    try:
        number = float(text)
    except ValueError:
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return None
        return moment if moment.tzinfo else moment.replace(tzinfo=zone)
    if number > 1e11:  # milliseconds
        number /= 1000
    try:
        return datetime.fromtimestamp(number, tz=timezone.utc)
    except (OverflowError, OSError, ValueError):
        return None


class _Group:
    __slots__ = ("records", "flagged", "labels")

    def __init__(self) -> None:
        self.records = 0
        self.flagged = 0
        self.labels: Counter = Counter()

    def add(self, labels: list[str]) -> None:
        self.records += 1
        self.flagged += bool(labels)
        self.labels.update(labels)

    def to_dict(self) -> dict:
        return {"records": self.records, "flagged": self.flagged,
                "flagged_rate": round(self.flagged / self.records, 6) if self.records else 0.0,
                "labels": dict(self.labels)}


class BatchSummary:
    """Streaming counts of a batch scan; see the module docstring."""

    def __init__(self, labels: list[str], task: str = "messages", top: int = TOP_EXAMPLES,
                 zone: tzinfo = timezone.utc):
        self.zone = zone
        self.labels = list(labels)
        self.task = task
        self.top = top
        self.total = _Group()
        self.errors = 0
        self.families: Counter = Counter()
        self.groups: dict[str, dict[str, _Group]] = {"sender": defaultdict(_Group), "campaign": defaultdict(_Group)}
        self.hours: dict[str, _Group] = defaultdict(_Group)
        self.unreadable_timestamps = 0
        self.examples: list[tuple[float, int, dict]] = []

    def add(self, record: dict, fields: dict[str, str] | None = None, text: str | None = None) -> None:
        """Count one output record; ``fields`` are its input's sender/campaign/timestamp, ``text`` its input text."""
        fields = fields or {}
        if "error" in record:
            self.errors += 1
            return
        labels = record["labels"]
        self.total.add(labels)
        self.families.update(record["families"])
        for name, groups in self.groups.items():
            if name in fields:
                groups[fields[name]].add(labels)
        if "timestamp" in fields:
            moment = parse_timestamp(fields["timestamp"], self.zone)
            if moment is None:
                self.unreadable_timestamps += 1
            else:
                hour = moment.astimezone(self.zone).replace(minute=0, second=0, microsecond=0)
                key = hour.strftime("%Y-%m-%dT%H:00Z") if self.zone is timezone.utc else hour.isoformat(timespec="minutes")
                self.hours[key].add(labels)
        if labels:
            item = (max(record["scores"][label] for label in labels), -self.total.records,
                    {**record, "text": text, **{k: v for k, v in fields.items()}})
            if len(self.examples) < self.top:
                heapq.heappush(self.examples, item)
            else:
                heapq.heappushpop(self.examples, item)

    def timeline(self) -> tuple[str, list[tuple[str, dict]]]:
        """``(unit, [(period, counts)])``: hours when the batch spans at most three days, else days."""
        hours = sorted(self.hours.items())
        if not hours or (datetime.fromisoformat(hours[-1][0].replace("Z", "+00:00"))
                         - datetime.fromisoformat(hours[0][0].replace("Z", "+00:00"))).days < 3:
            return "hour", [(hour, group.to_dict()) for hour, group in hours]
        days: dict[str, _Group] = defaultdict(_Group)
        for hour, group in hours:
            day = days[hour[:10]]
            day.records += group.records
            day.flagged += group.flagged
            day.labels.update(group.labels)
        return "day", [(day, group.to_dict()) for day, group in sorted(days.items())]

    def top_examples(self) -> list[dict]:
        """The highest-scoring flagged records (with their text and fields), best first."""
        return [record for _, _, record in sorted(self.examples, key=lambda item: (item[0], item[1]), reverse=True)]

    def to_dict(self) -> dict:
        """The JSON summary."""
        unit, periods = self.timeline()
        return {
            "task": self.task,
            "records": self.total.records + self.errors, "scanned": self.total.records,
            "flagged": self.total.flagged, "errors": self.errors,
            "flagged_rate": self.total.to_dict()["flagged_rate"],
            "labels": {label: {"records": self.total.labels[label],
                               "family": LABELS[label].family if label in LABELS else None,
                               "severity": LABELS[label].severity if label in LABELS else None}
                       for label in self.labels},
            "families": dict(self.families),
            "by_sender": {k: g.to_dict() for k, g in sorted(self.groups["sender"].items())},
            "by_campaign": {k: g.to_dict() for k, g in sorted(self.groups["campaign"].items())},
            "timeline": {"unit": unit, "timezone": str(self.zone), "periods": [{"period": p, **counts} for p, counts in periods],
                         "unreadable_timestamps": self.unreadable_timestamps},
            "top_flagged": [{k: r[k] for k in ("id", "labels", "scores", "evidence", "sender", "campaign", "timestamp")
                             if k in r} for r in self.top_examples()],
        }
