"""Read ``nlpguard scan`` inputs as a stream of records, one per input record.

Every record of the input yields exactly one :class:`InputRecord`, in order:
a record that cannot be scanned carries ``error`` instead of ``text``. Blank
lines of line-based inputs are not records. Nothing is read ahead beyond one
line, so memory stays constant on inputs of any length.
"""
from __future__ import annotations

import codecs
import contextlib
import csv
import io
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterator

import orjson

from ..errors import DocumentError
from .documents import DOCUMENT_SUFFIXES, document_text, read_document
from ..taxonomy import task_info

LINE_FORMATS = ("jsonl", "csv", "txt")
_SURROGATE = re.compile("[\ud800-\udfff]")


SUMMARY_FIELDS = ("sender", "campaign", "timestamp")
MAX_RECORD_CHARS = 200_000      # characters of one message or clause record (--max-chars)
MAX_DOCUMENT_CHARS = 5_000_000  # characters of text of one agreement document (--max-document-chars)


@dataclass
class InputRecord:
    """One input record: its id and text, or its id and what is wrong with it.

    ``fields`` keeps the record's ``sender``, ``campaign`` and ``timestamp`` when
    present (as strings), for batch summaries; ``extra`` every field of a JSON object or CSV
    row but ``id`` and ``text``, as given (for ``--keep``); scanning ignores both.
    """

    id: str
    text: str | None = None
    error: str | None = None
    fields: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_mapping(cls, mapping: dict, default_id: str) -> "InputRecord":
        """The record of a JSON object or CSV row: ``id`` (else ``default_id``), checked ``text``, summary fields."""
        raw_id = mapping.get("id")
        rid = record_id(raw_id, default_id)
        fields = {k: str(mapping[k]) for k in SUMMARY_FIELDS if mapping.get(k) not in (None, "")}
        extra = {k: v for k, v in mapping.items() if k not in ("id", "text")}
        if isinstance(raw_id, (dict, list, bool)):
            return cls(default_id, error=f"'id' must be a string or a number, got {type(raw_id).__name__}",
                       fields=fields, extra=extra)
        problem = text_problem(mapping.get("text"))
        if problem:
            return cls(rid, error=problem, fields=fields, extra=extra)
        return cls(rid, mapping["text"], fields=fields, extra=extra)


def file_suffixes(task: str) -> tuple[str, ...]:
    """File kinds ``task`` reads besides JSONL and CSV: documents for a document task, else ``.txt``
    (one message per line)."""
    return DOCUMENT_SUFFIXES if task_info(task).documents else (".txt",)


def input_format(path: str, task: str, declared: str | None = None) -> str:
    """How ``path`` is read: ``jsonl``, ``csv``, ``txt`` (lines) or ``document``.

    Standard input (``-``) is JSON Lines unless ``declared`` says otherwise.

    Raises:
        ValueError: the suffix is not supported for ``task``.
    """
    if declared:
        return declared
    if path == "-":
        return "jsonl"
    suffix = Path(path).suffix.lower()
    if suffix == ".jsonl":
        return "jsonl"
    if suffix == ".csv":
        return "csv"
    if suffix in file_suffixes(task):
        return "document" if task_info(task).documents else "txt"
    supported = " ".join((".jsonl", ".csv", *file_suffixes(task)))
    raise ValueError(f"{path}: unsupported input type {suffix or '(none)'} for --task {task}; supported: {supported}")


def text_problem(value: object) -> str | None:
    """The problem with a record's ``text`` value, or None when usable."""
    if value is None:
        return "missing 'text'"
    if not isinstance(value, str):
        return f"'text' is {type(value).__name__}, not a string"
    if not value.strip():
        return "empty 'text'"
    if _SURROGATE.search(value):
        return "'text' holds undecodable bytes or lone surrogates (not valid UTF-8)"
    return None


def over_limit(record: InputRecord, max_chars: int | None, what: str = "text") -> InputRecord:
    """``record``, or an error record in its place when its text is longer than ``max_chars``."""
    if max_chars is None or record.text is None or len(record.text) <= max_chars:
        return record
    return InputRecord(record.id, error=f"{what} has {len(record.text):,} characters, over the limit of {max_chars:,} "
                                        "(raise it with --max-chars)", fields=record.fields, extra=record.extra)


