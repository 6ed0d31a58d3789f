"""``nlpguard scan --resume``: continue an interrupted JSON Lines scan in the same output file.

The output of a scan holds one line per input record, in input order, so the
number of complete lines says how far the last run got. Resuming cuts off a
line the interrupted run left half-written, checks that the records already
written carry the ids of the first input records (the same input, in the same
order), and appends the rest: no record is written twice or skipped.

Ids alone cannot tell an input whose texts changed (or an id-less input whose lines
changed), so a scan with ``--output`` also writes a fingerprint of its input files — size
and SHA-256 of the first and last MiB of each — beside the partial output
(``OUTPUT.partial.input.json``), and ``--resume`` refuses an input whose fingerprint differs.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Iterator

from ..errors import NlpguardError
from .inputs import InputRecord


class ResumeError(NlpguardError):
    """The output file cannot be continued with this input."""


def skip_written(records: Iterator[InputRecord], path: Path) -> tuple[int, int]:
    """Consume the input records ``path`` already holds, checking each complete line's id against the
    input record of the same number, and cut off a trailing half-written line.

    Returns ``(written, errors)``: how many records the file holds (0 when it does not exist)
    and how many of them are error records (for the exit code).

    Raises:
        ResumeError: the output has more lines than the input has records, a line is not JSON,
            or a line's id is not the id of the input record at its position.
    """
    if not path.exists():
        return 0, 0
    written = errors = complete = 0
    with open(path, "rb") as handle:
        for line in handle:
            if not line.endswith(b"\n"):
                break  # half-written by the interrupted run
            written += 1
            record = next(records, None)
            try:
                output = json.loads(line)
            except json.JSONDecodeError:
                raise ResumeError(f"{path}:{written} is not JSON: not an output of nlpguard scan --format jsonl") from None
            if record is None:
                raise ResumeError(f"{path} holds more records than the input's {written - 1}: not the same input")
            if output.get("id") != record.id:
                raise ResumeError(f"{path}:{written} has id {output.get('id')!r} but input record {written} is "
                                  f"{record.id!r}: not the same input, or not in the same order")
            errors += "error" in output
            complete += len(line)
    if complete != path.stat().st_size:
        with open(path, "r+b") as handle:
            handle.truncate(complete)
    return written, errors


_SAMPLE = 1 << 20  # bytes hashed at each end of an input file


def fingerprint_path(partial: Path) -> Path:
    """Where the input fingerprint of a scan writing ``partial`` is kept."""
    return partial.with_name(partial.name + ".input.json")


def input_fingerprint(paths: list[str]) -> list[dict]:
    """Size and SHA-256 of the first and last MiB of each input file (``-`` for standard input: none)."""
    prints = []
    for name in paths:
        if name == "-":
            prints.append({"path": "-"})
            continue
        with open(name, "rb") as handle:
            head = handle.read(_SAMPLE)
            size = handle.seek(0, 2)
            handle.seek(max(0, size - _SAMPLE))
            tail = handle.read(_SAMPLE)
        prints.append({"path": str(name), "bytes": size, "head_sha256": hashlib.sha256(head).hexdigest(),
                       "tail_sha256": hashlib.sha256(tail).hexdigest()})
    return prints


def check_fingerprint(partial: Path, paths: list[str]) -> None:
    """Raise ResumeError when the inputs differ from those the interrupted run recorded."""
    stored = fingerprint_path(partial)
    if not stored.is_file():
        return
    try:
        before = json.loads(stored.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ResumeError(f"{stored} is unreadable ({exc}): cannot tell whether the input changed") from None
    now = input_fingerprint(paths)
    if before != now:
        changed = [b.get("path") for b, n in zip(before, now) if b != n] or ["the list of inputs"]
        raise ResumeError(f"the input changed since the interrupted run ({', '.join(changed)}): "
                          f"resuming would mix two inputs in one output; scan again without --resume")
