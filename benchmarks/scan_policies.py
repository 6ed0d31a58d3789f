"""Time ``nlpguard scan --task clauses`` on a folder of real privacy policies.

Writes N policies of ../shared/corpora/ca4p483 into a temporary folder — a third
as HTML pages, the rest as text files — then runs the installed command on the
whole folder (recursively, with the progress bar on) and prints documents,
characters, clauses flagged, seconds, characters/s and peak memory.

Usage: python benchmarks/scan_policies.py [--documents 100] [--model NAME_OR_DIR]
"""
from __future__ import annotations

import argparse
import html
import itertools
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

from nlpguard.training.corpora import _find, _rows, corpora_dir


def main() -> None:
    """Build the folder, scan it, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=100)
    parser.add_argument("--model")
    args = parser.parse_args()
    root = corpora_dir()
    if root is None:
        parser.error("needs ../shared/corpora (ca4p483)")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "policies"
        folder.mkdir()
        characters = 0
        for k, row in enumerate(itertools.islice(_rows(_find(root, "ca4p483")), args.documents)):
            characters += len(row["text"])
            if k % 3 == 0:
                paragraphs = "".join(f"<p>{html.escape(line)}</p>" for line in row["text"].splitlines() if line.strip())
                page = f"<html><head><title>{html.escape(row['title'])}</title></head><body><nav>首页 | 下载</nav><article>{paragraphs}</article></body></html>"
                (folder / f"{row['doc_id']}.html").write_text(page, encoding="utf-8")
            else:
                (folder / f"{row['doc_id']}.txt").write_text(row["text"], encoding="utf-8")
        output = Path(tmp) / "out.jsonl"
        command = ["nlpguard", "scan", str(folder), "--task", "clauses", "--output", str(output), "--progress", "on"]
        command += ["--model", args.model] if args.model else []
        started = time.perf_counter()
        proc = subprocess.Popen(command)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        records = [json.loads(line) for line in open(output, encoding="utf-8")]
    flagged = sum(len({(e["start"], e["end"]) for e in r.get("evidence", [])}) for r in records)
    print(f"documents {len(records)} (exit {os.waitstatus_to_exitcode(status)}), characters {characters:,}, "
          f"flagged clauses {flagged}, documents with errors {sum('error' in r for r in records)}")
    print(f"seconds {seconds:.1f}, characters/s {characters / seconds:,.0f}, peak memory {usage.ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
