"""Loaders of the reference corpora (skipped without ../shared) and the real-clause label overlay."""
import itertools
import json


from nlpguard.training.corpora import corpus_split, fbs_spam, message_negatives, nus_sms, real_clause_split, real_clauses

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
    from nlpguard.training.corpora import _find, _rows
    from nlpguard.io.segment import split_clauses

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


def test_identical_real_clause_texts_carry_identical_labels(corpora):
    from nlpguard.text.normalize import normalize_text

    labels_of: dict[str, set] = {}
    for example in real_clauses(corpora, OVERLAY):
        key = normalize_text(example.text).strip()
        assert labels_of.setdefault(key, set(example.labels)) == set(example.labels), example.id


def test_trigram_pairs_find_boilerplate_rewritten_with_another_company_name():
    from nlpguard.training.corpora import near_copy_pairs

    texts = ["及根据微经各服务条款及声明中的相关规定，或者微经认为必要的其他情形下。",
             "• 根据联众各服务条款及声明中的相关规定，或者联众认为必要的其他情形下。",
             "我们将在30天内回复您的更正请求。"]
    assert near_copy_pairs(texts, level=0.5) == []                 # 5-grams: every name breaks five of them
    assert near_copy_pairs(texts, level=0.5, size=3) == [(0, 1)]   # 3-grams see the shared wording


def _settled_decisions() -> list[dict]:
    """Every adjudication by wording, oldest file first (a later file's decision on a clause replaces an earlier one)."""
    return [json.loads(line) for name in ("near_copy_adjudication.jsonl", "wording_adjudication.jsonl", "template_adjudication.jsonl")
            for line in open(OVERLAY / "second_pass" / name, encoding="utf-8")]


def test_near_identical_real_clauses_carry_identical_labels_unless_adjudicated_apart(corpora):
    """Clauses whose text is close (5-gram Jaccard >= 0.5: another app's name, a list letter, a reworded
    phrase) were labelled alike, or settled by the taxonomy in second_pass/near_copy_adjudication.jsonl
    (Jaccard >= 0.8) and second_pass/wording_adjudication.jsonl (0.5-0.8 and same-meaning wordings), which
    also list the pairs kept apart with the difference that matters."""
    from nlpguard.training.corpora import near_copy_pairs

    clauses = real_clauses(corpora, OVERLAY)
    settled = _settled_decisions()
    latest = {r["id"]: r for r in settled if "labels" in r}
    apart = {frozenset((r["id"], r["near_copy_of"])) for r in settled if r.get("kept_different")}
    by_id = {c.id: c for c in clauses}
    assert all(by_id[key].labels == r["labels"] and r["why"] for key, r in latest.items())
    conflicts = [(clauses[i].id, clauses[j].id) for i, j in near_copy_pairs([c.text for c in clauses], level=0.5)
                 if set(clauses[i].labels) != set(clauses[j].labels)]
    assert [pair for pair in conflicts if frozenset(pair) not in apart] == []


def test_real_clauses_of_one_wording_family_were_read_together_where_their_labels_differ(corpora):
    """Boilerplate reworded with another company's name ("及根据联众各服务条款…或者联众认为必要的其他情形下") escapes
    the 5-gram test: every pair with character 3-gram Jaccard >= 0.5 and different labels was read side by side
    in second_pass/template_adjudication.jsonl (each clause's labels and the reason, by the taxonomy and the
    convention sheet), unless an earlier file already kept the pair apart."""
    from nlpguard.training.corpora import near_copy_pairs

    clauses = real_clauses(corpora, OVERLAY)
    settled = _settled_decisions()
    read = {json.loads(line)["id"] for line in open(OVERLAY / "second_pass" / "template_adjudication.jsonl", encoding="utf-8")}
    apart = {frozenset((r["id"], r["near_copy_of"])) for r in settled if r.get("kept_different")}
    conflicts = [(clauses[i].id, clauses[j].id) for i, j in near_copy_pairs([c.text for c in clauses], level=0.5, size=3)
                 if set(clauses[i].labels) != set(clauses[j].labels)]
    assert len(conflicts) > 100  # the families are there to read: the test sees them
    assert [pair for pair in conflicts if not set(pair) <= read and frozenset(pair) not in apart] == []
    catch_all = [c for c in clauses if "认为必要的其他情形" in c.text and "各服务条款及声明中的相关规定" in c.text]
    assert len(catch_all) >= 10 and all(c.labels == [] for c in catch_all)  # a catch-all list item is not flagged alone


