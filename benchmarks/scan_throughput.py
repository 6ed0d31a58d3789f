"""Throughput and peak memory of ``nlpguard scan`` on real messages, side by side in one run.

Builds inputs of N lines by cycling real SMS from ../shared/corpora/nus_sms_zh
(or the project's own authored messages when the corpora are absent), runs the
installed ``nlpguard scan`` command on each size, and prints messages/s and
peak resident memory per run plus the ratio between sizes: equal peak memory
at 10x the input shows that scanning streams.

Usage: python benchmarks/scan_throughput.py [--sizes 10000,100000] [--model NAME_OR_DIR]
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
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def source_texts() -> list[str]:
    """Real SMS when the reference corpora exist, else the authored messages."""
    from nlpguard.corpora import corpora_dir, nus_sms

    root = corpora_dir()
    if root is not None:
        return [e.text for e in nus_sms(root)]
    return [json.loads(l)["text"] for l in open(ROOT / "data" / "messages" / "test.jsonl", encoding="utf-8")]


def run_scan(path: Path, model: str | None, batch_size: int) -> tuple[float, float]:
    """Seconds and peak RSS (MiB) of one ``nlpguard scan`` child process."""
    args = ["nlpguard", "scan", str(path), "--task", "messages", "--output", os.devnull, "--progress", "off",
            "--batch-size", str(batch_size)] + (["--model", model] if model else [])
    started = time.perf_counter()
    proc = subprocess.Popen(args)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) not in (0, 1):
        sys.exit(f"nlpguard scan failed on {path}")
    return seconds, usage.ru_maxrss / 1024


def main() -> None:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--model")
    parser.add_argument("--batch-size", type=int, default=256)
    args = parser.parse_args()
    texts = source_texts()
    sizes = [int(s) for s in args.sizes.split(",")]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            path = Path(tmp) / f"messages_{size}.txt"
            with open(path, "w", encoding="utf-8") as handle:
                for text in itertools.islice(itertools.cycle(texts), size):
                    handle.write(" ".join(text.split()) + "\n")
            seconds, peak = run_scan(path, args.model, args.batch_size)
            rows.append((size, seconds, size / seconds, peak))
    print(f"{'messages':>10}{'seconds':>10}{'msg/s':>10}{'peak MiB':>10}")
    for size, seconds, rate, peak in rows:
        print(f"{size:>10}{seconds:>10.1f}{rate:>10.0f}{peak:>10.0f}")
    first, last = rows[0], rows[-1]
    print(f"ratio {last[0] // first[0]}x input: time x{last[1] / first[1]:.2f}, peak memory x{last[3] / first[3]:.2f}")
    print(f"cpu: {os.cpu_count()} cores; python {sys.version.split()[0]}")


if __name__ == "__main__":
    main()