def record_id(value: object, default: str) -> str:
    """A record's id as a string: ``value`` unless missing or empty, else ``default``."""
    return default if value is None or value == "" else str(value)


def check_encoding(encoding: str) -> str:
    """The codec name for line inputs; ValueError for an unknown codec or one whose lines are not byte lines."""
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        raise ValueError(f"unknown encoding {encoding!r}") from None
    if name.startswith(("utf-16", "utf-32")):
        raise ValueError(f"encoding {encoding!r} is not supported for line inputs: convert the file to UTF-8")
    return name


def _decode_line(raw: bytes, first: bool, encoding: str = "utf-8") -> tuple[str | None, str | None]:
    if encoding != "utf-8":
        try:
            return raw.decode(encoding).rstrip("\r\n"), None
        except UnicodeDecodeError as exc:
            return None, f"not valid {encoding} (byte 0x{raw[exc.start]:02x} at position {exc.start})"
    try:
        return raw.decode("utf-8-sig" if first else "utf-8").rstrip("\r\n"), None
    except UnicodeDecodeError as exc:
        problem = f"not valid UTF-8 (byte 0x{raw[exc.start]:02x} at position {exc.start})"
    try:
        raw.decode("gb18030")
        problem += "; it reads as GBK/GB18030: pass --encoding gb18030"
    except UnicodeDecodeError:
        pass
    return None, problem


def parse_jsonl_line(raw: bytes, first: bool = False, encoding: str = "utf-8") -> tuple[dict | None, str | None]:
    """Parse one JSON Lines line: ``(record, None)``, ``(None, problem)``, or ``(None, None)`` when blank."""
    line, problem = _decode_line(raw, first, encoding)
    if problem:
        return None, problem
    if not line.strip():
        return None, None
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError:  # stricter than json (NaN, huge ints, lone surrogates): let json decide
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            return None, f"invalid JSON: {exc.msg} (column {exc.colno})"
    if not isinstance(record, dict):
        return None, f"expected a JSON object, got {type(record).__name__}"
    return record, None


def _jsonl(stream: BinaryIO, name: str, encoding: str) -> Iterator[InputRecord]:
    for number, raw in enumerate(stream, start=1):
        default_id = f"{name}:{number}"
        record, problem = parse_jsonl_line(raw, number == 1, encoding)
        if problem:
            yield InputRecord(default_id, error=problem)
            continue
        if record is None:
            continue
        yield InputRecord.from_mapping(record, default_id)


def _txt(stream: BinaryIO, name: str, encoding: str) -> Iterator[InputRecord]:
    for number, raw in enumerate(stream, start=1):
        line, problem = _decode_line(raw, number == 1, encoding)
        if problem:
            yield InputRecord(f"{name}:{number}", error=problem)
        elif line.strip():
            yield InputRecord(f"{name}:{number}", line)


def _csv_text(stream: BinaryIO, encoding: str) -> io.TextIOWrapper:
    """A CSV byte stream as text: a UTF-8 byte-order mark is skipped, undecodable bytes kept as surrogates."""
    return io.TextIOWrapper(stream, encoding="utf-8-sig" if encoding == "utf-8" else encoding,
                            errors="surrogateescape", newline="")


def _csv(stream: BinaryIO, name: str, encoding: str) -> Iterator[InputRecord]:
    reader = csv.DictReader(_csv_text(stream, encoding))
    if reader.fieldnames is None or "text" not in reader.fieldnames:
        raise ValueError(f"{name}: CSV has no 'text' column (columns: {', '.join(reader.fieldnames or []) or 'none'})")
    for row in reader:
        default_id = f"{name}:{reader.line_num}"
        if None in row:
            yield InputRecord(record_id(row.get("id"), default_id), error="row has more fields than the header")
            continue
        yield InputRecord.from_mapping(row, default_id)