def test_real_splits_keep_near_copies_of_dev_and_test_clauses_out_of_training(corpora):
    from nlpguard.training.corpora import near_copies, real_clause_splits

    splits, dropped = real_clause_splits(real_clauses(corpora, OVERLAY))
    assert dropped > 0 and len(splits["test"]) >= 4000
    train, held_out = [e.text for e in splits["train"]], [e.text for e in splits["dev"] + splits["test"]]
    assert not near_copies(train, held_out).any()
    assert not {e.group for e in splits["train"]} & {e.group for e in splits["test"]}


def test_held_out_policies_are_labelled_clause_by_clause(corpora):
    from nlpguard.training.corpora import real_documents

    documents = real_documents(corpora, OVERLAY)
    assert len(documents) == 30
    for doc_id, text, clauses in documents:
        assert len(clauses) >= 20 and all(real_clause_split(c) == "test" for c in clauses)
        assert all(text[c.extra["start"]:c.extra["end"]] == c.text for c in clauses)
        assert all(a.extra["end"] <= b.extra["start"] for a, b in zip(clauses, clauses[1:]))
    assert sum(bool(c.labels) for _, _, clauses in documents for c in clauses) >= 200


def test_evidence_metrics_count_the_flags_a_reviewer_reads(guard):
    from nlpguard.training.data import Example
    from nlpguard.training.evaluation import evidence_metrics

    text = ("第一条 本公司有权随时修改本协议，修改后的协议一经公布即生效，无需另行通知用户，最终解释权归本公司所有。\n"
            "第二条 我们仅在您使用扫码功能时调用摄像头，用于识别二维码。\n"
            "第三条 如您逾期，我们有权将您的逾期信息告知您通讯录中的联系人及您的工作单位。")
    clauses = guard.scan_document(text)["clauses"]
    gold = [Example(f"doc:{c['start']}-{c['end']}", c["text"], labels, extra={"start": c["start"], "end": c["end"]})
            for c, labels in zip(clauses, (["unilateral_terms"], [], ["contact_disclosure"]))]
    model = guard.model("clauses")
    result = evidence_metrics(model, [("doc", text, gold)])
    flags = [(c["start"], label) for c in clauses for label in c["labels"]]
    right = sum((start, label) in {(g.extra["start"], l) for g in gold for l in g.labels} for start, label in flags)
    assert result["flags"] == len(flags) and result["gold"] == 2
    assert result["precision"] == (round(right / len(flags), 4) if flags else None)
    assert result["recall"] == round(right / 2, 4)
    assert result["labels"]["unilateral_terms"]["gold"] == 1 and result["labels"]["bundled_consent"]["gold"] == 0


def test_mining_skips_a_clause_labelled_under_an_id_whose_boundaries_moved():
    """The splitter moved some boundaries by a few characters between labelling rounds: a candidate whose span
    mostly overlaps a labelled span of the same document is the same clause, not a new one."""
    from nlpguard.training.data import Example
    from training.select_real_clauses import already_labelled

    labelled = {"ca4p-0731:6578-6845", "capp-rw_1-0001"}
    ids = ["ca4p-0731:6581-6845", "ca4p-0731:6846-6900", "ca4p-0999:6581-6845", "capp-rw_1-0001", "capp-rw_1-0002",
           "ca4p-0731:6800-6900"]
    candidates = [Example(clause_id, "text", []) for clause_id in ids]
    assert already_labelled(candidates, labelled) == [True, False, False, True, False, False]


def test_mining_counts_held_back_rounds_as_labelled(tmp_path):
    """Held-back rounds are outside what training reads but labelled all the same: mining must not pick them again."""
    from training.select_real_clauses import labelled_ids

    (tmp_path / "held_back").mkdir()
    (tmp_path / "labels_1.jsonl").write_text('{"id": "capp-rw_1-0001", "labels": []}\n', encoding="utf-8")
    (tmp_path / "held_back" / "labels_2.jsonl").write_text('{"id": "ca4p-0731:10-20", "labels": ["liability_waiver"]}\n',
                                                          encoding="utf-8")
    assert labelled_ids(tmp_path) == {"capp-rw_1-0001", "ca4p-0731:10-20"}
