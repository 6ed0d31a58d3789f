"""Build data/{messages,clauses}/{train,dev,test}.jsonl from the hand-written texts in data/authoring.

Steps (all seeded, so the output is reproducible):

1. Read every authored file of the task — corpus v1 (``authoring/messages``,
   ``authoring/clauses``: one writer per label family or per file, kept as a writer-confounded
   set) and corpus v2 (``authoring/messages_v2``, ``authoring/clauses_v2``: one file per
   independent writer, every writer every label);
   apply the adjudicated labels of the second labelling pass (``authoring/second_pass``);
   drop texts whose normalised form repeats (identical normalised texts would otherwise be
   able to carry different labels).
2. Assign each group — a source text, or both halves of a contrast pair — to
   train/dev/test by a stable hash.
3. In the train split only, derive disguised variants (one perturbation of
   :mod:`nlpguard.training.augment`: homophone, pinyin, spacing, traditional, …) of the same share of
   positives and compliant texts (messages) so that a disguise never predicts a label, and
   keep dev/test to distinct source texts. Clauses keep their v1 scheme (variants of some
   positives and hard negatives in every split).
4. Write the split files and ``data/stats_<task>.json`` — counts, diversity, and for corpus v2
   the writer × label (and sub-type) table, the short-text share, inter-annotator agreement (Cohen's κ)
   and the AUC of a surface-cue-only model — and rewrite the datasheet's tables.

Usage: python training/build_corpus.py [--task messages|clauses] [--seed 13]
"""
from __future__ import annotations

import argparse
import json
import random
from collections import Counter
from pathlib import Path

from nlpguard.training.augment import disguise_example
from nlpguard.training.data import SPLITS, Example, bucket, read_examples, write_examples
from nlpguard.text.normalize import normalize_text
from nlpguard.taxonomy import task_labels

from corpus_audit import agreement, surface_cue_auc, surface_cue_auc_split  # noqa: E402  (training/ is the script's folder)

ROOT = Path(__file__).resolve().parent.parent
AUTHORING = ROOT / "data" / "authoring"
SPLIT_FRACTIONS = {"test": 0.15, "dev": 0.15}
# Share of texts that get one disguised variant, by kind.
VARIANT_RATE = {"messages": {"positive": 0.2, "compliant": 0.2}, "clauses": {"positive": 0.15, "hard_negative": 0.08}}
SHORT = 25  # characters: a "short" message
# The second labelling pass's files over corpus v2, per task, in authoring/second_pass/.
SECOND_PASS = {"messages": "labels_b*.jsonl", "clauses": "clauses_b*.jsonl"}


def adjudicated_labels() -> dict[str, list[str]]:
    """Final labels of texts the two labelling passes disagreed on (id -> labels)."""
    return {r["id"]: r["labels"] for path in sorted((AUTHORING / "second_pass").glob("adjudication*.jsonl"))
            for r in map(json.loads, path.read_text(encoding="utf-8").splitlines())}


def authored_files(task: str) -> list[tuple[Path, str | None]]:
    """(file, writer) of every authored file: v1 files are writer ``v1-<file>`` (one writer per label family,
    or compliant clauses apart from abusive ones); v2 files give no writer here: v2 records carry their own."""
    return ([(path, f"v1-{path.stem}") for path in sorted((AUTHORING / task).glob("*.jsonl"))]
            + [(path, None) for path in sorted((AUTHORING / f"{task}_v2").glob("*.jsonl"))])


def load_authored(task: str) -> tuple[list[Example], list[dict]]:
    """All authored texts of a task, deduplicated on their normalised text, and the conflicts met:
    a repeated normalised text whose labels differ from the kept one's."""
    examples, seen, conflicts = [], {}, []
    settled = adjudicated_labels()
    for path, writer in authored_files(task):
        for example in read_examples(path, task):
            if example.id in settled:
                example.extra["labels_before_adjudication"] = example.labels
                example.labels = settled[example.id]
            key = normalize_text(example.text)
            if key in seen:
                if sorted(seen[key].labels) != sorted(example.labels):
                    conflicts.append({"kept": seen[key].id, "dropped": example.id, "labels_kept": seen[key].labels,
                                      "labels_dropped": example.labels})
                continue
            seen[key] = example
            if writer is not None:
                example.extra.setdefault("writer", writer)
            example.group = example.extra.get("pair") or example.id
            v2 = path.parent.name.endswith("_v2")
            example.source = f"authored:{path.parent.name}/{path.stem}" if v2 else f"authored:{path.stem}"
            examples.append(example)
    return examples, conflicts


