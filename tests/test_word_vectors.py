"""Averaged pretrained word vectors beside the baseline's n-grams: meaning past the training words,
a saved table that scores exactly like the trained one, and clear errors for missing vectors."""
import json

import numpy as np
import pytest
from safetensors.numpy import save_file

from nlpguard.errors import FetchError, ModelError
from nlpguard.runtime.baseline import VOCAB_FILE, TfidfLogReg
from nlpguard.runtime.modeldir import Model, ModelSpec
from nlpguard.runtime.word_vectors import WordAverage
from nlpguard.training.backbones import word_vector_table
from nlpguard.training.train import TrainConfig

LABELS = ["irrevocable_consent"]
# 保留 and 存储 (keep, store) point one way, 删除 and 清空 (delete, empty) the other; the rest is noise.
WORDS = ["保留", "存储", "删除", "清空", "我们", "信息", "账户", "注销"]
RNG = np.random.default_rng(3)
KEEP, DROP = RNG.normal(size=16), RNG.normal(size=16)
MATRIX = np.vstack([KEEP, KEEP + 0.1 * RNG.normal(size=16), DROP, DROP + 0.1 * RNG.normal(size=16),
                    *RNG.normal(size=(4, 16))]).astype(np.float32)
TRAIN = ["注销账户后我们仍会保留您的信息", "我们将长期保留您的账户信息", "账户注销后信息继续保留",
         "注销账户后我们会删除您的信息", "我们将及时删除您的账户信息", "账户注销后信息立即删除"]
TARGETS = np.array([[1], [1], [1], [0], [0], [0]])


def _fit(word_vectors: WordAverage | None) -> TfidfLogReg:
    return TfidfLogReg(LABELS, c=10.0, min_df=1, word_vectors=word_vectors).fit(TRAIN, TARGETS)


def test_a_word_never_seen_in_training_takes_the_label_of_the_words_near_it():
    store, erase = "注销账户后我们会存储您的信息", "注销账户后我们会清空您的信息"  # 存储 / 清空: in no training text
    plain = _fit(None).predict_proba([store, erase])[:, 0]
    vectors = _fit(WordAverage.from_vectors(WORDS, MATRIX)).predict_proba([store, erase])[:, 0]
    assert abs(plain[0] - plain[1]) < 0.01  # no n-gram of 存储 or 清空 was seen: the n-grams cannot tell them apart
    assert vectors[0] - vectors[1] > 0.2 and vectors[0] > 0.5 > vectors[1]


def test_the_table_is_unit_vectors_in_int8_and_a_text_without_known_words_adds_nothing():
    table = WordAverage.from_vectors(WORDS + ["空"], np.vstack([MATRIX, np.zeros((1, 16), np.float32)]), limit=9)
    assert table.words == WORDS and table.codes.dtype == np.int8  # the zero vector is dropped
    np.testing.assert_allclose(np.linalg.norm(table.vectors, axis=1), 1.0, atol=0.02)
    rows = table.features(["保留", "天气晴朗", ""], segment=lambda text: [text]).toarray()
    assert np.linalg.norm(rows[0]) == pytest.approx(1.0) and not rows[1:].any()
    assert WordAverage.from_vectors(WORDS, MATRIX, limit=3).words == WORDS[:3]
    heavy = WordAverage.from_vectors(WORDS, MATRIX, weight=2.5).features(["保留删除"], segment=lambda t: [t[:2], t[2:]])
    assert np.linalg.norm(heavy.toarray()) == pytest.approx(2.5)
    with pytest.raises(ValueError, match="weight must be positive"):
        WordAverage.from_vectors(WORDS, MATRIX, weight=0)


def test_a_saved_model_with_word_vectors_scores_exactly_like_the_trained_one(tmp_path):
    scorer = _fit(WordAverage.from_vectors(WORDS, MATRIX, source={"name": "fake", "licence": "MIT"}))
    spec = ModelSpec("clauses", LABELS, {LABELS[0]: 0.5}, "nlpguard.TfidfLogReg.v1", aggregation="max_clause")
    Model(spec, scorer, tmp_path).save(tmp_path)
    features = json.loads((tmp_path / VOCAB_FILE).read_text(encoding="utf-8"))
    assert features["analyzer"] == "jieba_words+bigrams+chars+word_vectors.v1"
    assert features["word_vectors"]["source"] == {"name": "fake", "licence": "MIT"}
    loaded = TfidfLogReg.load(tmp_path, spec)
    texts = TRAIN + ["注销后存储信息", "天气"]
    np.testing.assert_array_equal(loaded.predict_proba(texts), scorer.predict_proba(texts))
    np.testing.assert_array_equal(loaded.word_vectors.codes, scorer.word_vectors.codes)


def test_a_word_vector_model_read_by_an_nlpguard_without_word_vectors_is_refused(tmp_path):
    spec = ModelSpec("clauses", LABELS, {LABELS[0]: 0.5}, "nlpguard.TfidfLogReg.v1", aggregation="max_clause")
    _fit(WordAverage.from_vectors(WORDS, MATRIX)).save(tmp_path)
    features = json.loads((tmp_path / VOCAB_FILE).read_text(encoding="utf-8"))
    features["analyzer"] = "jieba_words+bigrams+chars+word_vectors.v2"  # what a later version might write
    (tmp_path / VOCAB_FILE).write_text(json.dumps(features, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(ModelError, match="upgrade nlpguard"):
        TfidfLogReg.load(tmp_path, spec)


def _fetched(directory, kind="word-vectors"):
    directory.mkdir()
    (directory / "vocab.json").write_text(json.dumps(WORDS, ensure_ascii=False), encoding="utf-8")
    save_file({"vectors": MATRIX}, str(directory / "vectors.safetensors"))
    (directory / "backbone.json").write_text(json.dumps({
        "name": "word2vec-zh", "kind": kind, "source": "synonyms==3.10.2", "sha256": "0" * 64,
        "licence": {"name": "MIT", "url": "https://example.org"}, "commercial_use": True}), encoding="utf-8")
    return directory


def test_word_vector_tables_come_from_fetched_directories_with_their_licence(tmp_path):
    table = word_vector_table(str(_fetched(tmp_path / "w2v")), limit=5, weight=1.5)
    assert table.words == WORDS[:5] and table.weight == 1.5
    assert table.source["name"] == "word2vec-zh" and table.source["licence"] == "MIT" and table.source["commercial_use"]
    with pytest.raises(FetchError, match="nlpguard backbones fetch word2vec-zh --dir"):
        word_vector_table(str(tmp_path / "missing"), limit=5, weight=1.0)
    with pytest.raises(ModelError, match="holds no word vectors"):
        word_vector_table(str(_fetched(tmp_path / "bert", kind="bert")), limit=5, weight=1.0)


def test_word_vectors_are_a_baseline_setting():
    with pytest.raises(ValueError, match="features of the baseline"):
        TrainConfig(task="clauses", data="data/clauses", output="x", backbone="some/bert", word_vectors="word2vec-zh")
    with pytest.raises(ValueError, match="word_vector_weight"):
        TrainConfig(task="clauses", data="data/clauses", output="x", word_vectors="word2vec-zh", word_vector_weight=0)
