"""Real-document cross-fitting: folds of whole documents, near-copies kept out, thresholds from other folds."""
import json

import numpy as np
import pytest

from nlpguard.io.segment import split_clauses
from nlpguard.training.corpora import real_clauses, real_documents
from nlpguard.training.data import Example
from nlpguard.training.document_folds import (cross_fit, cross_fitted_metrics, deal_documents, final_thresholds,
                                              release_models)
from nlpguard.training.evaluation import gold_matrix
from nlpguard.training.metrics import tune_thresholds
from nlpguard.training.train import TrainConfig, train
from nlpguard.runtime.baseline import TfidfLogReg
from nlpguard.runtime.modeldir import Model, ModelSpec
from nlpguard.runtime import baseline
from nlpguard.taxonomy import task_labels

from .conftest import write_jsonl

LABELS = task_labels("clauses")
# Every clause is written once: documents share only the boilerplate clause, as real policies do.
BANK = [
    ("您注册即视为同意我们收集您的全部个人信息并用于营销推广和第三方合作", ["bundled_consent"]),
    ("我们将收集您的通讯录、通话记录、短信内容及相册，包括但不限于联系人姓名和电话", ["excessive_collection"]),
    ("如您逾期未还款，我们有权联系您通讯录中的亲友告知您的欠款情况", ["contact_disclosure"]),
    ("我们仅在您申请借款时收集您的姓名和身份证号码，用于核实您的身份", []),
    ("您的授权一经作出不可撤销，注销账户后我们仍将永久保存您的全部信息", ["irrevocable_consent"]),
    ("我们有权随时单方修改本协议，修改后的协议一经发布即生效，无需另行通知您", ["unilateral_terms"]),
    ("因任何原因导致您的信息泄露或资金损失，我们均不承担任何责任", ["liability_waiver"]),
    ("您可以随时在设置中撤回授权，撤回不影响撤回前基于授权已进行的处理", []),
    ("点击下一步即表示您已阅读并接受全部授权条款，包括向合作机构共享数据", ["bundled_consent"]),
    ("为评估信用，本应用将读取设备上安装的全部应用列表、地理位置和剪贴板内容", ["excessive_collection"]),
    ("如您对本政策有任何疑问，请拨打客服电话与我们联系", []),
    ("本政策自发布之日起生效，更新时我们将提前七日以站内信通知您", []),
    ("借款人违约时，出借方可将违约信息发送给其紧急联系人及工作单位同事", ["contact_disclosure"]),
    ("本授权书在借款结清前持续有效，您不得以任何理由撤回或变更", ["irrevocable_consent"]),
    ("未满十八周岁的用户请在监护人陪同下阅读本政策", []),
    ("我们在中华人民共和国境内收集的信息将存储于境内的服务器", []),
    ("平台保留对利率、服务费标准进行调整的权利，调整结果以系统公示为准", ["unilateral_terms"]),
    ("第三方服务商造成的一切损害由用户自行承担，本平台概不负责", ["liability_waiver"]),
    ("您有权查阅、复制和更正您的个人信息，我们将在十五日内答复", []),
    ("账户注销后我们将在法定期限届满后删除或匿名化处理您的信息", []),
]
APP_SENTENCES = [("应用会在后台定时上传您的位置信息用于风控分析", ["excessive_collection"]),
                 ("逾期后您的欠款信息可能被公开披露给您的亲友", ["contact_disclosure"]),
                 ("我们将依照法律法规保护未成年人的个人信息", [])]
BOILERPLATE = ("我们会采取加密等安全措施保护您的个人信息，防止数据遭到未经授权的访问", [])
COMPANIES = ["安信金融", "恒通小贷", "速借科技", "白鹭数科", "青禾信息"]