def assign_split(example: Example, seed: int) -> str:
    """The split of a group: a stable hash, 70 % train, 15 % dev, 15 % test."""
    value = bucket(example.group, seed)
    return "test" if value < SPLIT_FRACTIONS["test"] else "dev" if value < sum(SPLIT_FRACTIONS.values()) else "train"


def derive_variants(task: str, split_examples: list[Example], rng: random.Random) -> list[Example]:
    """Disguised variants of one split's authored texts: for messages the same share of positives and
    compliant texts (a disguise must not predict a label), for clauses some positives and hard negatives."""
    rates = VARIANT_RATE[task]
    variants = []
    for example in split_examples:
        if task == "messages":
            kind = "positive" if example.labels else "compliant"
        else:
            kind = "positive" if example.labels else "hard_negative" if "hard_negative" in example.tags else None
        if kind and rng.random() < rates[kind]:
            variant = disguise_example(example, rng)
            if variant:
                if "writer" in example.extra:
                    variant.extra["writer"] = example.extra["writer"]
                variants.append(variant)
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
        grams = [norm[i:i + 4] for norm in map(normalize_text, (e.text for e in subset)) for i in range(len(norm) - 3)]
        openings = Counter(normalize_text(e.text)[:6] for e in subset)
        top, count = openings.most_common(1)[0] if openings else ("", 0)
        stats[name] = {"texts": len(subset), "distinct_4gram_ratio": round(len(set(grams)) / max(1, len(grams)), 3),
                       "top_opening": top, "top_opening_share": round(count / max(1, len(subset)), 3)}
    train_sets = [ngram_set(e.text) for e in splits["train"]]
    index: dict[str, list[int]] = {}
    for k, grams in enumerate(train_sets):
        for gram in grams:
            index.setdefault(gram, []).append(k)
    near = Counter()
    for split in ("dev", "test"):
        for example in splits[split]:
            grams = ngram_set(example.text)
            shared = Counter(k for gram in grams for k in index.get(gram, ()))  # only texts sharing a 5-gram
            best = max((n / (len(grams) + len(train_sets[k]) - n) for k, n in shared.items()), default=0.0)
            for level in (0.3, 0.5, 0.8):
                near[f"{split}_max_jaccard>={level}"] += best >= level
    stats["near_duplicates_vs_train"] = dict(near)
    return stats


def v2_audit(task: str, authored: list[Example], splits: dict[str, list[Example]], labels: list[str],
             conflicts: list[dict]) -> dict:
    """Writer × label and sub-type counts, short texts, agreement of the second pass (``second_pass/`` files
    :data:`SECOND_PASS` names for the task), surface-cue AUC (v1 and v2)."""
    v2 = [e for e in authored if not e.extra["writer"].startswith("v1-")]
    v1 = [e for e in authored if e.extra["writer"].startswith("v1-")]
    writers = sorted({e.extra["writer"] for e in v2})
    subtypes = Counter((st, e.extra["writer"]) for e in v2 for st in e.extra.get("subtypes", []))
    names = sorted({st for st, _ in subtypes})
    first_labels = {e.id: e.extra.get("labels_before_adjudication", e.labels) for e in v2}
    second_labels = {r["id"]: r["labels"] for path in sorted((AUTHORING / "second_pass").glob(SECOND_PASS[task]))
                     for r in map(json.loads, path.read_text(encoding="utf-8").splitlines()) if r["id"] in first_labels}
    v1_ids = {e.id for e in v1}
    v1_split = {e.id: name for name, v in splits.items() for e in v if e.id in v1_ids}
    return {
        "writers": {w: {"texts": sum(e.extra["writer"] == w for e in v2),
                        "compliant": sum(e.extra["writer"] == w and not e.labels for e in v2),
                        **{l: sum(e.extra["writer"] == w and l in e.labels for e in v2) for l in labels}} for w in writers},
        "subtypes": {st: {w: subtypes[(st, w)] for w in writers} | {"all": sum(subtypes[(st, w)] for w in writers)}
                     for st in names},
        "short_share": {"v2": round(sum(len(e.text) <= SHORT for e in v2) / max(1, len(v2)), 3),
                        "all_authored": round(sum(len(e.text) <= SHORT for e in authored) / len(authored), 3)},
        "agreement": agreement(first_labels, second_labels, labels) if second_labels else None,
        "adjudicated": sum("labels_before_adjudication" in e.extra for e in v2),
        "label_conflicts_between_identical_texts": conflicts,
        "surface_cue_auc": {
            "v2_writers_held_out": surface_cue_auc([e.text for e in v2], [bool(e.labels) for e in v2],
                                                   [e.extra["writer"] for e in v2]),
            "v1_train_to_test": surface_cue_auc_split(
                [e.text for e in v1 if v1_split[e.id] == "train"], [bool(e.labels) for e in v1 if v1_split[e.id] == "train"],
                [e.text for e in v1 if v1_split[e.id] == "test"], [bool(e.labels) for e in v1 if v1_split[e.id] == "test"]),
        },
    }