def expand_inputs(paths: list[str], task: str) -> list[tuple[str, str]]:
    """``(path, name)`` per input: folders are expanded recursively, in sorted order, to the files
    ``task`` reads (documents for clauses; .jsonl/.csv/.txt for messages); ``name`` is the path
    relative to the folder given, used as the id of a document.

    Raises:
        ValueError: a folder without any readable file.
    """
    suffixes = (".jsonl", ".csv", *file_suffixes(task))
    expanded = []
    for path in paths:
        folder = Path(path)
        if path == "-" or not folder.is_dir():
            expanded.append((path, Path(path).name if path != "-" else "stdin"))
            continue
        files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in suffixes)
        if not files:
            raise ValueError(f"{path}: folder holds no {' '.join(suffixes)} file")
        expanded += [(str(p), str(p.relative_to(folder))) for p in files]
    return expanded


def check_input(path: str, task: str, declared: str | None = None, encoding: str = "utf-8") -> None:
    """Raise before scanning when ``path`` cannot be an input at all (a usage error).

    Raises:
        FileNotFoundError: no such file.
        ValueError: unsupported type, or a CSV without a ``text`` column.
    """
    kind = input_format(path, task, declared)
    if path == "-":
        return
    if not Path(path).is_file():
        raise FileNotFoundError(f"{path}: no such file")
    if kind == "csv":
        with open(path, "rb") as stream:
            header = next(csv.reader(_csv_text(stream, encoding)), [])
        if "text" not in header:
            raise ValueError(f"{path}: CSV has no 'text' column (columns: {', '.join(header) or 'none'})")


def read_inputs(path: str, task: str, declared: str | None = None, name: str | None = None,
                encoding: str = "utf-8", max_chars: int | None = MAX_RECORD_CHARS,
                max_document_chars: int | None = MAX_DOCUMENT_CHARS) -> Iterator[InputRecord]:
    """Stream the records of one input (a path or ``-`` for standard input).

    A document's id is ``name`` (default: its file name). ``encoding`` applies to line
    inputs (JSONL, CSV, text lines; documents detect theirs). A record whose text is longer
    than ``max_chars`` (a document: ``max_document_chars``) becomes an error record, so one
    huge record cannot hold a scan for minutes or exhaust memory.

    Raises:
        ValueError: unsupported input type, or a CSV without a ``text`` column
            (usage errors, raised before any record is produced).
        FileNotFoundError: the path does not exist.
    """
    kind = input_format(path, task, declared)
    if kind == "document":
        yield _document_record(name or Path(path).name, path, lambda: read_document(path), max_document_chars)
        return
    with (contextlib.nullcontext(sys.stdin.buffer) if path == "-" else open(path, "rb")) as stream:
        yield from _line_records(kind, stream, "stdin" if path == "-" else path, encoding, max_chars)


def _document_record(name: str, where: str, read: Callable[[], str], max_document_chars: int | None) -> InputRecord:
    """The record of one document: id ``name``, the text ``read()`` returns, or the error (prefixed ``where``)
    that reading it or its length gives."""
    try:
        return over_limit(InputRecord(name, read()), max_document_chars, f"{where}: the document's text")
    except DocumentError as exc:
        return InputRecord(name, error=f"{where}: {exc}")


def _line_records(kind: str, stream: BinaryIO, name: str, encoding: str, max_chars: int | None) -> Iterator[InputRecord]:
    """The records of a line input (``jsonl``, ``csv`` or ``txt``), ids ``name:LINE``, long texts as error records."""
    readers = {"jsonl": _jsonl, "csv": _csv, "txt": _txt}
    for record in readers[kind](stream, name, encoding):
        yield over_limit(record, max_chars)


def read_bytes(data: bytes, name: str, task: str, encoding: str = "utf-8", max_chars: int | None = MAX_RECORD_CHARS,
               max_document_chars: int | None = MAX_DOCUMENT_CHARS) -> Iterator[InputRecord]:
    """Stream the records of an uploaded file's bytes, read as the suffix of its file ``name`` says.

    The same records :func:`read_inputs` makes of that file on disk, except that ids name
    ``name`` (``name:LINE``, a document: ``name``) and no path is ever opened.

    Raises:
        ValueError: unsupported file type for ``task``, or a CSV without a ``text`` column.
    """
    kind = input_format(name, task)
    if kind == "document":
        yield _document_record(name, name, lambda: document_text(data, Path(name).suffix), max_document_chars)
        return
    yield from _line_records(kind, io.BytesIO(data), name, encoding, max_chars)
