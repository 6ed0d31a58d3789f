"""Averaged word vectors: a dense view of a text that carries meaning past the words seen in training.

The n-gram features of the baseline know only the words and characters of its training texts; a
real policy that says 存储 where the training clauses said 保留 shares none of them. Pretrained
word vectors (``nlpguard backbones fetch word2vec-zh``) place such words near each other, so the
mean of a text's word vectors, given to the same logistic regressions beside the n-grams, lets a
label's weight reach words the labelled clauses never used.

The table a model keeps is the backbone's most frequent words, each vector scaled to unit length
and stored as int8 with one scale per word (a quarter of float32's size); training reads the same
stored values, so saved and freshly trained models score alike.
"""
from __future__ import annotations

import numpy as np
from scipy import sparse

from ..text.normalize import normalize_text


class WordAverage:
    """Unit-length mean of a text's word vectors, times ``weight``; words missing from the table are skipped.

    Args:
        words: the table's words, one per row of ``codes``.
        codes: int8 array (len(words), dimensions): each row a unit vector divided by its ``scales`` entry.
        scales: float32 array (len(words),).
        weight: factor on the unit mean (the dense block's size beside the L2-normalised TF-IDF row).
        source: what the vectors came from (a fetched backbone's record), kept with the model.
    """

    def __init__(self, words: list[str], codes: np.ndarray, scales: np.ndarray, weight: float = 1.0,
                 source: dict | None = None):
        if codes.dtype != np.int8 or codes.shape[0] != len(words) or scales.shape != (len(words),):
            raise ValueError(f"word vectors: {len(words)} words need int8 codes of {len(words)} rows and as many "
                             f"scales, got {codes.dtype} {codes.shape} and {scales.shape}")
        if weight <= 0:
            raise ValueError(f"word vector weight must be positive, got {weight}")
        self.words, self.codes, self.scales = list(words), codes, scales.astype(np.float32)
        self.weight, self.source = float(weight), source
        self.row_of = {word: i for i, word in enumerate(self.words)}
        self.vectors = codes.astype(np.float32) * self.scales[:, None]

    @classmethod
    def from_vectors(cls, words: list[str], matrix: np.ndarray, limit: int | None = None, weight: float = 1.0,
                     source: dict | None = None) -> "WordAverage":
        """A table of the first ``limit`` words (a word2vec file lists the most frequent first), each vector
        scaled to unit length and quantised to int8; rows of zeros are dropped."""
        words, matrix = list(words)[:limit], np.asarray(matrix[:limit], dtype=np.float32)
        norms = np.linalg.norm(matrix, axis=1)
        keep = norms > 0
        unit = matrix[keep] / norms[keep, None]
        scales = np.abs(unit).max(axis=1) / 127.0
        codes = np.round(unit / scales[:, None]).astype(np.int8)
        return cls([w for w, k in zip(words, keep) if k], codes, scales, weight, source)

    @property
    def dimensions(self) -> int:
        """Length of each vector."""
        return self.codes.shape[1]

    def features(self, texts: list[str], segment) -> sparse.csr_matrix:
        """Rows of shape (len(texts), dimensions): ``weight`` times the unit-length mean vector of the words
        ``segment`` cuts from each normalised text; a row of zeros when no word is in the table."""
        rows = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        for i, text in enumerate(texts):
            found = [row for row in map(self.row_of.get, segment(normalize_text(text))) if row is not None]
            if found:
                mean = self.vectors[found].mean(axis=0)
                norm = float(np.linalg.norm(mean))
                if norm > 0:
                    rows[i] = mean * (self.weight / norm)
        return sparse.csr_matrix(rows)

    def tensors(self) -> dict[str, np.ndarray]:
        """The arrays to save (safetensors): ``word_vector_codes`` and ``word_vector_scales``."""
        return {"word_vector_codes": self.codes, "word_vector_scales": self.scales}

    def settings(self) -> dict:
        """The JSON part to save: words, weight and source."""
        return {"words": self.words, "weight": self.weight, "source": self.source}

    @classmethod
    def load(cls, settings: dict, tensors: dict[str, np.ndarray]) -> "WordAverage":
        """The table :meth:`settings` and :meth:`tensors` saved."""
        return cls(settings["words"], tensors["word_vector_codes"], tensors["word_vector_scales"],
                   settings["weight"], settings.get("source"))