def build(task: str, seed: int) -> dict:
    """Build and write one task's split files; return the statistics."""
    rng = random.Random(seed)
    labels = task_labels(task)
    authored, conflicts = load_authored(task)
    splits = {name: [] for name in SPLITS}
    for example in authored:
        splits[assign_split(example, seed)].append(example)
    for name in SPLITS:
        if task == "clauses" or name == "train":
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
    if any(not e.extra["writer"].startswith("v1-") for e in authored):
        stats["v2"] = v2_audit(task, authored, splits, labels, conflicts)
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


def _writer_tables(task: str, audit: dict) -> list[str]:
    """Markdown: texts per writer and label, sub-type × writer (where given), agreement, surface-cue AUC."""
    writers = list(audit["writers"])
    labels = [k for k in next(iter(audit["writers"].values())) if k not in ("texts", "compliant")]
    lines = [f"**{task}**", "", "| writer | texts | compliant | " + " | ".join(f"`{l}`" for l in labels) + " |",
             "|---|---|---|" + "---|" * len(labels)]
    lines += [f"| {w} | {v['texts']} | {v['compliant']} | " + " | ".join(str(v[l]) for l in labels) + " |"
              for w, v in audit["writers"].items()]
    if audit["subtypes"]:
        lines += ["", "Sub-types (`subtypes` field) per writer:", "",
                  "| sub-type | " + " | ".join(writers) + " | all |", "|---|" + "---|" * (len(writers) + 1)]
        lines += [f"| {st} | " + " | ".join(str(row[w]) for w in writers) + f" | **{row['all']}** |"
                  for st, row in sorted(audit["subtypes"].items(), key=lambda kv: -kv[1]["all"])]
    agreement = audit["agreement"]
    if agreement:
        lines += ["", f"Second, independent labelling pass on {agreement['texts']} corpus-v2 texts (exact label-set "
                      f"agreement {agreement['exact_agreement']:.1%}; {audit['adjudicated']} disagreements adjudicated by "
                      "the taxonomy, recorded in `authoring/second_pass/adjudication*.jsonl`):", "",
                  "| label | Cohen's κ | writer's positives | second reader's positives |", "|---|---|---|---|"]
        lines += [f"| {l} | {v['kappa']} | {v['first']} | {v['second']} |" for l, v in agreement.items()
                  if isinstance(v, dict)]
    auc = audit["surface_cue_auc"]
    lines += ["", f"Surface-cue-only model (23 features, no words; `training/corpus_audit.py`), ROC-AUC for "
                  f"\"any label\": corpus v2 with whole writers held out **{auc['v2_writers_held_out']}**; corpus v1, "
                  f"train → test {auc['v1_train_to_test']}. Texts of at most {SHORT} characters: "
                  f"{audit['short_share']['v2']:.1%} of v2, {audit['short_share']['all_authored']:.1%} of all authored "
                  f"texts. Identical normalised texts with different labels: "
                  f"{len(audit['label_conflicts_between_identical_texts'])} (one copy is kept).", ""]
    return lines


def write_datasheet_tables() -> None:
    """Rewrite the marked count, diversity and writer tables of data/README.md from the stats files."""
    counts, diversity, writers = [], [], []
    for task in ("messages", "clauses"):
        stats_file = ROOT / "data" / f"stats_{task}.json"
        if stats_file.is_file():
            stats = json.loads(stats_file.read_text(encoding="utf-8"))
            c, d = _tables(task, stats)
            counts += c
            diversity += d
            if "v2" in stats:
                writers += _writer_tables(task, stats["v2"])
    sheet = ROOT / "data" / "README.md"
    text = sheet.read_text(encoding="utf-8")
    for name, lines in (("counts", counts), ("diversity", diversity), ("writers", writers)):
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
