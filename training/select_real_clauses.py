"""Pick real policy clauses for hand labelling (issue: real-clause training data).

Candidates come from the reference corpora (never copied into the repository):
capp130 annotated sentences and clauses of ca4p483 policies split by nlpguard's
clause splitter. The candidates, with their text, are written OUTSIDE the
repository for the labellers; only ids and labels are kept in data/real_clauses/.

Two modes:

- ``--documents N``: N whole held-out policies from the real test split, every clause in
  document order (one file per document), for clause-by-clause labelling and
  document-level evaluation. Near-copies of another chosen document are skipped.
- default (mining): clauses of *training-split* documents only, found per label by three
  independent cues — keyword families, the default model's score, and nearest neighbours
  (character n-gram TF-IDF cosine) of known positives (authored clauses and the labelled
  overlay) — plus random clauses. Clauses already labelled (the same id, or an overlapping
  labelled span), exact copies of one another after normalisation, and near-copies (character
  5-gram Jaccard >= 0.5) of any test/dev-split clause are skipped, at most ``--per-doc`` per
  document. A table of how many candidates each cue found per label is printed.

Usage:
    python training/select_real_clauses.py --documents 30 --out /tmp/real_docs
    python training/select_real_clauses.py --out /tmp/real_mined [--per-label 260]
"""
from __future__ import annotations

import argparse
import json
import random
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer

from nlpguard.training.corpora import _overlay, corpora_dir, near_copies, policy_clauses, real_clause_split, real_clauses
from nlpguard.training.data import Example, read_examples
from nlpguard.guard import Guard
from nlpguard.text.normalize import normalize_text

OVERLAY = Path("data/real_clauses")
KEYWORDS = {
    "bundled_consent": ("视为同意", "视为您同意", "视为您已同意", "即表示您同意", "即视为", "继续使用", "默认勾选",
                        "一并同意", "营销", "推送", "个性化推荐", "广告",
                        # cues of the conventions the second pass on the 30 policies settled (data/README.md)
                        "关联公司", "合作伙伴", "合作方", "去标识化", "商业化", "下载、安装", "您同意我们", "请您了解并同意"),
    "excessive_collection": ("通讯录", "通话记录", "短信", "相册", "精确位置", "地理位置", "应用列表", "安装列表",
                             "包括但不限于", "IMEI", "MAC地址", "设备标识", "SDK", "剪切板", "传感器"),
    "contact_disclosure": ("紧急联系人", "催收", "其他机构", "公开披露", "公示", "逾期", "违约信息", "不良信息",
                           "信用信息", "曝光", "公开您的", "向社会公开", "通报", "联系您的亲友", "联系您的家人", "失信",
                           "认为合适", "认为必要", "违反"),
    "irrevocable_consent": ("不可撤销", "不可撤回", "不得撤回", "无法撤回", "永久", "无法删除", "不能删除", "无法更改",
                            "不可更改", "仍将保留", "继续保留", "继续使用您的", "独立于", "继续有效", "不影响本授权",
                            "无法注销", "不支持注销"),
    "unilateral_terms": ("有权", "随时", "修改", "变更", "解释权", "终止", "暂停", "冻结", "单方", "自行决定", "恕不另行通知",
                         "收回", "自行判断", "认为有必要"),
    "liability_waiver": ("不承担", "免责", "责任", "管辖", "仲裁", "概不", "损失", "不保证", "自行承担", "风险"),
}
CUES = ("keyword", "model", "neighbour")
MODEL_CUE = 0.2  # a clause is a model candidate at this score or above
NEIGHBOUR_CUE = 0.35  # ... and a neighbour candidate at this cosine to a known positive


def _write(path: Path, clauses: list[Example]) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        for clause in clauses:
            handle.write(json.dumps({"id": clause.id, "doc": clause.group, "text": clause.text}, ensure_ascii=False) + "\n")


def select_documents(clauses: list[Example], count: int, seed: int) -> dict[str, list[Example]]:
    """``count`` whole ca4p483 documents of the real test split, smallest first, no two near-copies."""
    by_doc: dict[str, list[Example]] = defaultdict(list)
    for clause in clauses:
        if clause.group.startswith("ca4p:") and real_clause_split(clause) == "test":
            by_doc[clause.group].append(clause)
    chosen: dict[str, list[Example]] = {}
    for group in sorted(by_doc, key=lambda g: (len(by_doc[g]), g)):
        if len(chosen) == count:
            break
        mine = [c.text for c in by_doc[group]]
        taken = [c.text for doc in chosen.values() for c in doc]
        if taken and near_copies(mine, taken).mean() > 0.5:
            continue
        chosen[group] = by_doc[group]
    return chosen


def _known_positives(root: Path) -> dict[str, list[str]]:
    positives: dict[str, list[str]] = defaultdict(list)
    examples = read_examples("data/clauses/train.jsonl", task="clauses")
    examples += [e for e in real_clauses(root, OVERLAY) if real_clause_split(e) == "train"]
    for example in examples:
        for label in example.labels:
            positives[label].append(example.text)
    return positives


def _span(clause_id: str) -> tuple[str, int, int] | None:
    """(document, start, end) of a ``ca4p-DOC:START-END`` id; None for other ids."""
    if not clause_id.startswith("ca4p-"):
        return None
    document, offsets = clause_id[len("ca4p-"):].split(":")
    start, end = (int(n) for n in offsets.split("-"))
    return document, start, end


