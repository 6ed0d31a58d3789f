"""Build data/{messages,clauses}/{train,dev,test}.jsonl from the hand-written texts in data/authoring.

Steps (all seeded, so the output is reproducible):

1. Read every authored file of the task; drop texts whose normalised form repeats.
2. Assign each authored text (its own ``group``) to train/dev/test by a stable hash.
3. Inside each split only, derive variants that keep the source's group:
   - messages: *mixed notices* — a long compliant notice with one short violating
     message inserted at a sentence boundary (labels of the inserted message);
   - disguised variants of some positives and hard negatives, by one perturbation
     of :mod:`nlpguard.augment` (homophone, pinyin, spacing, traditional, …).
4. Write the split files and ``data/stats_<task>.json`` with counts and diversity figures,
   and rewrite the count and diversity tables of the datasheet ``data/README.md``.

Usage: python training/build_corpus.py [--task messages|clauses] [--seed 13]
"""
from __future__ import annotations

import argparse
import json
import random
from collections import Counter
from pathlib import Path

from nlpguard.augment import disguise_example
from nlpguard.data import SPLITS, Example, bucket, read_examples, write_examples
from nlpguard.normalize import normalize_text
from nlpguard.segment import split_sentences
from nlpguard.taxonomy import task_labels

ROOT = Path(__file__).resolve().parent.parent
SPLIT_FRACTIONS = {"test": 0.15, "dev": 0.15}
# Share of texts that get one disguised variant, by kind.
VARIANT_RATE = {"messages": {"positive": 0.35, "hard_negative": 0.12}, "clauses": {"positive": 0.15, "hard_negative": 0.08}}
MIXED_RATE = 0.15  # positives (messages) that are also inserted into a long compliant notice


def load_authored(task: str) -> list[Example]:
    """All authored texts of a task, deduplicated on their normalised text."""
    examples, seen = [], set()
    for path in sorted((ROOT / "data" / "authoring" / task).glob("*.jsonl")):
        for example in read_examples(path, task):
            key = normalize_text(example.text)
            if key in seen:
                continue
            seen.add(key)
            example.group = example.id
            example.source = f"authored:{path.stem}"
            examples.append(example)
    return examples


def assign_split(example: Example, seed: int) -> str:
    """The split of a group: a stable hash, 70 % train, 15 % dev, 15 % test."""
    value = bucket(example.group, seed)
    return "test" if value < SPLIT_FRACTIONS["test"] else "dev" if value < sum(SPLIT_FRACTIONS.values()) else "train"


def mixed_notice(positive: Example, notice: Example, rng: random.Random) -> Example:
    """Insert ``positive`` as one sentence into the long compliant ``notice``."""
    sentences = split_sentences(notice.text)
    cut = sentences[rng.randrange(1, len(sentences))].start if len(sentences) > 1 else len(notice.text)
    inserted = positive.text.strip()
    if inserted[-1] not in "。！？!?…":
        inserted += "。"
    text = notice.text[:cut] + inserted + notice.text[cut:]
    return Example(f"{positive.id}~mix~{notice.id}", text, list(positive.labels), group=positive.group,
                   source="composed:mixed", tags=sorted({"mixed", "long", *(t for t in positive.tags if t == "obfuscated")}),
                   extra={"variant_of": [positive.id, notice.id]})


def derive_variants(task: str, split_examples: list[Example], rng: random.Random) -> list[Example]:
    """Mixed notices and disguised variants built from one split's authored texts."""
    rates = VARIANT_RATE[task]
    variants = []
    positives = [e for e in split_examples if e.labels]
    for example in split_examples:
        kind = "positive" if example.labels else "hard_negative" if "hard_negative" in example.tags else None
        if kind and rng.random() < rates[kind]:
            variant = disguise_example(example, rng)
            if variant:
                variants.append(variant)
    if task == "messages":
        notices = [e for e in split_examples if not e.labels and e.extra.get("sender") in
                   ("licensed_lender", "bank", "agency", "call_script", "collector") and len(e.text) >= 60
                   and len(split_sentences(e.text)) >= 2]
        shorts = [e for e in positives if len(e.text) <= 90]
        for positive in rng.sample(shorts, int(len(shorts) * MIXED_RATE * 1.6)) if notices else []:
            variants.append(mixed_notice(positive, rng.choice(notices), rng))
    return variants


def ngram_set(text: str, n: int = 5) -> set[str]:
    """Character n-grams of the normalised text."""
    norm = normalize_text(text).replace(" ", "")
    return {norm[i:i + n] for i in range(max(1, len(norm) - n + 1))}


def diversity(splits: dict[str, list[Example]], labels: list[str]) -> dict:
    """Distinct-n ratios, the most common opening, and near-duplicates across splits."""
    authored = [e for v in splits.values() for e in v if e.source.startswith("authored")]
    stats = {}
    for name, subset in [("all", authored)] + [(l, [e for e in authored if l in e.labels]) for l in labels] + \
            [("compliant", [e for e in authored if not e.labels])]:
        grams = [g for e in subset for g in (normalize_text(e.text)[i:i + 4] for i in range(len(e.text) - 3))]
        openings = Counter(normalize_text(e.text)[:6] for e in subset)
        top, count = openings.most_common(1)[0] if openings else ("", 0)
        stats[name] = {"texts": len(subset), "distinct_4gram_ratio": round(len(set(grams)) / max(1, len(grams)), 3),
                       "top_opening": top, "top_opening_share": round(count / max(1, len(subset)), 3)}
    train_sets = [(e.group, ngram_set(e.text)) for e in splits["train"]]
    near = Counter()
    for split in ("dev", "test"):
        for example in splits[split]:
            grams = ngram_set(example.text)
            best = max((len(grams & other) / len(grams | other) for _, other in train_sets), default=0.0)
            for level in (0.3, 0.5, 0.8):
                near[f"{split}_max_jaccard>={level}"] += best >= level
    stats["near_duplicates_vs_train"] = dict(near)
    return stats


