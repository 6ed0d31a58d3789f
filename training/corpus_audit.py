"""Audits of the messages corpus written into its datasheet by ``build_corpus.py``.

- :func:`surface_cue_auc`: how well a model that sees *no words* — only 23 surface features
  (length, punctuation, 你/您, 【】, emoji, digits, Latin letters …) — separates "any label"
  from compliant. A high AUC means labels travel with the form of the text, a shortcut a
  model can learn instead of meaning. Measured with whole writers held out (grouped k-fold
  over writers) on corpus v2, and train → test on v1.
- :func:`agreement`: Cohen's κ per label between the writers' labels and an independent
  second labelling pass.
"""
from __future__ import annotations

import re
import unicodedata

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import cohen_kappa_score, roc_auc_score
from sklearn.model_selection import GroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

_EMOJI = re.compile("[\U0001F300-\U0001FAFF\u2600-\u27BF]")
_CJK = re.compile("[\u4e00-\u9fff]")
SURFACE_FEATURES = (
    "length", "log_length", "short_25", "long_150", "cjk_share", "digits", "latin", "spaces", "newlines",
    "comma", "full_stop", "exclamation", "question", "ellipsis", "tilde", "quotes", "brackets",
    "ni", "nin", "ni_without_nin", "lenticular", "emoji", "punctuation_share",
)


def surface_features(text: str) -> list[float]:
    """The 23 surface features of one text, in :data:`SURFACE_FEATURES` order."""
    n = max(len(text), 1)
    punctuation = sum(unicodedata.category(c).startswith("P") for c in text)
    ni, nin = text.count("你"), text.count("您")
    return [
        len(text), np.log1p(len(text)), len(text) <= 25, len(text) >= 150, len(_CJK.findall(text)) / n,
        sum(c.isdigit() for c in text), sum(c.isascii() and c.isalpha() for c in text), text.count(" "), text.count("\n"),
        text.count("，") + text.count(","), text.count("。"), text.count("！") + text.count("!"),
        text.count("？") + text.count("?"), text.count("…") + text.count("..."), text.count("~") + text.count("～"),
        sum(text.count(q) for q in "“”\"「」"), sum(text.count(b) for b in "()（）[]"),
        ni, nin, ni > 0 and nin == 0, "【" in text, len(_EMOJI.findall(text)), punctuation / n,
    ]


def _matrix(texts: list[str]) -> np.ndarray:
    return np.array([surface_features(t) for t in texts], dtype=np.float64)


def _model():
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))


def surface_cue_auc(texts: list[str], positive: list[bool], groups: list[str], folds: int = 5) -> float:
    """ROC-AUC of a surface-features-only logistic regression, out of fold with groups held out."""
    x, y = _matrix(texts), np.array(positive, dtype=int)
    scores = np.zeros(len(texts))
    for train, test in GroupKFold(n_splits=min(folds, len(set(groups)))).split(x, y, groups):
        scores[test] = _model().fit(x[train], y[train]).predict_proba(x[test])[:, 1]
    return round(float(roc_auc_score(y, scores)), 3)


def surface_cue_auc_split(train_texts: list[str], train_positive: list[bool], test_texts: list[str],
                          test_positive: list[bool]) -> float:
    """ROC-AUC of the surface-features-only model trained on one split and scored on another."""
    model = _model().fit(_matrix(train_texts), np.array(train_positive, dtype=int))
    return round(float(roc_auc_score(np.array(test_positive, dtype=int), model.predict_proba(_matrix(test_texts))[:, 1])), 3)


def agreement(first: dict[str, list[str]], second: dict[str, list[str]], labels: list[str]) -> dict:
    """Cohen's κ per label (and for "any label") between two labellings of the same ids."""
    ids = sorted(set(first) & set(second))
    result = {"texts": len(ids), "exact_agreement": round(sum(set(first[i]) == set(second[i]) for i in ids) / len(ids), 3)}
    for label in labels + ["any"]:
        a = [bool(first[i]) if label == "any" else label in first[i] for i in ids]
        b = [bool(second[i]) if label == "any" else label in second[i] for i in ids]
        result[label] = {"kappa": round(float(cohen_kappa_score(a, b)), 3), "first": sum(a), "second": sum(b)}
    return result
