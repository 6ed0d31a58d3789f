"""Snapshot every output ``nlpguard scan`` writes, to check that a refactor changes no byte.

Runs the installed command on the example files and the test splits — messages and clauses,
JSONL, CSV and HTML outputs, batch summaries, a folder of agreements — with the embedded
default model (and the packaged transformer on JSONL), and writes each output under DIR. ``--compare OLD`` then reports every file
whose bytes differ from the snapshot in OLD (outputs carry no scan time, so byte equality is
the test).

Usage:
    python benchmarks/output_snapshot.py --write /tmp/before
    python benchmarks/output_snapshot.py --write /tmp/after --compare /tmp/before
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _runs(folder: Path) -> dict[str, list[str]]:
    """Output file name → scan arguments."""
    messages = [str(ROOT / "data/examples/messages.jsonl"), str(ROOT / "data/messages/test.jsonl")]
    clauses = str(ROOT / "data/clauses/test.jsonl")
    runs = {}
    for kind in ("jsonl", "csv", "html"):
        runs[f"messages.{kind}"] = [*messages, "--task", "messages", "--format", kind,
                                    "--summary", str(folder / f"messages.{kind}.summary.json")]
        runs[f"clauses.{kind}"] = [clauses, "--task", "clauses", "--format", kind]
        runs[f"policies.{kind}"] = [str(folder / "policies"), "--task", "clauses", "--format", kind]
    # The packaged transformer too: its tokenisation, windows and batching are part of the scan path.
    runs["messages.zh-bert-small.jsonl"] = [*messages, "--task", "messages", "--model", "zh-bert-small"]
    runs["policies.zh-bert-small.jsonl"] = [str(folder / "policies"), "--task", "clauses", "--model", "zh-bert-small"]
    return runs


def write(folder: Path) -> None:
    """Run every scan into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    policies = folder / "policies"
    policies.mkdir(exist_ok=True)
    shutil.copy(ROOT / "data/examples/loan_app_policy.txt", policies / "loan_app_policy.txt")
    (policies / "short.md").write_text("# 隐私政策\n\n1. 您继续使用即视为同意本政策。\n2. 我们仅在您主动上传时调用相机。\n",
                                       encoding="utf-8")
    command = Path(sys.executable).with_name("nlpguard")
    for name, args in _runs(folder).items():
        proc = subprocess.run([str(command), "scan", *args, "--output", str(folder / name), "--progress", "off",
                               "--timezone", "UTC"], capture_output=True, text=True)
        if proc.returncode not in (0, 1):
            raise SystemExit(f"{name}: exit {proc.returncode}\n{proc.stderr}")
    shutil.rmtree(policies)


def compare(new: Path, old: Path) -> int:
    """Print files that differ; return how many."""
    names = sorted({p.name for p in new.iterdir()} | {p.name for p in old.iterdir()})
    different = 0
    for name in names:
        a, b = new / name, old / name
        if not (a.is_file() and b.is_file()):
            print(f"{name}: only in {'new' if a.is_file() else 'old'}")
            different += 1
            continue
        if a.read_bytes() != b.read_bytes():
            print(f"{name}: differs")
            different += 1
    print(f"{len(names)} files, {different} differ")
    return different


def main() -> None:
    """Write a snapshot and optionally compare it with an earlier one."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", required=True, help="folder for this snapshot")
    parser.add_argument("--compare", help="an earlier snapshot to compare with")
    args = parser.parse_args()
    write(Path(args.write))
    if args.compare:
        sys.exit(1 if compare(Path(args.write), Path(args.compare)) else 0)


if __name__ == "__main__":
    main()
