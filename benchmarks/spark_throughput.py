"""Throughput of ``nlpguard scan`` and of ``nlpguard.apps.spark.scan_dataframe`` on the same messages, in one run.

Builds N messages by cycling real SMS from ../shared/corpora/nus_sms_zh (or the
project's authored messages when the corpora are absent), writes them as JSON
Lines and as Parquet, then times: the ``nlpguard scan`` command (a child
process, model load included, output to a JSONL file); the start-up of a
``local[P]`` Spark session (reported apart); ``scan_dataframe`` on the Parquet
input split into P partitions, written to Parquet, once with fresh Python
workers (model shipped and loaded) and once more with warm workers. Prints
messages/s of each and the ratio to the command.

Usage: python benchmarks/spark_throughput.py [--n 20000] [--partitions 2] [--model NAME_OR_DIR]
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def source_texts() -> tuple[str, list[str]]:
    """Real SMS when the reference corpora exist, else the authored messages; with the source's name."""
    from nlpguard.training.corpora import corpora_dir, nus_sms

    root = corpora_dir()
    if root is not None:
        return "nus_sms_zh", [e.text for e in nus_sms(root)]
    paths = sorted((ROOT / "data" / "authoring" / "messages").glob("*.jsonl"))
    return "authored messages", [json.loads(l)["text"] for p in paths for l in open(p, encoding="utf-8") if l.strip()]


def write_inputs(texts: list[str], n: int, folder: Path) -> tuple[Path, Path]:
    """``n`` messages with ids as JSON Lines (for the command) and as Parquet (for Spark)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [(f"m{i:06d}", text) for i, text in enumerate(itertools.islice(itertools.cycle(texts), n), 1)]
    jsonl = folder / "messages.jsonl"
    with open(jsonl, "w", encoding="utf-8") as handle:
        handle.writelines(json.dumps({"id": rid, "text": text}, ensure_ascii=False) + "\n" for rid, text in rows)
    parquet = folder / "messages.parquet"
    pq.write_table(pa.table({"id": [r[0] for r in rows], "text": [r[1] for r in rows]}), parquet)
    return jsonl, parquet


def time_cli(path: Path, output: Path, model: str | None, batch_size: int) -> float:
    """Seconds of one ``nlpguard scan`` child process."""
    args = [sys.executable, "-m", "nlpguard", "scan", str(path), "--task", "messages", "--output", str(output),
            "--progress", "off", "--batch-size", str(batch_size)] + (["--model", model] if model else [])
    started = time.perf_counter()
    if subprocess.run(args, check=False).returncode not in (0, 1):
        sys.exit(f"nlpguard scan failed on {path}")
    return time.perf_counter() - started


def main() -> None:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--partitions", type=int, default=2, help="Spark runs local[P] on P partitions")
    parser.add_argument("--model")
    parser.add_argument("--batch-size", type=int, default=256)
    args = parser.parse_args()
    os.environ["PYSPARK_PYTHON"] = sys.executable
    warnings.filterwarnings("ignore", category=FutureWarning)  # pyspark's note on pandas 3
    source, texts = source_texts()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        jsonl, parquet = write_inputs(texts, args.n, folder)
        cli = time_cli(jsonl, folder / "cli.jsonl", args.model, args.batch_size)

        from pyspark.sql import SparkSession

        from nlpguard.apps.spark import scan_dataframe

        started = time.perf_counter()
        spark = (SparkSession.builder.master(f"local[{args.partitions}]").appName("nlpguard-benchmark")
                 .config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false").getOrCreate())
        startup = time.perf_counter() - started
        spark.sparkContext.setLogLevel("ERROR")
        runs = []
        for run in ("cold", "warm"):
            output = folder / f"spark_{run}.parquet"
            started = time.perf_counter()
            df = spark.read.parquet(str(parquet)).repartition(args.partitions)
            scan_dataframe(df, "messages", args.model, batch_size=args.batch_size).write.parquet(str(output))
            runs.append((run, time.perf_counter() - started))
            if spark.read.parquet(str(output)).count() != args.n:
                sys.exit(f"spark wrote a wrong number of records to {output}")
        spark.stop()
    print(f"{args.n} messages from {source}; Spark local[{args.partitions}], {args.partitions} partitions")
    print(f"{'run':<34}{'seconds':>9}{'msg/s':>9}{'speed vs cli':>14}")
    print(f"{'nlpguard scan (cli)':<34}{cli:>9.1f}{args.n / cli:>9.0f}{1:>13.2f}x")
    print(f"{'spark session start-up':<34}{startup:>9.1f}{'-':>9}{'-':>14}")
    for run, seconds in runs:
        print(f"{'scan_dataframe + parquet (' + run + ')':<34}{seconds:>9.1f}{args.n / seconds:>9.0f}{cli / seconds:>13.2f}x")
    print(f"cpu: {os.cpu_count()} cores; python {sys.version.split()[0]}")


if __name__ == "__main__":
    main()
