from nlpguard.io.segment import split_clauses, split_sentences

DOC = (
    "第一条 为向您提供借款服务，我们将收集您的姓名、身份证号与银行卡号。\n"
    "第二条 您使用本应用即视为同意本协议全部条款。\n"
    "（三）逾期时我们有权联系您的通讯录联系人；本条不可撤销。\n"
    "① 本协议的最终解释权归本公司所有。\n"
    "1.2 争议提交本公司所在地法院管辖。\n"
)


def test_clauses_follow_numbering_and_sentence_ends():
    clauses = [c.text for c in split_clauses(DOC)]
    assert clauses == [
        "第一条 为向您提供借款服务，我们将收集您的姓名、身份证号与银行卡号。",
        "第二条 您使用本应用即视为同意本协议全部条款。",
        "（三）逾期时我们有权联系您的通讯录联系人；",
        "本条不可撤销。",
        "① 本协议的最终解释权归本公司所有。",
        "1.2 争议提交本公司所在地法院管辖。",
    ]


def test_clause_spans_index_the_document():
    for clause in split_clauses(DOC):
        assert DOC[clause.start:clause.end] == clause.text


def test_bare_item_number_is_merged_into_its_text():
    doc = "一、\n我们有权随时修改本协议。"
    assert [c.text for c in split_clauses(doc)] == ["一、\n我们有权随时修改本协议。"]


def test_sentences_keep_offsets_and_merge_tiny_fragments():
    text = "好的。三天内不还钱，就爆你通讯录！！你自己看着办吧"
    spans = split_sentences(text)
    assert [s.text for s in spans] == ["好的。三天内不还钱，就爆你通讯录！！", "你自己看着办吧"]
    assert all(text[s.start:s.end] == s.text for s in spans)


def test_text_without_boundaries_is_one_unit():
    assert [s.text for s in split_sentences("  明早八点我们到你单位门口等你  ")] == ["明早八点我们到你单位门口等你"]


def test_colon_lead_ins_join_the_next_clause_and_separator_lines_belong_to_none():
    from nlpguard.io.segment import split_clauses

    doc = ("隐私政策\n==========\n这些信息包括：\n1. 您的姓名和身份证号码，用于身份核验。\n2. 您的手机号码，用于登录。\n"
           "----------\n第二条 您使用本应用即视为同意本政策。\n| SDK | 目的 |\n|---|---|\n| 推送SDK | 消息推送 |")
    clauses = split_clauses(doc)
    texts = [c.text for c in clauses]
    assert not any("==" in t or "--" in t for t in texts)  # a separator or table rule is in no clause
    assert texts[-3:] == ["第二条 您使用本应用即视为同意本政策。", "| SDK | 目的 |", "| 推送SDK | 消息推送 |"]
    assert "这些信息包括：\n1. 您的姓名和身份证号码，用于身份核验。" in texts
    assert all(doc[c.start:c.end] == c.text for c in clauses)
    assert all(c.heading in ("", "隐私政策") for c in clauses[:-1])  # separators are no section headings


def test_closing_markup_after_a_full_stop_stays_with_its_sentence():
    from nlpguard.io.segment import split_clauses

    doc = "**4.1 用户应对账号下的行为负责。**\n**4.2 爱豆不保证服务不中断。**\n_（2）相册：用于上传照片；_\n（3）麦克风：用于语音。"
    texts = [c.text for c in split_clauses(doc)]
    assert texts == ["**4.1 用户应对账号下的行为负责。**", "**4.2 爱豆不保证服务不中断。**", "_（2）相册：用于上传照片；_",
                     "（3）麦克风：用于语音。"]


def test_segmentation_metrics_count_boundaries_and_exact_clauses():
    from nlpguard.training.evaluation import segmentation_metrics

    gold = [(0, 10), (10, 20), (20, 30)]
    m = segmentation_metrics(gold, [(0, 10), (10, 15), (15, 30)])
    assert (m["boundary_precision"], m["boundary_recall"], m["exact_clauses"]) == (round(2 / 3, 4), round(2 / 3, 4), round(1 / 3, 4))
    assert segmentation_metrics(gold, gold)["boundary_f1"] == 1.0


def test_hand_segmentations_are_offsets_into_real_policies_and_the_splitter_follows_them(corpora):
    import json

    from nlpguard.training.corpora import _find, _rows
    from nlpguard.training.evaluation import segmentation_metrics

    from .conftest import REPO

    texts = {row["doc_id"]: row["text"] for row in _rows(_find(corpora, "ca4p483"))}
    records = [json.loads(p.read_text(encoding="utf-8")) for p in sorted((REPO / "data/real_clauses/segmentation").glob("*.json"))]
    assert len(records) == 10
    gold, predicted = [], []
    for record in records:
        text, spans = texts[record["document"]], record["clauses"]
        assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:]))                  # in order, no overlap
        assert all(text[s:e].strip() == text[s:e] and text[s:e] for s, e in spans)  # trimmed, non-empty
        gold += [(f"{record['document']}:{s}", e) for s, e in spans]
        predicted += [(f"{record['document']}:{c.start}", c.end) for c in split_clauses(text)]
    assert segmentation_metrics(gold, predicted)["boundary_f1"] >= 0.97
