"""Reviewers' corrections: stored in SQLite under ``serve --data-dir``, exported as training data.

Each correction is one row: the task, the record (its id and text; for a clause also the
document and the clause's character span in it), the model and its version that made the
flags, the labels before and after review, a comment, the reviewer and the time (UTC, ISO
8601). Rows are only ever added, each in its own ``BEGIN IMMEDIATE`` transaction of a fresh
connection, in WAL mode with a busy timeout, so concurrent reviewers (threads or processes)
never lose a correction; ``id`` grows in commit order.

:func:`export` turns the rows into the data format (:mod:`nlpguard.training.data`): one line per
reviewed record and reviewer, ``{"id", "text", "labels", "source": "review", "reviewer", ...}``,
which ``nlpguard train --data`` reads beside a corpus, the reviewed labels overriding the
corpus's (see :func:`nlpguard.training.data.apply_reviews`).
"""
from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from ..training.data import REVIEW_SOURCE
from ..errors import NlpguardError

DATABASE = "feedback.sqlite3"
_SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS feedback (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    task          TEXT NOT NULL,
    record_id     TEXT NOT NULL,
    text          TEXT NOT NULL,
    document      TEXT,
    span_start    INTEGER,
    span_end      INTEGER,
    model         TEXT NOT NULL,
    model_version TEXT NOT NULL,
    labels_before TEXT NOT NULL,
    labels_after  TEXT NOT NULL,
    comment       TEXT NOT NULL,
    reviewer      TEXT NOT NULL,
    created_at    TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS feedback_record ON feedback (task, record_id, reviewer);
"""


@dataclass
class Correction:
    """One reviewer's verdict on one record (a message, or a clause of ``document`` at ``start``..``end``)."""

    task: str
    record_id: str
    text: str
    model: str
    model_version: str
    labels_before: list[str]
    labels_after: list[str]
    reviewer: str
    comment: str = ""
    document: str | None = None
    start: int | None = None
    end: int | None = None


class FeedbackStore:
    """The corrections database ``DATA_DIR/feedback.sqlite3`` (created, with its folder, on first use)."""

    def __init__(self, data_dir: str | Path, create: bool = True):
        self.path = Path(data_dir) / DATABASE
        if not create and not self.path.is_file():
            raise NlpguardError(f"{data_dir} holds no {DATABASE}: no corrections have been stored there "
                                "(nlpguard serve --data-dir DIR stores them)")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with closing(self._connect()) as connection:
                connection.execute("PRAGMA journal_mode=WAL")
                version = connection.execute("PRAGMA user_version").fetchone()[0]
                if version > _SCHEMA_VERSION:
                    raise NlpguardError(f"{self.path} was written by a newer nlpguard (schema {version})")
                connection.executescript(_SCHEMA)
                connection.execute(f"PRAGMA user_version={_SCHEMA_VERSION}")
        except (OSError, sqlite3.Error) as exc:
            raise NlpguardError(f"cannot open the feedback database {self.path}: {exc}") from exc

    def _connect(self) -> sqlite3.Connection:
        """A new connection (one per operation: safe from any thread) that waits up to 30 s for a lock."""
        connection = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        connection.execute("PRAGMA busy_timeout=30000")
        return connection

    def add(self, correction: Correction) -> tuple[int, str]:
        """Store ``correction`` in its own transaction; return its row id and ``created_at``."""
        created_at = datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        row = (correction.task, correction.record_id, correction.text, correction.document, correction.start,
               correction.end, correction.model, correction.model_version,
               json.dumps(correction.labels_before, ensure_ascii=False),
               json.dumps(correction.labels_after, ensure_ascii=False), correction.comment, correction.reviewer,
               created_at)
        with closing(self._connect()) as connection:
            connection.execute("BEGIN IMMEDIATE")
            try:
                cursor = connection.execute(
                    "INSERT INTO feedback (task, record_id, text, document, span_start, span_end, model, model_version,"
                    " labels_before, labels_after, comment, reviewer, created_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", row)
                connection.execute("COMMIT")
            except BaseException:
                connection.execute("ROLLBACK")
                raise
        return cursor.lastrowid, created_at

    def count(self) -> int:
        """How many corrections are stored (every row, superseded ones included)."""
        with closing(self._connect()) as connection:
            return connection.execute("SELECT COUNT(*) FROM feedback").fetchone()[0]

    def tasks(self) -> list[str]:
        """The tasks that have corrections, sorted."""
        with closing(self._connect()) as connection:
            return [row[0] for row in connection.execute("SELECT DISTINCT task FROM feedback ORDER BY task")]

    def latest(self, task: str) -> list[dict]:
        """The current corrections of ``task`` as training records, oldest first.

        A record is identified by its id and text (a clause's id names its document and span),
        so one id re-used with another text is another record. Of the rows of one record by one
        reviewer only the last stored counts: a later correction supersedes an earlier one.
        Different reviewers' verdicts on the same record are all kept, one line each (training
        keeps the latest of them; see :func:`nlpguard.training.data.apply_reviews`).
        """
        query = ("SELECT * FROM feedback WHERE id IN (SELECT MAX(id) FROM feedback WHERE task = ?"
                 " GROUP BY record_id, text, reviewer) ORDER BY id")
        with closing(self._connect()) as connection:
            connection.row_factory = sqlite3.Row
            rows = connection.execute(query, (task,)).fetchall()
        return [_training_record(row) for row in rows]


def _training_record(row: sqlite3.Row) -> dict:
    """A stored correction as a line of the data format, provenance in the optional fields."""
    record = {"id": f"review-{row['id']}", "text": row["text"], "labels": json.loads(row["labels_after"]),
              "source": REVIEW_SOURCE, "reviewer": row["reviewer"], "reviewed_at": row["created_at"],
              "record": row["record_id"], "labels_before": json.loads(row["labels_before"]),
              "model": row["model"], "model_version": row["model_version"]}
    if row["document"] is not None:
        record |= {"document": row["document"], "start": row["span_start"], "end": row["span_end"]}
    if row["comment"]:
        record["comment"] = row["comment"]
    return record


def export(data_dir: str | Path, output: str | Path, task: str | None = None) -> tuple[int, int]:
    """Write the current corrections of ``task`` in ``data_dir`` to ``output`` as training JSON Lines.

    ``task`` may be left out when the store holds one task only. Returns the lines written and
    the rows stored in all (superseded corrections and other tasks included). The file is
    written through a partial file and renamed, so it is never half-written.

    Raises:
        NlpguardError: no database in ``data_dir``, or ``task`` missing while the store holds two.
    """
    from ..io.output_files import write_text_atomically

    store = FeedbackStore(data_dir, create=False)
    tasks = store.tasks()
    if task is None:
        if len(tasks) > 1:
            raise NlpguardError(f"{store.path} holds corrections of {' and '.join(tasks)}: choose one with --task")
        task = tasks[0] if tasks else None
    records = store.latest(task) if task else []
    write_text_atomically(Path(output), "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    return len(records), store.count()
