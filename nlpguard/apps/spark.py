"""Scan messages or clauses where they live: a Spark DataFrame in, interface records out.

Needs the ``spark`` extra on the driver and on every executor (Python workers
import ``nlpguard``)::

    pip install '.[spark]'

From Python, with any DataFrame holding an id column and a text column::

    from nlpguard.apps.spark import scan_dataframe, to_records

    flagged = scan_dataframe(spark.read.parquet("messages.parquet"), task="messages")
    flagged.write.parquet("flagged.parquet")
    records = to_records(flagged.toArrow().to_pylist())  # dicts exactly as ``nlpguard scan`` writes them

As a job, Parquet in and Parquet out (exit code 0, 1 when some records could
not be scanned, 2 for a usage error, as ``nlpguard scan``)::

    spark-submit --master local[2] nlpguard/apps/spark.py --input messages.parquet \\
        --output flagged.parquet --task messages [--model DIR] [--text-col text] \\
        [--id-col id] [--threshold LABEL=VALUE ...] [--batch-size 256] [--backend onnx] [--threads 1]

The driver loads the model once to check the task and thresholds, then
broadcasts the files of its model directory (JSON and safetensors, no pickled
model) to the executors; each Python worker writes them to its Spark files
folder and loads :class:`~nlpguard.guard.Guard` once, for every batch and task
it runs. A broadcast works on clusters too, where ``SparkContext.addFile``
refuses local directories. Classic Spark only: Spark Connect has no
``SparkContext`` to broadcast with.
"""
from __future__ import annotations

import argparse
import functools
import hashlib
import sys
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Sequence

import pandas as pd
from pyspark import SparkFiles
from pyspark.broadcast import Broadcast
from pyspark.errors import AnalysisException
from pyspark.sql import DataFrame, Row, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StringType

from nlpguard.errors import NlpguardError, UsageError
from nlpguard.guard import BATCH_SIZE, Guard, parse_thresholds
from nlpguard.io.inputs import InputRecord
from nlpguard.io.outputs import RECORD_FIELDS
from nlpguard.runtime.modeldir import BACKENDS
from nlpguard.taxonomy import TASKS

OUTPUT_SCHEMA = (
    "id string, labels array<string>, families array<string>, scores map<string,double>, "
    "evidence array<struct<label:string,text:string,start:int,end:int,score:double,"
    "severity:string,grounds:string,heading:string>>, error string"
)

_GUARDS: dict[str, Guard] = {}  # per Python worker: the model loaded from each shipped directory, by content digest


def _worker_guard(digest: str, files: Broadcast, backend: str, threads: int) -> Guard:
    guard = _GUARDS.get(digest)
    if guard is None:
        directory = Path(tempfile.mkdtemp(prefix="nlpguard-model-", dir=SparkFiles.getRootDirectory()))
        for name, data in files.value.items():
            (directory / name).parent.mkdir(parents=True, exist_ok=True)
            (directory / name).write_bytes(data)
        guard = _GUARDS[digest] = Guard.load(directory, backend=backend, threads=threads)
    return guard


def _column(values: pd.Series) -> list:
    """A column as Python values with None for nulls (pandas may hand strings over with NaN)."""
    return values.astype(object).where(values.notna(), None).tolist()


def _scan_batches(batches: Iterator[pd.DataFrame], digest: str, files: Broadcast, task: str,
                  thresholds: dict[str, float], batch_size: int, backend: str, threads: int,
                  keep: tuple[str, ...] = ()) -> Iterator[pd.DataFrame]:
    guard = _worker_guard(digest, files, backend, threads)
    for batch in batches:
        records = [InputRecord.from_mapping({"id": rid, "text": text}, "")
                   for rid, text in zip(_column(batch["id"]), _column(batch["text"]))]
        outputs = guard.scan_records(records, task, thresholds, batch_size)
        scanned = pd.DataFrame({name: [output.get(name) for output in outputs] for name in RECORD_FIELDS})
        for k, name in enumerate(keep):  # kept input columns ride along unchanged, row for row
            scanned[name] = batch[f"_keep{k}"].to_numpy()
        yield scanned


