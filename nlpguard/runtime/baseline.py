"""Baseline scorer: jieba words + character n-grams, TF-IDF (optionally with averaged pretrained word
vectors beside them, :mod:`nlpguard.runtime.word_vectors`), one-vs-rest logistic regression.

Saved without pickle: the vocabulary and settings are JSON, the IDF weights
and the per-label coefficients a safetensors file. Loading rebuilds the same
scikit-learn vectoriser, so training and inference share one code path.
"""
from __future__ import annotations

import functools
import json
import re
from pathlib import Path

import numpy as np
import rjieba
from safetensors.numpy import load_file, save_file
from scipy import sparse
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import normalize
from sklearn.utils.validation import check_is_fitted

from ..errors import ModelError
from ..text.normalize import normalize_text
from .word_vectors import WordAverage

ARCHITECTURE = "nlpguard.TfidfLogReg.v1"
WEIGHTS_FILE = "baseline.safetensors"
VOCAB_FILE = "baseline_vocab.json"

# Domain words the segmenter should keep whole, so that e.g. 通讯录 is one word feature.
DOMAIN_WORDS = (
    "通讯录", "爆通讯录", "通话记录", "紧急联系人", "老赖", "不要脸", "上门", "曝光", "朋友圈",
    "坐牢", "立案", "拘留", "逮捕", "征信", "罚息", "视为同意", "不可撤销", "最终解释权",
    "包括但不限于", "不承担任何责任", "概不负责", "单方", "催收", "逾期", "法务部",
)
DOMAIN_WORD_FREQ = 20000
# jieba-rs keeps "9am-5pm", "t_t", "www.x.com" whole where jieba splits them into its own
# Latin pieces (jieba's finalseg pattern: letters/digits, an optional decimal part and %).
_LATIN_PIECES = re.compile(r"[a-zA-Z0-9]+(?:\.\d+)?%?|.", re.S)
# jieba's own block patterns (jieba.re_han_default, jieba.re_skip_default).
_JIEBA_BLOCK = re.compile("([\u4E00-\u9FD5a-zA-Z0-9+#&\\._%\\-]+)")
_JIEBA_SPACE = re.compile(r"(\r\n|\s)")
# Negation scope (clause models): what follows one of these words, up to the end of its clause
# segment, is read as negated. Bare 不 is not one of them: 包括但不限于, 不可撤销, 不定期 are not negations.
NEGATORS = ("不会", "不得", "不将", "不再", "绝不", "决不", "不予", "不向", "不对", "不与", "不用于", "禁止", "严禁",
            "无需", "不需要", "不读取", "不收集", "不透露", "不披露", "不提供", "不共享", "不联系", "不获取", "不调取",
            "不上传", "不访问", "从不", "并不", "不要求", "不强制", "不作为", "不影响", "不以")
_NEGATOR = re.compile("|".join(sorted(NEGATORS, key=len, reverse=True)))
_SEGMENT_END = re.compile(r"[，。；;,！!？?\n：:]")
# The analyser each saved vocabulary names: (whether it reads negation scope, whether it adds averaged word vectors).
ANALYZERS = {"jieba_words+bigrams+chars.v1": (False, False),
             "jieba_words+bigrams+chars+negation_scope.v1": (True, False),
             "jieba_words+bigrams+chars+word_vectors.v1": (False, True),
             "jieba_words+bigrams+chars+negation_scope+word_vectors.v1": (True, True)}


@functools.lru_cache(maxsize=1)
def _segmenter() -> rjieba.Jieba:
    segmenter = rjieba.Jieba()
    for word in DOMAIN_WORDS:
        segmenter.add_word(word, DOMAIN_WORD_FREQ, None)
    return segmenter


def segment(text: str) -> list[str]:
    """Words of ``text`` as jieba (default dictionary, HMM, plus :data:`DOMAIN_WORDS`) cuts them.

    The text is split into blocks as jieba splits it (its Han-block pattern: CJK ideographs of
    the basic block, Latin letters, digits and ``+#&._%-``; anything else — rarer ideographs,
    emoji, punctuation — one token per character, whitespace as is); each block is cut by
    jieba-rs (``rjieba``, compiled), and Latin tokens are split at inner punctuation as jieba
    splits them. The words are identical to jieba's (checked on 20,000 real SMS and the
    authored corpus by the tests) at about a tenth of the time.
    """
    cut = _segmenter().cut
    words: list[str] = []
    for k, block in enumerate(_JIEBA_BLOCK.split(text)):
        if not block:
            continue
        if k % 2 == 0:  # outside jieba's Han blocks: whitespace as is, anything else char by char
            for piece in _JIEBA_SPACE.split(block):
                words.extend([piece] if _JIEBA_SPACE.fullmatch(piece) else piece)
            continue
        for word in cut(block):
            if len(word) > 1 and word.isascii() and not word.isalnum() and any(c.isalnum() for c in word):
                words.extend(_LATIN_PIECES.findall(word))
            else:
                words.append(word)
    return words