def _corpora(root):
    """A corpora folder shaped like ../shared/corpora (five ca4p483 policies, one capp130 app) and an overlay
    whose documents.json names four of the policies as the whole held-out ones."""
    (root / "capp130").mkdir(parents=True)
    (root / "ca4p483").mkdir()
    overlay = root / "overlay"
    overlay.mkdir()
    labels, docs = [], []
    for d, company in enumerate(COMPANIES):
        chosen = BANK[4 * d:4 * d + 4] + [BOILERPLATE]
        text = "".join(f"{i + 1}. {company}提示：{clause}。\n" for i, (clause, _) in enumerate(chosen))
        doc_id = f"09{d:02d}"
        docs.append({"doc_id": doc_id, "text": text})
        for span, (_, clause_labels) in zip(split_clauses(text), chosen):
            labels.append({"id": f"ca4p-{doc_id}:{span.start}-{span.end}", "labels": clause_labels})
    write_jsonl(root / "ca4p483" / "ca4p483.jsonl", docs)
    capp = [{"id": f"capp-rw_1-{i:04d}", "text": text, "app_name": "小鹿钱包", "policy_file": "rw_1",
             "is_risk": bool(clause_labels)} for i, (text, clause_labels) in enumerate(APP_SENTENCES)]
    write_jsonl(root / "capp130" / "capp130_sentences.jsonl", capp)
    labels += [{"id": row["id"], "labels": clause_labels} for row, (_, clause_labels) in zip(capp, APP_SENTENCES)]
    write_jsonl(overlay / "labels_1.jsonl", labels)
    (overlay / "documents.json").write_text(json.dumps({"documents": ["0900", "0901", "0902", "0903"]}), encoding="utf-8")
    return overlay


def _authored(folder):
    folder.mkdir()
    rows = [{"id": f"a{i}", "text": f"{['平台', '本公司', '我方'][i % 3]}声明：{t}", "labels": l}
            for i, (t, l) in enumerate(BANK * 2)]
    for split in ("train", "dev", "test"):
        write_jsonl(folder / f"{split}.jsonl", rows)
    return folder


def test_documents_are_dealt_whole_with_the_evaluation_policies_spread_over_the_folds(tmp_path):
    overlay = _corpora(tmp_path / "corpora")
    real = real_clauses(tmp_path / "corpora", overlay)
    documents = real_documents(tmp_path / "corpora", overlay, real)
    folds = deal_documents(real, 2, documents)
    assert sorted(g for fold in folds for g in fold) == sorted({e.group for e in real})  # every document, once
    assert [len({f"ca4p:{d}" for d in ("0900", "0901", "0902", "0903")} & fold) for fold in folds] == [2, 2]
    assert folds == deal_documents(real, 2, documents)  # deterministic
    with pytest.raises(ValueError, match="at least 9 labelled documents, the overlay has 6"):
        deal_documents(real, 9, documents)


def test_each_fold_trains_without_its_documents_or_their_near_copies_and_is_thresholded_on_the_others(tmp_path):
    overlay = _corpora(tmp_path / "corpora")
    real = real_clauses(tmp_path / "corpora", overlay)
    documents = real_documents(tmp_path / "corpora", overlay, real)
    folds = deal_documents(real, 2, documents)
    trained_on = []
    spec = ModelSpec("clauses", LABELS, {label: 0.5 for label in LABELS}, baseline.ARCHITECTURE, aggregation="max_clause")

    authored = [Example(f"a{i}", f"平台声明：{text}", labels) for i, (text, labels) in enumerate(BANK)]

    def fit(train_real: list[Example]) -> Model:
        trained_on.append(train_real)
        train_set = authored + train_real
        scorer = TfidfLogReg(LABELS, c=10.0, min_df=1).fit([e.text for e in train_set], gold_matrix(train_set, LABELS))
        return Model(spec, scorer, tmp_path)

    results = cross_fit(real, documents, folds, fit, log=lambda line: None)
    for fold, train_real, result in zip(folds, trained_on, results):
        assert not {e.group for e in train_real} & fold
        # the boilerplate clause sits in every policy: a near-copy of a held-out clause, never trained on
        assert any(BOILERPLATE[0] in e.text for e in result.held_out)
        assert not any(BOILERPLATE[0] in e.text for e in train_real) and result.near_copies_left_out >= 1
        assert {doc_id for (doc_id, _, _), _ in result.scanned} <= {d.removeprefix("ca4p:") for d in fold}
    metrics = cross_fitted_metrics(results, LABELS)
    other = results[1]
    expected = tune_thresholds(gold_matrix(other.held_out, LABELS), other.scores, LABELS)
    assert metrics["real_cross_fit"]["folds"][0]["thresholds"] == expected
    assert metrics["real_cross_fit"]["all_real_clauses"]["n"] == len(real)
    policy_clauses = [e for _, _, clauses in documents for e in clauses]
    assert metrics["real_clauses_test"]["n"] == len(policy_clauses) == 20
    assert metrics["real_evidence_test"]["documents"] == 4
    assert metrics["real_evidence_test"]["gold"] == sum(len(e.labels) for e in policy_clauses)
    assert set(metrics["real_clauses_test"]["intervals_95"]) == set(LABELS) | {"macro_f1"}
    pooled = np.vstack([r.scores for r in results])
    assert final_thresholds(results, LABELS) == tune_thresholds(
        np.vstack([gold_matrix(r.held_out, LABELS) for r in results]), pooled, LABELS)
    release_models(results)  # what train does once a deal is measured: the figures need only the scores
    assert all(r.model is None for r in results) and cross_fitted_metrics(results, LABELS) == metrics


