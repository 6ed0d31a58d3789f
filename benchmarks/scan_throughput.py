"""Throughput and peak memory of ``nlpguard scan`` on real messages, side by side in one run.

Builds inputs of N lines by cycling real SMS from ../shared/corpora/nus_sms_zh
(or the project's own authored messages when the corpora are absent), runs the
installed ``nlpguard scan`` command on each size, and prints messages/s and
peak resident memory per run plus the ratio between sizes: equal peak memory
at 10x the input shows that scanning streams.

``--compare N`` instead measures the marginal throughput (start-up excluded: a
one-line scan's time is subtracted) of three paths on N messages, each in its own
process, and checks that their outputs are byte-identical:

- reference: the 0.1 path — jieba in Python, every text through the per-character
  normaliser, scikit-learn's vectoriser, one process;
- current, ``--workers 1``: jieba-rs, the normaliser's fast path, batched TF-IDF rows;
- current, ``--workers auto``: the same in one process per CPU.

Usage: python benchmarks/scan_throughput.py [--sizes 10000,100000] [--model NAME_OR_DIR]
       python benchmarks/scan_throughput.py --compare 30000
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
    from nlpguard.training.corpora import corpora_dir, nus_sms

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


REFERENCE_PATH = """
import sys
import jieba
from nlpguard.runtime import baseline
from nlpguard.text import normalize
jieba.setLogLevel(60)
words = jieba.Tokenizer()
for word in baseline.DOMAIN_WORDS:
    words.add_word(word, freq=baseline.DOMAIN_WORD_FREQ)
baseline.segment = words.lcut
normalize.normalize = normalize._normalize_full
baseline.TfidfLogReg.transform = lambda self, texts: self.vectorizer_.transform(texts)
from nlpguard.apps.cli import main
sys.exit(main(sys.argv[1:]))
"""
CURRENT_PATH = "import sys\nfrom nlpguard.apps.cli import main\nsys.exit(main(sys.argv[1:]))\n"


def write_input(path: Path, texts: list[str], size: int) -> None:
    """``size`` lines cycling ``texts``, whitespace runs collapsed."""
    with open(path, "w", encoding="utf-8") as handle:
        for text in itertools.islice(itertools.cycle(texts), size):
            handle.write(" ".join(text.split()) + "\n")


def timed(program: str, path: Path, output: Path, workers: str) -> float:
    """Seconds of one scan of ``path`` by ``program`` (a Python script) in a child process."""
    args = [sys.executable, "-c", program, "scan", str(path), "--task", "messages", "--output", str(output),
            "--progress", "off", "--workers", workers]
    started = time.perf_counter()
    if subprocess.run(args).returncode not in (0, 1):
        sys.exit(f"scan failed: {args}")
    return time.perf_counter() - started


def compare(texts: list[str], size: int, repeats: int) -> None:
    """Marginal messages/s of the reference and current paths, best of ``repeats``, and output identity."""
    approaches = [("reference (jieba, full normaliser, sklearn rows)", REFERENCE_PATH, "1"),
                  ("current, --workers 1", CURRENT_PATH, "1"),
                  ("current, --workers auto", CURRENT_PATH, "auto")]
    rows, outputs = [], []
    with tempfile.TemporaryDirectory() as tmp:
        big, one = Path(tmp) / "big.txt", Path(tmp) / "one.txt"
        write_input(big, texts, size)
        write_input(one, texts, 1)
        for k, (name, program, workers) in enumerate(approaches):
            output = Path(tmp) / f"out{k}.jsonl"
            startup = min(timed(program, one, Path(tmp) / "one.jsonl", workers) for _ in range(repeats))
            total = min(timed(program, big, output, workers) for _ in range(repeats))
            rows.append((name, startup, total, (size - 1) / (total - startup)))
            outputs.append(output.read_bytes())
    print(f"{size:,} real SMS, marginal throughput (start-up excluded), best of {repeats}")
    print(f"{'path':<52}{'start-up s':>11}{'total s':>9}{'msg/s':>9}{'ratio':>7}")
    for name, startup, total, rate in rows:
        print(f"{name:<52}{startup:>11.2f}{total:>9.2f}{rate:>9.0f}{rate / rows[0][3]:>6.2f}x")
    same = all(o == outputs[0] for o in outputs)
    print(f"outputs byte-identical across paths: {same}")
    print(f"cpu: {len(os.sched_getaffinity(0))} usable cores; python {sys.version.split()[0]}")


def main() -> None:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--model")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--compare", type=int, metavar="N", help="compare the reference and current paths on N messages")
    parser.add_argument("--repeats", type=int, default=2, help="with --compare: best of this many runs per path")
    args = parser.parse_args()
    texts = source_texts()
    if args.compare:
        compare(texts, args.compare, args.repeats)
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            path = Path(tmp) / f"messages_{size}.txt"
            write_input(path, texts, size)
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
