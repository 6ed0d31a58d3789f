"""Pick real policy clauses for hand labelling (issue: real-clause training data).

Candidates come from the reference corpora (never copied into the repository):
capp130 annotated sentences and clauses of ca4p483 policies split by
nlpguard's clause splitter. Selection mixes keyword hits for each label (so
that positives are found), capp130 "risk" sentences, and random clauses (so that
ordinary clauses are represented), with at most a few clauses per document.
The candidates, with their text, are written OUTSIDE the repository for the
labellers; only ids and labels are kept in data/real_clauses/.

Usage: python training/select_real_clauses.py --out /tmp/real_candidates [--per-file 450]
"""
from __future__ import annotations

import argparse
import json
import random
from collections import Counter
from pathlib import Path

from nlpguard.corpora import corpora_dir, policy_clauses

KEYWORDS = {
    "bundled_consent": ("视为同意", "视为您同意", "即表示您同意", "继续使用", "默认勾选", "一并同意", "营销", "推送"),
    "excessive_collection": ("通讯录", "通话记录", "短信", "相册", "精确位置", "地理位置", "应用列表", "安装列表", "包括但不限于"),
    "contact_disclosure": ("联系人", "紧急联系人", "催收", "合作方", "第三方", "关联公司", "公开披露", "公示"),
    "irrevocable_consent": ("不可撤销", "撤回", "注销", "删除", "保存期限", "永久", "匿名化"),
    "unilateral_terms": ("有权", "随时", "修改", "变更", "解释权", "终止", "暂停", "冻结"),
    "liability_waiver": ("不承担", "免责", "责任", "管辖", "仲裁", "概不", "损失"),
}


def main() -> None:
    """Select candidates and write them in files of ``--per-file`` lines."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--per-label", type=int, default=190)
    parser.add_argument("--random", type=int, default=520)
    parser.add_argument("--per-doc", type=int, default=18)
    parser.add_argument("--per-file", type=int, default=450)
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    clauses = [c for c in policy_clauses(corpora_dir()) if 15 <= len(c.text) <= 400]
    rng.shuffle(clauses)
    per_doc: Counter = Counter()
    chosen: dict[str, object] = {}

    def take(candidates, limit):
        for clause in candidates:
            if limit <= 0:
                return
            if clause.id in chosen or per_doc[clause.group] >= args.per_doc:
                continue
            chosen[clause.id] = clause
            per_doc[clause.group] += 1
            limit -= 1

    for words in KEYWORDS.values():
        take((c for c in clauses if any(w in c.text for w in words)), args.per_label)
    take((c for c in clauses if "risk" in c.tags), 200)
    take(iter(clauses), args.random)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    items = list(chosen.values())
    rng.shuffle(items)
    for k in range(0, len(items), args.per_file):
        with open(out / f"batch_{k // args.per_file + 1}.jsonl", "w", encoding="utf-8") as handle:
            for clause in items[k:k + args.per_file]:
                handle.write(json.dumps({"id": clause.id, "doc": clause.group, "text": clause.text}, ensure_ascii=False) + "\n")
    print(f"{len(items)} candidates from {len(per_doc)} documents written to {out}")


if __name__ == "__main__":
    main()