def test_training_with_real_document_folds_trains_on_every_real_clause_and_reports_cross_fitted_figures(tmp_path):
    overlay = _corpora(tmp_path / "corpora")
    config = TrainConfig(task="clauses", data=str(_authored(tmp_path / "authored")), output=str(tmp_path / "model"),
                         corpora=str(tmp_path / "corpora"), real_clause_labels=str(overlay), real_document_folds=2,
                         real_clause_weight=3.0, min_df=1, c=10.0)
    lines = []
    metrics = train(config, log=lines.append)
    assert metrics["counts"]["real_train"] == 28 and metrics["counts"]["real_test"] == 0
    assert len(metrics["real_cross_fit"]["folds"]) == 2
    assert metrics["real_evidence_test"]["documents"] == 4
    assert any("real-document fold 2/2" in line for line in lines)
    card = (tmp_path / "model" / "README.md").read_text(encoding="utf-8")
    assert "cross-fitted" in card and "2 folds of whole real documents" in card
    saved = json.loads((tmp_path / "model" / "config.json").read_text(encoding="utf-8"))["nlpguard"]["thresholds"]
    assert saved == {label: metrics["real_cross_fit"]["final_thresholds"][label] for label in LABELS}


def test_several_deals_pool_their_held_out_scores_for_the_thresholds_and_report_each_deal(tmp_path):
    overlay = _corpora(tmp_path / "corpora")
    settings = dict(task="clauses", data=str(_authored(tmp_path / "authored")), corpora=str(tmp_path / "corpora"),
                    real_clause_labels=str(overlay), real_document_folds=2, min_df=1, c=10.0)
    one = train(TrainConfig(output=str(tmp_path / "one"), **settings), log=lambda line: None)
    three = train(TrainConfig(output=str(tmp_path / "three"), real_document_repeats=3, **settings), log=lambda line: None)
    deals = three["real_cross_fit"]["deals"]
    assert [d["seed"] for d in deals] == [0, 1, 2]
    assert deals[0]["all_real_macro_f1"] == one["real_cross_fit"]["all_real_clauses"]["macro_f1"]  # deal 0 is the single deal
    assert three["real_clauses_test"] == one["real_clauses_test"]                                   # full figures: deal 0
    mean = np.mean([d["evidence_recall"] for d in deals])
    assert three["real_cross_fit"]["mean_over_deals"]["evidence_recall"] == round(float(mean), 4)
    card = (tmp_path / "three" / "README.md").read_text(encoding="utf-8")
    assert "3 deals of the documents into folds" in card and "| mean |" in card


