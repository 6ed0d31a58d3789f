"""``nlpguard scan --resume``: continue an interrupted JSON Lines scan in the same output file.

The output of a scan holds one line per input record, in input order, so the
number of complete lines says how far the last run got. Resuming cuts off a
line the interrupted run left half-written, checks that the records already
written carry the ids of the first input records (the same input, in the same
order), and appends the rest: no record is written twice or skipped.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

from .errors import NlpguardError
from .inputs import InputRecord


class ResumeError(NlpguardError):
    """The output file cannot be continued with this input."""


def complete_lines(path: Path) -> int:
    """Cut a trailing partial line off ``path`` and return its number of complete lines (0 when absent)."""
    if not path.exists():
        return 0
    count = 0
    keep = 0
    with open(path, "rb") as handle:
        for line in handle:
            if not line.endswith(b"\n"):
                break
            count += 1
            keep += len(line)
    if keep != path.stat().st_size:
        with open(path, "r+b") as handle:
            handle.truncate(keep)
    return count


def skip_written(records: Iterator[InputRecord], path: Path, done: int) -> int:
    """Consume the first ``done`` input records, checking each against ``path``'s line of the same number.

    Returns how many of those lines are error records (for the exit code).

    Raises:
        ResumeError: the output has more lines than the input has records, or a line's id is
            not the id of the input record at its position.
    """
    errors = 0
    with open(path, encoding="utf-8") as written:
        for number, line in enumerate(written, start=1):
            if number > done:
                break
            record = next(records, None)
            try:
                output = json.loads(line)
            except json.JSONDecodeError:
                raise ResumeError(f"{path}:{number} is not JSON: not an output of nlpguard scan --format jsonl") from None
            if record is None:
                raise ResumeError(f"{path} has {done} records but the input has only {number - 1}: not the same input")
            if output.get("id") != record.id:
                raise ResumeError(f"{path}:{number} has id {output.get('id')!r} but input record {number} is "
                                  f"{record.id!r}: not the same input, or not in the same order")
            errors += "error" in output
    return errors
