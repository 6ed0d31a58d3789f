"""One model object: architectures by versioned name, symmetric save/load, the baseline as a
scikit-learn estimator, and transformer windows from the tokenizers library alone."""
from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score

from nlpguard.errors import ModelError
from nlpguard.runtime import registry
from nlpguard.runtime.baseline import ARCHITECTURE as BASELINE, VOCAB_FILE, TfidfLogReg, analyze
from nlpguard.runtime.modeldir import Model, open_bundle

from .conftest import REPO, TINY_MESSAGES

LABELS = ["intimidation", "privacy_disclosure", "insult"]
TEXTS = [text for text, _ in TINY_MESSAGES]
TARGETS = np.array([[int(label in labels) for label in LABELS] for _, labels in TINY_MESSAGES])
PROBES = ["明天带人去你单位门口等你", "把你欠钱的事发到你家族群", "废物，还钱", "【银行】本月账单已出", "🙂 ok 收到 Thanks"]


def test_architectures_are_looked_up_by_versioned_name():
    assert registry.architecture(BASELINE) is TfidfLogReg
    assert {"nlpguard.TfidfLogReg.v1", "nlpguard.HFSequenceClassifier.v1"} <= set(registry.names())
    with pytest.raises(ModelError, match="unknown architecture 'acme.Model.v9'.*nlpguard.TfidfLogReg.v1"):
        registry.architecture("acme.Model.v9")
    with pytest.raises(ModelError, match="already registered"):
        registry.register(BASELINE, "acme.models:Other")


def test_a_model_with_an_unknown_architecture_names_it(tiny_model, tmp_path):
    source, _ = tiny_model
    copy = tmp_path / "copy"
    Model.load(source, "messages").save(copy)
    config = json.loads((copy / "config.json").read_text(encoding="utf-8"))
    config["nlpguard"]["architecture"] = "acme.Model.v9"
    (copy / "config.json").write_text(json.dumps(config), encoding="utf-8")
    with pytest.raises(ModelError, match="unknown architecture 'acme.Model.v9'"):
        Model.load(copy, "messages")


def test_baseline_save_then_load_scores_alike_and_writes_the_same_files(tiny_model, tmp_path):
    source, _ = tiny_model
    model = Model.load(source, "messages")
    saved = model.save(tmp_path / "again")
    again = Model.load(saved, "messages")
    assert again.spec == model.spec and again.path == saved
    np.testing.assert_array_equal(again.scorer.predict_proba(PROBES), model.scorer.predict_proba(PROBES))
    for name in ("config.json", "baseline.safetensors", "baseline_vocab.json"):
        assert (saved / name).read_bytes() == (source / name).read_bytes(), name


def test_negation_scope_reads_what_follows_a_negator_in_its_segment_as_negated():
    text = "我们不会联系您的通讯录联系人，但会通知您本人。"
    plain = analyze(text)
    assert "w:通讯录" in plain and not any(feature.startswith("n") for feature in plain)
    scoped = analyze(text, negation_scope=True)
    assert {"w:不会", "nw:联系", "nw:通讯录", "nc:通讯录"} <= set(scoped)
    assert "w:通讯录" not in scoped and "w:联系" not in scoped
    assert {"w:通知", "w:本人"} <= set(scoped)  # the next segment is read as it is
    listing = analyze("我们收集的信息包括但不限于通讯录、短信记录。", negation_scope=True)  # bare 不 negates nothing
    assert "w:通讯录" in listing and not any(feature.startswith("n") for feature in listing)


