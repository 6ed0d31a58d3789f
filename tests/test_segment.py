from nlpguard.segment import split_clauses, split_sentences

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


def test_separator_lines_and_colon_lead_ins_join_their_neighbours():
    from nlpguard.segment import split_clauses

    doc = ("隐私政策\n==========\n这些信息包括：\n1. 您的姓名和身份证号码，用于身份核验。\n2. 您的手机号码，用于登录。\n"
           "----------\n第二条 您使用本应用即视为同意本政策。")
    clauses = split_clauses(doc)
    texts = [c.text for c in clauses]
    assert not any(t.strip("=-\n ") == "" for t in texts)  # no separator on its own
    assert "这些信息包括：\n1. 您的姓名和身份证号码，用于身份核验。" in texts
    assert all(doc[c.start:c.end] == c.text for c in clauses)
    assert all(c.heading in ("", "隐私政策") for c in clauses)  # separators are no section headings