def build(task: str, seed: int) -> dict:
    """Build and write one task's split files; return the statistics."""
    rng = random.Random(seed)
    labels = task_labels(task)
    authored = load_authored(task)
    splits = {name: [] for name in SPLITS}
    for example in authored:
        splits[assign_split(example, seed)].append(example)
    for name in SPLITS:
        splits[name] += derive_variants(task, splits[name], rng)
        rng.shuffle(splits[name])
        write_examples(ROOT / "data" / task / f"{name}.jsonl", splits[name])
    counts = {name: {"total": len(v), "compliant": sum(not e.labels for e in v),
                     **{l: sum(l in e.labels for e in v) for l in labels},
                     "authored": sum(e.source.startswith("authored") for e in v)} for name, v in splits.items()}
    everything = [e for v in splits.values() for e in v]
    counts["all"] = {"total": len(everything), "compliant": sum(not e.labels for e in everything),
                     **{l: sum(l in e.labels for e in everything) for l in labels},
                     "authored": len(authored)}
    stats = {"counts": counts, "sources": dict(Counter(e.source for e in everything)),
             "tags": dict(Counter(t for e in everything for t in e.tags)),
             "length": {"min": min(len(e.text) for e in everything), "max": max(len(e.text) for e in everything),
                        ">=150": sum(len(e.text) >= 150 for e in everything)},
             "diversity": diversity(splits, labels)}
    (ROOT / "data" / f"stats_{task}.json").write_text(json.dumps(stats, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return stats


def _tables(task: str, stats: dict) -> tuple[list[str], list[str]]:
    labels = task_labels(task)
    c_all = stats["counts"]["all"]
    counts = [f"**{task}** (authored source texts: {c_all['authored']}; derived variants: {c_all['total'] - c_all['authored']})", "",
              "| split | total | compliant | " + " | ".join(f"`{l}`" for l in labels) + " |",
              "|---|---|---|" + "---|" * len(labels)]
    for split in ("train", "dev", "test", "all"):
        c = stats["counts"][split]
        counts.append(f"| {split} | {c['total']} | {c['compliant']} ({c['compliant'] / c['total']:.0%}) | "
                      + " | ".join(str(c[l]) for l in labels) + " |")
    sources = ", ".join(f"{k} {v}" for k, v in sorted(stats["sources"].items()))
    tags = ", ".join(f"{k} {v}" for k, v in sorted(stats["tags"].items(), key=lambda kv: -kv[1]))
    length = stats["length"]
    counts += ["", f"Sources: {sources}. Tags: {tags}. Length: {length['min']}–{length['max']} characters, "
                   f"{length['>=150']} texts of 150 or more.", ""]
    diversity = [f"**{task}**", "", "| subset | texts | distinct 4-gram ratio | most common opening | its share |",
                 "|---|---|---|---|---|"]
    for name, v in stats["diversity"].items():
        if name != "near_duplicates_vs_train":
            diversity.append(f"| {name} | {v['texts']} | {v['distinct_4gram_ratio']} | {v['top_opening']} | {v['top_opening_share']:.1%} |")
    near = stats["diversity"]["near_duplicates_vs_train"]
    diversity += ["", "Dev/test texts with a training text at character-5-gram Jaccard similarity ≥ 0.3 / 0.5 / 0.8: "
                  + ", ".join(f"{split} {near.get(f'{split}_max_jaccard>=0.3', 0)} / {near.get(f'{split}_max_jaccard>=0.5', 0)}"
                              f" / {near.get(f'{split}_max_jaccard>=0.8', 0)}" for split in ("dev", "test")) + ".", ""]
    return counts, diversity


def write_datasheet_tables() -> None:
    """Rewrite the marked count and diversity tables of data/README.md from both stats files."""
    counts, diversity = [], []
    for task in ("messages", "clauses"):
        stats_file = ROOT / "data" / f"stats_{task}.json"
        if stats_file.is_file():
            c, d = _tables(task, json.loads(stats_file.read_text(encoding="utf-8")))
            counts += c
            diversity += d
    sheet = ROOT / "data" / "README.md"
    text = sheet.read_text(encoding="utf-8")
    for name, lines in (("counts", counts), ("diversity", diversity)):
        start = text.index(f"<!-- {name}:start")
        start = text.index("-->", start) + 3
        end = text.index(f"<!-- {name}:end -->")
        text = text[:start] + "\n" + "\n".join(lines) + "\n" + text[end:]
    sheet.write_text(text, encoding="utf-8")


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=("messages", "clauses"), action="append")
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args()
    for task in args.task or ["messages", "clauses"]:
        stats = build(task, args.seed)
        print(task, json.dumps(stats["counts"]["all"], ensure_ascii=False))
    write_datasheet_tables()


if __name__ == "__main__":
    main()