def test_a_negation_scope_model_saves_its_analyzer_and_loads_alike(tmp_path):
    clauses = Model.load("baseline", "clauses")
    assert clauses.scorer.negation_scope and not Model.load("baseline", "messages").scorer.negation_scope
    saved = clauses.save(tmp_path / "clauses")
    assert json.loads((saved / VOCAB_FILE).read_text(encoding="utf-8"))["analyzer"].endswith("negation_scope.v1")
    again = Model.load(saved, "clauses")
    probes = ["我们不会读取您的通讯录。", "我们将读取您的通讯录。"]
    np.testing.assert_array_equal(again.scorer.predict_proba(probes), clauses.scorer.predict_proba(probes))
    features = json.loads((saved / VOCAB_FILE).read_text(encoding="utf-8"))
    (saved / VOCAB_FILE).write_text(json.dumps(features | {"analyzer": "acme.v9"}, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(ModelError, match="names analyzer 'acme.v9'"):
        Model.load(saved, "clauses")


def test_transformer_save_then_load_scores_alike(tiny_classifier, tmp_path):
    source, _ = tiny_classifier
    model = Model.load(source, "messages")
    saved = model.save(tmp_path / "again")
    again = Model.load(saved, "messages")
    assert again.spec == model.spec
    assert json.loads((saved / "tokenizer_config.json").read_text(encoding="utf-8"))["model_max_length"] == 32
    np.testing.assert_allclose(again.scorer.predict_proba(PROBES), model.scorer.predict_proba(PROBES), atol=1e-6)


def test_an_onnx_loaded_model_saves_as_the_files_it_was_loaded_from(tiny_classifier, tmp_path):
    pytest.importorskip("onnxscript")
    pytest.importorskip("onnxruntime")
    from nlpguard.training.onnx_export import export_onnx

    source, _ = tiny_classifier
    export_onnx(source, tmp_path / "onnx")
    model = Model.load(tmp_path / "onnx", "messages", backend="onnx")
    saved = model.save(tmp_path / "copy")
    assert (saved / "model.onnx").read_bytes() == (tmp_path / "onnx" / "model.onnx").read_bytes()
    again = Model.load(saved, "messages", backend="onnx")
    np.testing.assert_array_equal(again.scorer.predict_proba(PROBES), model.scorer.predict_proba(PROBES))
    torch_scores = Model.load(source, "messages", backend="torch").scorer.predict_proba(PROBES)
    np.testing.assert_allclose(again.scorer.predict_proba(PROBES), torch_scores, atol=1e-4)


def test_a_bundle_is_opened_once_with_every_task_and_its_spec():
    bundle = open_bundle("baseline")
    assert set(bundle.tasks) == {"messages", "clauses"}
    assert bundle.directory("clauses").spec.architecture == BASELINE
    with pytest.raises(ValueError, match="unknown task"):
        bundle.directory("emails")


def test_baseline_follows_scikit_learn_estimator_conventions():
    estimator = TfidfLogReg(LABELS, c=4.0, min_df=1)
    assert estimator.get_params()["c"] == 4.0 and clone(estimator).get_params() == estimator.get_params()
    with pytest.raises(NotFittedError):
        estimator.predict_proba(PROBES)
    assert estimator.fit(TEXTS, TARGETS) is estimator
    assert estimator.coef_.shape == (3, len(estimator.vectorizer_.vocabulary_)) and estimator.intercept_.shape == (3,)
    proba = estimator.predict_proba(TEXTS)
    assert proba.shape == (len(TEXTS), 3) and ((proba >= 0) & (proba <= 1)).all()
    np.testing.assert_array_equal(estimator.predict(TEXTS), (proba >= 0.5).astype(int))
    np.testing.assert_array_equal(estimator.predict(TEXTS), TARGETS)  # fits its own training texts
    with pytest.raises(ValueError, match="one column per label"):
        TfidfLogReg(LABELS).fit(TEXTS, TARGETS[:, :2])


def test_baseline_works_with_scikit_learn_model_selection():
    texts, targets = TEXTS * 3, np.vstack([TARGETS] * 3)  # every fold sees every label
    scores = cross_val_score(TfidfLogReg(LABELS, min_df=1), texts, targets, cv=KFold(3), scoring="f1_macro")
    assert scores.shape == (3,) and (scores > 0.9).all()
    search = GridSearchCV(TfidfLogReg(LABELS, min_df=1), {"c": [0.01, 16.0]}, cv=KFold(3), scoring="f1_macro")
    search.fit(texts, targets)
    assert len(search.cv_results_["mean_test_score"]) == 2 and search.best_params_["c"] in (0.01, 16.0)
    np.testing.assert_array_equal(search.best_estimator_.predict(TEXTS), TARGETS)  # refitted on all texts


@pytest.mark.parametrize("model_dir", ["nlpguard/models/zh-bert-small/messages", "tiny"])
def test_windows_from_tokenizers_alone_equal_the_transformers_tokenizer(model_dir, tiny_backbone):
    transformers = pytest.importorskip("transformers")
    from nlpguard.runtime.transformer import WindowTokenizer

    directory = tiny_backbone if model_dir == "tiny" else REPO / model_dir
    reference = transformers.AutoTokenizer.from_pretrained(str(directory))
    texts = ["您好，您的账单已逾期。ABC Def 123 请及时还款！" * 12, "短", "🙂 emoji 和 ＦＵＬＬ　ＷＩＤＴＨ", "[SEP] 在文本里",
             "一" * 500]
    expected = reference(texts, truncation=True, max_length=48, stride=16, return_overflowing_tokens=True, padding=False)
    windows, owners = WindowTokenizer.from_directory(directory, 48, 16).windows(texts)
    assert owners == list(expected["overflow_to_sample_mapping"]) and len(set(owners)) == len(texts)
    for key in reference.model_input_names:
        assert windows[key] == expected[key], key
    padded = reference.pad({k: [expected[k][i] for i in (0, 13, 14)] for k in reference.model_input_names}, return_tensors="np")
    ours = WindowTokenizer.from_directory(directory, 48, 16).pad(windows, [0, 13, 14])
    for key in reference.model_input_names:
        np.testing.assert_array_equal(ours[key], padded[key])