def _piece_features(piece: str, char_ngrams: tuple[int, int], prefix: str = "") -> list[str]:
    words = [w for w in segment(piece) if w.strip()]
    features = [f"{prefix}w:{w}" for w in words]
    features += [f"{prefix}b:{a}|{b}" for a, b in zip(words, words[1:])]
    compact = piece.replace(" ", "")
    low, high = char_ngrams
    for n in range(low, high + 1):
        features += [f"{prefix}c:{compact[i:i + n]}" for i in range(len(compact) - n + 1)]
    return features


def analyze(text: str, char_ngrams: tuple[int, int] = (1, 3), negation_scope: bool = False) -> list[str]:
    """Features of one text: its words (``w:``), word bigrams (``b:``) and char n-grams (``c:``).

    The text is normalised first (see :mod:`nlpguard.text.normalize`). With ``negation_scope`` the
    text is read segment by segment (split at ，。；,;!?：and newlines, which are dropped); in a
    segment holding one of :data:`NEGATORS`, the features of what follows the first one are
    prefixed ``n`` (``nw:``, ``nb:``, ``nc:``), so "不会联系您的通讯录联系人" does not give the
    features of "联系您的通讯录联系人".
    """
    norm = normalize_text(text)
    if not negation_scope:
        return _piece_features(norm, char_ngrams)
    features: list[str] = []
    for part in _SEGMENT_END.split(norm):
        negator = _NEGATOR.search(part)
        if negator is None:
            features += _piece_features(part, char_ngrams)
        else:
            features += _piece_features(part[:negator.end()], char_ngrams)
            features += _piece_features(part[negator.end():], char_ngrams, prefix="n")
    return features