@pytest.mark.parametrize("settings, message", [
    ({"task": "clauses", "real_document_folds": 1}, "real_document_folds must be 0"),
    ({"task": "messages", "real_document_folds": 3}, "task 'messages' has none"),
    ({"task": "clauses", "real_document_folds": 3, "writer_folds": 3}, "choose writer_folds or real_document_folds"),
    ({"task": "clauses", "real_document_repeats": 2}, "above 1 only with real_document_folds"),
    ({"task": "clauses", "real_document_folds": 3, "real_document_repeats": 0}, "at least 1"),
    ({"task": "messages", "balance_authored_rate": True}, "task 'messages' has none"),
])
def test_bad_real_document_fold_settings_are_refused(settings, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(data="d", output="o", **settings)


def test_recalibrating_a_cross_fitted_model_tunes_on_the_held_out_documents_again(tmp_path):
    from nlpguard.training.train import recalibrate

    overlay = _corpora(tmp_path / "corpora")
    config = TrainConfig(task="clauses", data=str(_authored(tmp_path / "authored")), output=str(tmp_path / "model"),
                         corpora=str(tmp_path / "corpora"), real_clause_labels=str(overlay), real_document_folds=2,
                         min_df=1, c=10.0)
    trained = train(config, log=lambda line: None)
    again = recalibrate(tmp_path / "model", log=lambda line: None)
    assert again["real_cross_fit"]["final_thresholds"] == trained["real_cross_fit"]["final_thresholds"]
    assert again["real_evidence_test"] == trained["real_evidence_test"]


def test_an_overlay_without_whole_policies_is_still_cross_fitted_clause_by_clause(tmp_path):
    overlay = _corpora(tmp_path / "corpora")
    (overlay / "documents.json").unlink()
    metrics = train(TrainConfig(task="clauses", data=str(_authored(tmp_path / "authored")), output=str(tmp_path / "m"),
                                corpora=str(tmp_path / "corpora"), real_clause_labels=str(overlay), real_document_folds=2,
                                real_document_repeats=2, min_df=1, c=10.0), log=lambda line: None)
    assert metrics["real_cross_fit"]["all_real_clauses"]["n"] == 28
    assert "real_evidence_test" not in metrics and "real_clauses_test" not in metrics
    assert set(metrics["real_cross_fit"]["mean_over_deals"]) == {"all_real_macro_f1"}


def test_balanced_weights_put_the_authored_clauses_at_the_real_positive_rate():
    """Authored clauses (lending, half positive) weighted per label so that their positive rate is the real
    clauses' (app policies, rarely positive): what only the authored domain says then predicts no label."""
    from nlpguard.training.train import sample_weights

    def clause(n, labels):
        return Example(f"c{n}", f"clause {n}", labels)

    authored = [clause(n, ["excessive_collection"] if n < 6 else []) for n in range(10)]                 # 6 / 10
    real = [clause(100 + n, ["excessive_collection"] if n < 2 else ["liability_waiver"] if n < 5 else []) for n in range(20)]
    config = TrainConfig(task="clauses", data="d", output="o", real_clause_weight=3.0, balance_authored_rate=True)
    weights = sample_weights(config, authored, real, LABELS)
    assert weights.shape == (30, len(LABELS))
    k = LABELS.index("excessive_collection")
    positive = weights[:6, k].sum() / weights[:10, k].sum()
    assert positive == pytest.approx(2 / 20)                                  # the real rate, not 0.6
    assert (weights[:6, k] == 1.0).all() and (weights[10:] == 3.0).all()      # positives and real clauses unchanged
    assert (weights[:10, LABELS.index("liability_waiver")] == 1.0).all()     # no authored positive: left as is
    plain = sample_weights(TrainConfig(task="clauses", data="d", output="o", real_clause_weight=3.0), authored, real, LABELS)
    np.testing.assert_array_equal(plain, [1.0] * 10 + [3.0] * 20)


def test_baseline_takes_one_weight_per_text_and_label():
    texts = [text for text, _ in BANK]
    targets = gold_matrix([Example(str(n), t, l) for n, (t, l) in enumerate(BANK)], LABELS)
    ramp = np.linspace(0.5, 2, len(texts))
    flat = TfidfLogReg(LABELS, min_df=1).fit(texts, targets, sample_weight=ramp)
    columns = TfidfLogReg(LABELS, min_df=1).fit(texts, targets, sample_weight=np.repeat(ramp[:, None], len(LABELS), axis=1))
    np.testing.assert_allclose(columns.coef_, flat.coef_)                      # equal columns: the per-text fit
    plain = TfidfLogReg(LABELS, min_df=1).fit(texts, targets)
    k, other = LABELS.index("bundled_consent"), LABELS.index("liability_waiver")
    heavy = np.ones(targets.shape)
    heavy[targets[:, k] == 0, k] = 20.0                                        # compliant clauses weigh more for one label
    weighted = TfidfLogReg(LABELS, min_df=1).fit(texts, targets, sample_weight=heavy)
    assert weighted.intercept_[k] < plain.intercept_[k]
    np.testing.assert_allclose(weighted.coef_[other], plain.coef_[other])      # the other labels fit as before
    with pytest.raises(ValueError, match="sample_weight must have shape"):
        TfidfLogReg(LABELS, min_df=1).fit(texts, targets, sample_weight=np.ones(3))


def test_a_trigram_near_copy_test_also_keeps_boilerplate_renamed_by_another_company_out_of_training(tmp_path):
    spec = ModelSpec("clauses", LABELS, {label: 0.5 for label in LABELS}, baseline.ARCHITECTURE, aggregation="max_clause")
    renamed = ["及根据微经各服务条款及声明中的相关规定，或者微经认为必要的其他情形下。",
               "• 根据联众各服务条款及声明中的相关规定，或者联众认为必要的其他情形下。"]
    real = [Example("x1", renamed[0], [], group="ca4p:0001"), Example("x2", BANK[0][0], BANK[0][1], group="ca4p:0001"),
            Example("y1", renamed[1], [], group="ca4p:0002"), Example("y2", BANK[1][0], BANK[1][1], group="ca4p:0002")]
    authored = [Example(f"a{i}", text, labels) for i, (text, labels) in enumerate(BANK)]

    def trained_on(size: int) -> list[set[str]]:
        seen = []

        def fit(train_real: list[Example]) -> Model:
            seen.append({e.id for e in train_real})
            train_set = authored + train_real
            return Model(spec, TfidfLogReg(LABELS, c=10.0, min_df=1).fit([e.text for e in train_set],
                                                                          gold_matrix(train_set, LABELS)), tmp_path)

        cross_fit(real, [], [{"ca4p:0001"}, {"ca4p:0002"}], fit, log=lambda line: None, near_copy_size=size)
        return seen

    assert trained_on(5) == [{"y1", "y2"}, {"x1", "x2"}]  # 5-grams: the renamed twin is trained on
    assert trained_on(3) == [{"y2"}, {"x2"}]              # 3-grams: it is left out, the rest is kept
    with pytest.raises(ValueError, match="near_copy_ngram must be a character n-gram size from 2 to 10"):
        TrainConfig(task="clauses", data="data/clauses", output=str(tmp_path / "m"), real_document_folds=5,
                    near_copy_ngram=1)


def test_a_recall_weighted_f_beta_lowers_thresholds_and_is_refused_without_real_document_folds(tmp_path):
    gold = np.array([[1], [1], [1], [0], [0], [0], [0], [0]])
    scores = np.array([[0.9], [0.8], [0.3], [0.7], [0.6], [0.5], [0.4], [0.05]])
    f1 = tune_thresholds(gold, scores, ["x"])["x"]
    recall_first = tune_thresholds(gold, scores, ["x"], beta=2.0)["x"]
    assert f1 == 0.8 and recall_first == 0.3  # F1 stops at two of three; F2 reaches the third positive
    with pytest.raises(ValueError, match="other than 1 only with real_document_folds"):
        TrainConfig(task="clauses", data="data/clauses", output=str(tmp_path / "m"), threshold_beta=1.2)
    with pytest.raises(ValueError, match="choose threshold_beta or target_precision"):
        TrainConfig(task="clauses", data="data/clauses", output=str(tmp_path / "m"), real_document_folds=5,
                    threshold_beta=1.2, target_precision=0.9)
