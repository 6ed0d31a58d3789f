"""Loaders of the reference corpora (skipped without ../shared) and the real-clause label overlay."""
import itertools
import json


from nlpguard.corpora import corpus_split, fbs_spam, message_negatives, nus_sms, real_clause_split, real_clauses

from .conftest import REPO

OVERLAY = REPO / "data" / "real_clauses"


def test_overlay_holds_ids_and_labels_only():
    rows = [json.loads(l) for p in sorted(OVERLAY.glob("labels_*.jsonl")) for l in open(p, encoding="utf-8") if l.strip()]
    assert len(rows) >= 1500
    assert all(set(r) <= {"id", "labels", "note"} for r in rows)
    assert len({r["id"] for r in rows}) == len(rows)


def test_message_corpora_load_with_ids_and_readable_text(corpora):
    nus = list(itertools.islice(nus_sms(corpora), 50))
    assert all(e.id.startswith("nus-") and e.text and e.labels == [] for e in nus)
    spam = list(itertools.islice(fbs_spam(corpora), 200))
    assert all("DIGIT" not in e.text and "URL" not in e.text and "CELLPHONE" not in e.text for e in spam)


def test_corpus_splits_are_fixed_and_disjoint(corpora):
    train, test = message_negatives(corpora, "train"), message_negatives(corpora, "test")
    assert not {e.id for e in train} & {e.id for e in test}
    assert all(corpus_split(e) == "test" for e in test)


def test_real_clauses_join_text_and_split_by_document(corpora):
    examples = real_clauses(corpora, OVERLAY)
    assert len(examples) >= 1500 and all(e.text.strip() for e in examples)
    where = {}
    for example in examples:
        assert where.setdefault(example.group, real_clause_split(example)) == real_clause_split(example)
    assert any(e.labels for e in examples) and sum(not e.labels for e in examples) > len(examples) / 2


def test_default_model_false_positive_rate_on_real_sms_is_under_one_percent(corpora, guard):
    held_out = [e.text for e in message_negatives(corpora, "test", ("nus_sms_zh",))][:4000]
    flagged = sum(bool(r["labels"]) for r in guard.scan(held_out, task="messages", batch_size=512))
    assert flagged / len(held_out) < 0.01


def test_clause_splitter_on_real_policy_layouts(corpora):
    from nlpguard.corpora import _find, _rows
    from nlpguard.segment import split_clauses

    documents = list(itertools.islice(_rows(_find(corpora, "ca4p483")), 40))
    documents += list(itertools.islice(_rows(corpora / "capp130" / "capp130_policies.jsonl"), 40))
    lengths, with_heading = [], 0
    for row in documents:
        clauses = split_clauses(row["text"])
        assert clauses and all(row["text"][c.start:c.end] == c.text for c in clauses)
        assert all(a.end <= b.start for a, b in zip(clauses, clauses[1:]))          # ordered, no overlap
        lengths += [len(c.text) for c in clauses]
        with_heading += sum(bool(c.heading) for c in clauses)
    lengths.sort()
    assert lengths[len(lengths) // 2] < 120                       # clauses, not whole sections
    assert lengths[int(0.99 * len(lengths))] < 800
    assert sum(n < 6 for n in lengths) / len(lengths) < 0.02      # tiny fragments are merged
    assert with_heading / len(lengths) > 0.8                      # section context found