def labelled_ids(overlay: Path) -> set[str]:
    """Ids of every labelled real clause: the overlay's ``labels_*.jsonl`` and its held-back rounds
    (``held_back/``), which training does not read but which must not be mined and labelled again."""
    return set(_overlay(overlay)) | set(_overlay(overlay / "held_back"))


def already_labelled(candidates: list[Example], labelled: set[str]) -> list[bool]:
    """Whether each candidate is labelled already: the same id, or (ca4p) a labelled span of its document
    covering more than half of the shorter of the two — the clause splitter has moved boundaries by a
    few characters between labelling rounds, so the same clause can come back under a new id."""
    spans: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for document, start, end in filter(None, map(_span, labelled)):
        spans[document].append((start, end))
    marks = []
    for candidate in candidates:
        span = _span(candidate.id)
        marks.append(candidate.id in labelled or (span is not None and any(
            min(span[2], end) - max(span[1], start) > 0.5 * min(span[2] - span[1], end - start)
            for start, end in spans[span[0]])))
    return marks


def mine(clauses: list[Example], root: Path, per_label: int, per_doc: int, random_count: int,
         seed: int, wanted: list[str] | None = None) -> tuple[list[Example], dict[str, Counter]]:
    """Candidates per label from three cues; returns them and, per label, how many each cue found."""
    labelled = labelled_ids(OVERLAY)
    held_out = [c.text for c in clauses if real_clause_split(c) != "train"]
    pool = [c for c in clauses if real_clause_split(c) == "train"]
    pool = [c for c, done in zip(pool, already_labelled(pool, labelled)) if not done]
    seen: set[str] = set()
    unique = []
    for clause in pool:
        key = normalize_text(clause.text)
        if key not in seen:
            seen.add(key)
            unique.append(clause)
    pool = [c for c, close in zip(unique, near_copies([c.text for c in unique], held_out)) if not close]
    texts = [c.text for c in pool]
    guard = Guard.load()
    scores = np.array([[r["scores"][label] for label in KEYWORDS] for r in guard.scan(texts, task="clauses")])
    positives = _known_positives(root)
    vectorizer = TfidfVectorizer(analyzer="char", ngram_range=(2, 4), min_df=2, sublinear_tf=True).fit(texts)
    pool_matrix = vectorizer.transform(texts)
    rng = random.Random(seed)
    order = list(range(len(pool)))
    rng.shuffle(order)
    per_document: Counter = Counter()
    chosen: dict[int, None] = {}
    found: dict[str, Counter] = {}

    def take(indices, limit: int) -> None:
        for index in indices:
            if limit <= 0:
                return
            if index in chosen or per_document[pool[index].group] >= per_doc:
                continue
            chosen[index] = None
            per_document[pool[index].group] += 1
            limit -= 1

    for column, (label, words) in enumerate(KEYWORDS.items()):
        if wanted and label not in wanted:
            continue
        similarity = np.asarray((pool_matrix @ vectorizer.transform(positives[label]).T).max(axis=1).todense()).ravel()
        ranked = {
            "keyword": [i for i in order if any(w in texts[i] for w in words)],
            "model": [i for i in np.argsort(-scores[:, column]) if scores[i, column] >= MODEL_CUE],
            "neighbour": [i for i in np.argsort(-similarity) if similarity[i] >= NEIGHBOUR_CUE],
        }
        found[label] = Counter({cue: len(ranked[cue]) for cue in CUES})
        for cue in CUES:
            take(ranked[cue], per_label // len(CUES))
    take(order, random_count)
    found["pool"] = Counter({"clauses": len(pool)})
    return [pool[i] for i in chosen], found


def main() -> None:
    """Select candidates and write them in files outside the repository."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="folder for the candidate files (outside the repository)")
    parser.add_argument("--documents", type=int, default=0, help="write N whole held-out test-split documents instead of mining")
    parser.add_argument("--labels", nargs="+", choices=list(KEYWORDS), help="mine only these labels (default: all)")
    parser.add_argument("--per-label", type=int, default=260, help="mined candidates per label (split evenly over the cues)")
    parser.add_argument("--random", type=int, default=300, help="random training-split clauses added to the mined ones")
    parser.add_argument("--per-doc", type=int, default=12, help="at most this many mined clauses per document")
    parser.add_argument("--per-file", type=int, default=450, help="mined candidates per output file")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    root = corpora_dir()
    if root is None:
        parser.error("the reference corpora were not found (../shared/corpora or $NLPGUARD_CORPORA)")
    clauses = [c for c in policy_clauses(root) if c.text.strip()]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.documents:
        documents = select_documents(clauses, args.documents, args.seed)
        for group, doc_clauses in documents.items():
            _write(out / f"doc_{group.split(':')[1]}.jsonl", doc_clauses)
        print(f"{len(documents)} documents, {sum(map(len, documents.values()))} clauses written to {out}")
        return
    items, found = mine(clauses, root, args.per_label, args.per_doc, args.random, args.seed, args.labels)
    random.Random(args.seed).shuffle(items)
    for k in range(0, len(items), args.per_file):
        _write(out / f"batch_{k // args.per_file + 1}.jsonl", items[k:k + args.per_file])
    pool = found.pop("pool")["clauses"]
    print(f"candidates among {pool} distinct training-split clauses:")
    print("label                 " + "  ".join(f"{cue:>9s}" for cue in CUES))
    for label, counts in found.items():
        print(f"{label:22s}" + "  ".join(f"{counts[cue]:9d}" for cue in CUES))
    print(f"{len(items)} candidates from {len({c.group for c in items})} documents written to {out}")


if __name__ == "__main__":
    main()