def scan_dataframe(df: DataFrame, task: str = "messages", model: str | Path | None = None, *, text_col: str = "text",
                   id_col: str = "id", thresholds: dict[str, float] | None = None, batch_size: int = BATCH_SIZE,
                   backend: str = "auto", threads: int = 1, keep: Sequence[str] = ()) -> DataFrame:
    """Scan every row of ``df``: one output row per input row, with the fields of ``nlpguard scan``'s records.

    The output has the columns of :data:`OUTPUT_SCHEMA`: ``id`` (the id column cast to
    string; a null or empty id becomes ``""``), ``labels``, ``families``, ``scores``
    (every label of the task), ``evidence`` (``severity``, ``grounds`` and ``heading``
    null where a record of ``nlpguard scan`` leaves them out) and ``error``. A row whose
    text is null, empty or blank gets ``error`` and nulls elsewhere, as the command
    gives an error record. Rows keep their partition and their order within it; no
    shuffle happens. Nothing runs until the result is written or collected.

    Args:
        df: the rows to scan.
        task: ``"messages"`` or ``"clauses"`` (each text one agreement).
        model: a packaged model name, a bundle or a model directory (default: the embedded default).
        text_col: the column of texts; it must be a string column.
        id_col: the column of record ids; add one when the data has none, e.g.
            ``df.withColumn("id", F.monotonically_increasing_id())``.
        thresholds: per-label overrides of the model's thresholds.
        batch_size: texts scored per model call.
        backend: runtime of a transformer model on the executors (``torch``, ``onnx``, ``onnx-int8``, ``auto``).
        threads: CPU threads per Python worker for a transformer model (default 1: Spark already
            runs one task per core).
        keep: input columns carried unchanged into the output (after the record's columns), e.g.
            ``["sender", "campaign", "sent_at"]``, so results need no join back on the id.

    Raises:
        ValueError: a missing or non-string column, an unknown task or threshold label, a bad batch size.
        ModelError: the model cannot be loaded.
    """
    if text_col not in df.columns:
        raise ValueError(f"no text column {text_col!r} in the DataFrame; its columns: {', '.join(df.columns) or 'none'}")
    if not isinstance(df.schema[text_col].dataType, StringType):
        raise ValueError(f"text column {text_col!r} is {df.schema[text_col].dataType.simpleString()}, not string")
    if id_col not in df.columns:
        raise ValueError(f"no id column {id_col!r} in the DataFrame (columns: {', '.join(df.columns)}); add one, "
                         f"e.g. df.withColumn({id_col!r}, pyspark.sql.functions.monotonically_increasing_id())")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    keep = tuple(keep)
    missing = [name for name in keep if name not in df.columns]
    clashing = [name for name in keep if name in RECORD_FIELDS]
    if missing or clashing:
        raise ValueError(f"keep: {clashing} would overwrite output columns" if clashing else
                         f"keep: no column {missing} in the DataFrame")
    guard = Guard.load(model, backend=backend)
    limits = guard.thresholds(task, thresholds)
    directory = guard.model(task).path
    files = {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}
    digest = hashlib.sha256(f"{backend}/{threads}".encode())
    for name, data in files.items():
        digest.update(name.encode("utf-8") + b"\0" + hashlib.sha256(data).digest())
    scan = functools.partial(_scan_batches, digest=digest.hexdigest(), files=df.sparkSession.sparkContext.broadcast(files),
                             task=task, thresholds=limits, batch_size=batch_size, backend=backend, threads=threads,
                             keep=keep)
    pairs = df.select(F.col(id_col).cast("string").alias("id"), F.col(text_col).alias("text"),
                      *[F.col(name).alias(f"_keep{k}") for k, name in enumerate(keep)])
    schema = ", ".join([OUTPUT_SCHEMA] + [f"`{name}` {df.schema[name].dataType.simpleString()}" for name in keep])
    return pairs.mapInPandas(scan, schema)


def to_records(rows: Iterable[Row | Mapping]) -> Iterator[dict]:
    """Interface records, exactly as ``nlpguard scan`` writes them, from rows of :func:`scan_dataframe`.

    ``rows`` are pyspark Rows (``collect()``; Spark hands maps over in hash order there, so
    ``scores`` loses the model's label order) or plain dicts that keep it
    (``toArrow().to_pylist()``, ``pyarrow.parquet.read_table(path).to_pylist()``).
    """
    for row in rows:
        row = row.asDict(recursive=True) if isinstance(row, Row) else row
        if row["error"] is not None:
            yield {"id": row["id"], "error": row["error"]}
            continue
        yield {"id": row["id"], "labels": list(row["labels"]), "scores": dict(row["scores"]),
               "families": list(row["families"]),
               "evidence": [{key: value for key, value in item.items() if value is not None} for item in row["evidence"]]}


def main(argv: list[str] | None = None) -> int:
    """Scan a Parquet input into a Parquet output (for ``spark-submit``); return the exit code."""
    parser = argparse.ArgumentParser(prog="nlpguard-spark", description="Scan a Parquet table of texts on Spark.")
    parser.add_argument("--input", required=True, help="Parquet file or folder holding an id and a text column")
    parser.add_argument("--output", required=True, help="Parquet folder to write (must not exist)")
    parser.add_argument("--task", required=True, choices=TASKS)
    parser.add_argument("--model", help="model directory or packaged model name (default: the embedded default)")
    parser.add_argument("--text-col", default="text")
    parser.add_argument("--id-col", default="id")
    parser.add_argument("--threshold", action="append", default=[], metavar="LABEL=VALUE", help="override a label's threshold")
    parser.add_argument("--batch-size", type=int, default=BATCH_SIZE, help="texts per model call (default %(default)s)")
    parser.add_argument("--backend", choices=BACKENDS, default="auto", help="runtime of a transformer model")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads per Python worker (default 1)")
    parser.add_argument("--keep", default="", metavar="COLUMN[,COLUMN...]", help="input columns to carry into the output")
    args = parser.parse_args(argv)
    spark = None
    try:
        overrides = parse_thresholds(args.threshold)
        spark = SparkSession.builder.appName("nlpguard scan").getOrCreate()
        scanned = scan_dataframe(spark.read.parquet(args.input), args.task, args.model, text_col=args.text_col,
                                 id_col=args.id_col, thresholds=overrides, batch_size=args.batch_size,
                                 backend=args.backend, threads=args.threads,
                                 keep=[name for name in args.keep.split(",") if name])
        scanned.write.parquet(args.output)
        total, errors = spark.read.parquet(args.output).agg(F.count("*"), F.count("error")).first()
    except (UsageError, ValueError, NlpguardError, AnalysisException) as exc:
        print(f"nlpguard-spark: error: {exc}", file=sys.stderr)
        return 2
    finally:
        if spark is not None:
            spark.stop()
    print(f"nlpguard-spark: {total} record(s) written to {args.output}", file=sys.stderr)
    if errors:
        print(f"nlpguard-spark: {errors} record(s) could not be scanned (see their 'error' field)", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":  # run as a script: use the importable module, so workers share its model cache
    from nlpguard.apps.spark import main as module_main

    sys.exit(module_main())
