"""The embedded default model on realistic inputs, with evidence that points into the original text."""
import pytest


VIOLATING = [
    ("三天内不把钱打过来，你通讯录里每个人都会收到你的欠款截图，自己掂量。", "privacy_disclosure"),
    ("明早八点我们的人就到你单位门口等你，不信你试试。", "intimidation"),
    ("你已涉嫌恶意透支，公安机关已立案，24小时内不还款将上门逮捕。", "intimidation"),
    ("你这种老赖就是人渣，借钱不还不要脸的东西", "insult"),
    ("你這個老賴，臉都不要了，借錢不還算什麼東西", "insult"),
    ("今天不还，就把你P成通缉令发到你们小区业主群和你公司群里", "privacy_disclosure"),
]
COMPLIANT = [
    "【某消费金融】王女士，您本期账单1,280.00元已于昨日到期，请尽快还款，如有疑问请致电客服。",
    "周末一起去爬山吗？我带水，你带吃的 😄",
    "您的逾期记录将依法报送金融信用信息基础数据库，请尽快还款以免影响个人征信。",
    "妈，我到家了，晚上不用等我吃饭。",
]


@pytest.mark.parametrize("text, label", VIOLATING)
def test_violating_messages_are_flagged(guard, text, label):
    assert label in guard.scan(text, task="messages")["labels"]


@pytest.mark.parametrize("text", COMPLIANT)
def test_compliant_messages_are_not_flagged(guard, text):
    assert guard.scan(text, task="messages")["labels"] == []


def test_record_shape_and_families(guard):
    record = guard.scan(VIOLATING[1][0], task="messages")
    assert set(record) == {"labels", "scores", "families", "evidence"}
    assert set(record["scores"]) == {"intimidation", "privacy_disclosure", "insult"}
    assert all(0.0 <= s <= 1.0 for s in record["scores"].values())
    assert "intimidation" in record["families"]


def test_evidence_points_at_the_violating_sentence_of_a_long_notice(guard):
    text = ("【安和金融】尊敬的客户您好，您在我司的借款已逾期15天，应还金额3,260.50元。"
            "请您于本月20日前通过App完成还款，逾期将按合同约定计收罚息。"
            "再不还钱，我们就把你欠钱的事发给你通讯录里的所有人，让你亲戚朋友都知道你是老赖。"
            "如有疑问请致电客服400-000-0000。")
    record = guard.scan(text, task="messages")
    assert "privacy_disclosure" in record["labels"]
    spans = [e for e in record["evidence"] if e["label"] == "privacy_disclosure"]
    assert spans and all(text[e["start"]:e["end"]] == e["text"] for e in spans)
    assert any("通讯录" in e["text"] for e in spans)
    assert not any(e["text"].startswith("【安和金融】") for e in spans)


def test_evidence_offsets_index_original_disguised_text(guard):
    text = "ＮＭＳＬ，你個老賴！！\u200b三天不還就爆你通 訊 錄"
    record = guard.scan(text, task="messages")
    assert record["labels"]
    for e in record["evidence"]:
        assert text[e["start"]:e["end"]] == e["text"]


def test_clause_document_yields_flagged_clauses_as_evidence(guard):
    doc = ("第一条 为向您提供借款服务，我们将收集您的姓名、身份证号与银行卡号。\n"
           "第二条 您使用本应用即视为同意本协议全部条款，且授权我们读取您的通讯录与通话记录。\n"
           "第三条 您逾期时，我们有权联系您的通讯录联系人并告知其您的欠款情况。\n"
           "第四条 本协议的最终解释权归本公司所有，本公司有权随时单方修改本协议而无需通知。\n")
    record = guard.scan(doc, task="clauses")
    assert {"bundled_consent", "excessive_collection", "contact_disclosure", "unilateral_terms"} <= set(record["labels"])
    for e in record["evidence"]:
        assert doc[e["start"]:e["end"]] == e["text"]
    assert not any(e["text"].startswith("第一条") for e in record["evidence"])


def test_fair_clauses_are_not_flagged(guard):
    doc = ("1. 我们仅在您申请借款时收集您的姓名、身份证号码和银行卡信息，用于身份核验和放款。\n"
           "2. 您可以随时在“设置-隐私”中撤回授权或注销账户，我们将在15个工作日内删除您的个人信息。\n")
    assert guard.scan(doc, task="clauses")["labels"] == []


def test_competent_court_scores_below_a_provider_seat_forum(guard):
    fair = guard.scan("因本协议产生的争议，由有管辖权的人民法院管辖。", task="clauses")["scores"]["liability_waiver"]
    unfair = guard.scan("因本协议产生的争议，由本公司住所地人民法院管辖。", task="clauses")["scores"]["liability_waiver"]
    assert fair < unfair


def test_competent_court_clause_is_not_flagged(guard):
    assert guard.scan("3. 因本协议产生的争议，由有管辖权的人民法院管辖。", task="clauses")["labels"] == []


@pytest.mark.parametrize("negated, asserted, label", [
    ("本平台不会读取您的通讯录、短信或通话记录，也不会在您逾期时联系您的亲友。",
     "本平台将读取您的通讯录、短信和通话记录，并在您逾期时联系您的亲友。", "contact_disclosure"),
    ("逾期后我司只与借款人本人沟通，绝不向您的家人、同事或通讯录好友透露任何欠款信息。",
     "逾期后我司将向您的家人、同事或通讯录好友告知您的欠款信息。", "contact_disclosure"),
    ("催收人员不得联系借款人的工作单位。", "催收人员有权联系借款人的工作单位。", "contact_disclosure"),
])
def test_a_negated_clause_is_not_flagged_where_its_assertion_is(guard, negated, asserted, label):
    assert guard.scan(negated, task="clauses")["labels"] == []
    assert label in guard.scan(asserted, task="clauses")["labels"]


def test_string_in_one_record_out_list_in_list_out(guard):
    assert isinstance(guard.scan("你好", task="messages"), dict)
    assert len(guard.scan(["你好", "再见", "谢谢"], task="messages")) == 3
    with pytest.raises(TypeError, match="text 1 is int"):
        guard.scan(["你好", 3], task="messages")


def test_pipe_streams_lazily_and_matches_scan_records():
    from nlpguard import Guard
    from nlpguard.io.inputs import InputRecord

    guard = Guard.load()
    texts = ["三天内不还钱就爆你通讯录", "您好，您的账单已出，请按时还款。", "", "再不还钱就去你单位闹"]
    records = [InputRecord(f"r{i}", texts[i % len(texts)]) if i % 97 else InputRecord(f"r{i}", error="bad line")
               for i in range(10_000)]
    pulled = 0

    def source():
        nonlocal pulled
        for record in records:
            pulled += 1
            yield record

    stream = guard.pipe(source(), task="messages", batch_size=256)
    first = next(stream)
    assert pulled <= 256  # one batch read, not the whole input
    outputs = [first, *stream]
    assert pulled == len(records)
    assert outputs == guard.scan_records(records, task="messages")
    assert [o["id"] for o in outputs] == [r.id for r in records]
    assert outputs[0] == {"id": "r0", "error": "bad line"} and "error" in outputs[2]