class TfidfLogReg(ClassifierMixin, BaseEstimator):
    """Multi-label TF-IDF + logistic-regression scorer with independent sigmoid scores.

    A scikit-learn estimator: parameters in ``__init__``, ``fit`` returns the estimator,
    fitted attributes end in ``_`` (``vectorizer_``, ``coef_``, ``word_coef_``, ``intercept_``),
    ``predict_proba`` gives the scores and ``predict`` the 0/1 label matrix at 0.5, so
    ``clone``, ``cross_val_score`` and ``GridSearchCV`` work on it (``scoring="f1_macro"``).

    Args:
        labels: label ids, in column order of the targets.
        c: inverse regularisation strength of each logistic regression.
        min_df: drop features seen in fewer training texts.
        max_features: keep at most this many features (most frequent first).
        char_ngrams: smallest and largest character n-gram.
        negation_scope: read what follows a negator as negated (see :func:`analyze`).
        word_vectors: averaged pretrained word vectors added to each text's TF-IDF row
            (:class:`~nlpguard.runtime.word_vectors.WordAverage`), saved with the model; None: n-grams only.
    """

    def __init__(self, labels: list[str] | None = None, c: float = 16.0, min_df: int = 2,
                 max_features: int | None = 300_000, char_ngrams: tuple[int, int] = (1, 3),
                 negation_scope: bool = False, word_vectors: WordAverage | None = None):
        self.labels = labels
        self.c = c
        self.min_df = min_df
        self.max_features = max_features
        self.char_ngrams = char_ngrams
        self.negation_scope = negation_scope
        self.word_vectors = word_vectors

    @staticmethod
    def _vectorizer(char_ngrams: tuple[int, int], vocabulary: dict[str, int] | None = None, min_df: int = 2,
                    max_features: int | None = 300_000, negation_scope: bool = False) -> TfidfVectorizer:
        return TfidfVectorizer(analyzer=functools.partial(analyze, char_ngrams=tuple(char_ngrams), negation_scope=negation_scope),
                               sublinear_tf=True, min_df=min_df, max_features=max_features, vocabulary=vocabulary,
                               dtype=np.float32)

    def fit(self, texts: list[str], targets: np.ndarray, sample_weight: np.ndarray | None = None) -> "TfidfLogReg":
        """Fit one balanced logistic regression per label on TF-IDF features; returns the estimator.

        Args:
            texts: training texts.
            targets: 0/1 array of shape (len(texts), len(labels)).
            sample_weight: optional weights, one per text (shape ``(len(texts),)``) or one per text
                and label (shape of ``targets``: column ``k`` weighs label ``k``'s regression).

        Raises:
            ValueError: ``targets`` does not have one column per label, ``sample_weight`` has
                neither shape, or a label has no positive (or no negative) example.
        """
        targets = np.asarray(targets)
        if self.labels is None or targets.ndim != 2 or targets.shape[1] != len(self.labels):
            raise ValueError(f"targets must have one column per label of {self.labels}, got shape {targets.shape}")
        if sample_weight is not None:
            sample_weight = np.asarray(sample_weight, dtype=np.float64)
            if sample_weight.shape not in ((len(texts),), targets.shape):
                raise ValueError(f"sample_weight must have shape ({len(texts)},) or {targets.shape}, got {sample_weight.shape}")
        vectorizer = self._vectorizer(self.char_ngrams, min_df=self.min_df, max_features=self.max_features,
                                      negation_scope=self.negation_scope)
        features = self._with_word_vectors(vectorizer.fit_transform(texts), texts)
        coef = np.zeros((len(self.labels), features.shape[1]), dtype=np.float32)
        intercept = np.zeros(len(self.labels), dtype=np.float32)
        for k, label in enumerate(self.labels):
            column = targets[:, k]
            if column.min() == column.max():
                raise ValueError(f"label {label!r} has {'no' if column.max() == 0 else 'only'} positive examples in training data")
            model = LogisticRegression(C=self.c, class_weight="balanced", max_iter=2000, solver="liblinear")
            weights = sample_weight[:, k] if sample_weight is not None and sample_weight.ndim == 2 else sample_weight
            model.fit(features, column, sample_weight=weights)
            coef[k] = model.coef_[0]
            intercept[k] = model.intercept_[0]
        terms = len(vectorizer.vocabulary_)
        return self._fitted(vectorizer, coef[:, :terms], intercept, coef[:, terms:])

    def _with_word_vectors(self, tfidf: sparse.csr_matrix, texts: list[str]) -> sparse.csr_matrix:
        if self.word_vectors is None:
            return tfidf
        return sparse.hstack([tfidf, self.word_vectors.features(texts, segment)], format="csr")

    def _fitted(self, vectorizer: TfidfVectorizer, coef: np.ndarray, intercept: np.ndarray,
                word_coef: np.ndarray) -> "TfidfLogReg":
        self.vectorizer_ = vectorizer
        self.coef_ = coef.astype(np.float32)
        self.word_coef_ = word_coef.astype(np.float32)
        self.intercept_ = intercept.astype(np.float32)
        self.classes_ = np.arange(len(self.labels))
        return self

    def transform(self, texts: list[str]) -> sparse.csr_matrix:
        """The fitted vectoriser's TF-IDF rows of ``texts`` (same values as its ``transform``).

        Features are counted for the whole batch at once in scipy instead of one dictionary
        update per feature; sublinear TF, IDF and L2 norm are applied as scikit-learn's
        ``TfidfTransformer`` applies them, in the same order and precision.
        """
        check_is_fitted(self, "vectorizer_")
        column_of = self.vectorizer_.vocabulary_.get
        columns: list[int] = []
        lengths = []
        for text in texts:
            found = [c for c in map(column_of, analyze(text, self.char_ngrams, self.negation_scope)) if c is not None]
            columns.extend(found)
            lengths.append(len(found))
        rows = np.repeat(np.arange(len(texts)), lengths)
        counts = sparse.csr_matrix((np.ones(len(columns), dtype=np.float32), (rows, np.array(columns, dtype=np.int64))),
                                   shape=(len(texts), len(self.vectorizer_.vocabulary_)), dtype=np.float32)
        counts.sum_duplicates()
        counts.sort_indices()
        np.log(counts.data, counts.data)
        counts.data += 1.0
        counts.data *= self.vectorizer_.idf_[counts.indices]
        return normalize(counts, norm="l2", copy=False)

    def decision_function(self, texts: list[str]) -> np.ndarray:
        """Logits of shape (len(texts), len(labels))."""
        if not texts:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        logits = np.asarray(self.transform(texts) @ self.coef_.T + self.intercept_)
        if self.word_vectors is not None:
            logits += np.asarray(self.word_vectors.features(texts, segment) @ self.word_coef_.T)
        return logits

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        """Sigmoid scores of shape (len(texts), len(labels)), each label on its own."""
        return (1.0 / (1.0 + np.exp(-self.decision_function(texts)))).astype(np.float32)

    def predict(self, texts: list[str]) -> np.ndarray:
        """0/1 label matrix at 0.5 (scikit-learn's convention; nlpguard applies tuned thresholds instead)."""
        return (self.predict_proba(texts) >= 0.5).astype(np.int64)

    def save(self, directory: str | Path) -> dict:
        """Write the feature settings and vocabulary (JSON) and the weights (safetensors) into ``directory``;
        returns the keys this architecture adds to ``config.json`` (none). With word vectors, their words
        and weight go into the JSON, their int8 table and the labels' weights on them into safetensors."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        vocabulary = sorted(self.vectorizer_.vocabulary_, key=self.vectorizer_.vocabulary_.get)
        reads = (bool(self.negation_scope), self.word_vectors is not None)
        analyzer = next(name for name, flags in ANALYZERS.items() if flags == reads)
        features = {"analyzer": analyzer, "char_ngrams": list(self.char_ngrams), "vocabulary": vocabulary}
        tensors = {"idf": self.vectorizer_.idf_.astype(np.float32), "coef": self.coef_, "intercept": self.intercept_}
        if self.word_vectors is not None:
            features["word_vectors"] = self.word_vectors.settings()
            tensors |= self.word_vectors.tensors() | {"word_coef": self.word_coef_}
        (directory / VOCAB_FILE).write_text(json.dumps(features, ensure_ascii=False), encoding="utf-8")
        save_file(tensors, str(directory / WEIGHTS_FILE))
        (directory / WEIGHTS_FILE).chmod(0o644)  # safetensors writes owner-only; a model folder is for sharing
        return {}

    @classmethod
    def load(cls, directory: str | Path, spec, backend: str = "auto", threads: int | None = None) -> "TfidfLogReg":
        """Load a scorer saved by :meth:`save`; the labels come from the model's spec.

        ``backend`` and ``threads`` are the arguments every architecture takes; the baseline
        has one runtime and runs in numpy and scipy.
        """
        cls.check_runtime(directory, spec, backend)
        directory = Path(directory)
        features = json.loads((directory / VOCAB_FILE).read_text(encoding="utf-8"))
        vocabulary, char_ngrams = features["vocabulary"], tuple(features["char_ngrams"])
        if features.get("analyzer") not in ANALYZERS:
            raise ModelError(f"{directory / VOCAB_FILE} names analyzer {features.get('analyzer')!r}; this nlpguard reads "
                             f"{', '.join(ANALYZERS)}: upgrade nlpguard to load this model")
        negation_scope, reads_word_vectors = ANALYZERS[features["analyzer"]]
        tensors = load_file(str(directory / WEIGHTS_FILE))
        word_vectors = WordAverage.load(features["word_vectors"], tensors) if reads_word_vectors else None
        word_coef = tensors["word_coef"] if reads_word_vectors else np.zeros((len(spec.labels), 0), dtype=np.float32)
        coef, intercept, idf = tensors["coef"], tensors["intercept"], tensors["idf"]
        labels = list(spec.labels)
        dimensions = word_vectors.dimensions if word_vectors is not None else 0
        if (coef.shape != (len(labels), len(vocabulary)) or idf.shape != (len(vocabulary),)
                or word_coef.shape != (len(labels), dimensions)):
            raise ValueError(f"weights in {directory} do not match its vocabulary ({len(vocabulary)}), word vectors "
                             f"({dimensions} dimensions) and labels ({len(labels)})")
        vectorizer = cls._vectorizer(char_ngrams, vocabulary={term: i for i, term in enumerate(vocabulary)},
                                     negation_scope=negation_scope)
        vectorizer.idf_ = idf
        return cls(labels, char_ngrams=char_ngrams, negation_scope=negation_scope,
                   word_vectors=word_vectors)._fitted(vectorizer, coef, intercept, word_coef)

    @staticmethod
    def check_runtime(directory: str | Path, spec, backend: str = "auto") -> None:
        """ModelError when ``backend`` is asked of a baseline model (it applies to transformers only)."""
        if backend != "auto":
            raise ModelError(f"model {directory} is a baseline model; --backend {backend} applies to transformer models only")
