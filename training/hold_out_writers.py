"""Write a train/dev/test folder of the messages or clause corpus with whole writers held out as the test split.

For comparing models that are too slow for ``--writer-folds`` cross-validation (a transformer on
CPU): the named writers' source texts, from every split, become ``test.jsonl``; the other writers'
train and dev source texts stay ``train.jsonl`` and ``dev.jsonl``. Derived variants are left out.
Train any model on the folder with ``nlpguard train --data OUT``; its test figures are then
figures on writers it never saw, and its model card says so (``OUT/held_out_writers.json``).

Usage: python training/hold_out_writers.py --writers w04 w08 w11 w15 w18 --out runs/fold4
       python training/hold_out_writers.py --task clauses --writers cw05 cw06 --out runs/clause-writers
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from nlpguard.training.data import read_examples, write_examples
from nlpguard.training.modelcard import HELD_OUT_FILE

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    """Split by writer and write the three files."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writers", nargs="+", required=True, help="writers to hold out (e.g. the fourth writer fold)")
    parser.add_argument("--out", required=True)
    parser.add_argument("--task", choices=("messages", "clauses"), default="messages")
    parser.add_argument("--data", help="the corpus folder (default: data/<task>)")
    args = parser.parse_args()
    data = Path(args.data) if args.data else ROOT / "data" / args.task
    held = set(args.writers)
    splits = {name: [e for e in read_examples(data / f"{name}.jsonl", task=args.task)
                     if "variant_of" not in e.extra and not e.source.startswith("variant:")]
              for name in ("train", "dev", "test")}
    found = {str(e.extra.get("writer")) for examples in splits.values() for e in examples}
    missing = held - found
    if missing:
        parser.error(f"no texts by {', '.join(sorted(missing))}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    test = [e for examples in splits.values() for e in examples if e.extra.get("writer") in held]
    for name, examples in (("train", splits["train"]), ("dev", splits["dev"]), ("test", test)):
        kept = examples if name == "test" else [e for e in examples if e.extra.get("writer") not in held]
        write_examples(out / f"{name}.jsonl", kept)
        print(f"{name}: {len(kept)} texts")
    # Model cards read this: the test split is whole writers of the project's corpus, held out.
    source = args.data or f"data/{args.task}"
    (out / HELD_OUT_FILE).write_text(json.dumps({"source": source, "writers": sorted(held)}) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
