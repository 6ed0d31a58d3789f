"""Trim a SentencePiece Unigram vocabulary (``tokenizer.json``) to the pieces a corpus uses.

Multilingual encoders spend most of their parameters on the embedding table (e5-small:
96 M of 117 M for 250 k pieces). Keeping only the pieces the tokenizer produces on our
texts, the special tokens, every single-character piece (so a character that had a piece
of its own never becomes ``<unk>``) and the lowest-scoring piece (so the unknown-token
penalty, the lowest score minus 10, is unchanged) leaves a table of tens of MB.

Why the trim texts tokenise exactly as before: Unigram picks the highest-scoring
segmentation (the first found on ties); every piece of that segmentation is kept with its
score, and removing other pieces only removes competing segmentations.
"""
from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Iterable

import numpy as np

from ..text.normalize import normalize_text


def read_trim_texts(paths: Iterable[str | Path]) -> list[str]:
    """Texts of the ``--trim-vocab`` files: each JSON Lines record's ``text`` (``.jsonl``), else each
    non-empty line. Each text is given both raw and as nlpguard's normaliser outputs it, since
    training and scanning tokenise the normalised text.

    Raises:
        ValueError: a JSON Lines record that is not an object with a string ``text``.
    """
    texts: list[str] = []
    for path in paths:
        path = Path(path)
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            if path.suffix == ".jsonl":
                record = json.loads(line)
                if not isinstance(record, dict) or not isinstance(record.get("text"), str):
                    raise ValueError(f"{path}:{number}: expected a JSON object with a string 'text'")
                line = record["text"]
            texts += [line, normalize_text(line)]
    return texts


def kept_piece_ids(tokenizer_json: dict, texts: list[str]) -> np.ndarray:
    """Sorted ids of the pieces to keep: those ``texts`` tokenise to, the special and added tokens,
    every single-character piece, and the lowest-scoring piece.

    Raises:
        ValueError: the tokenizer is not a SentencePiece Unigram model.
    """
    from tokenizers import Tokenizer

    model = tokenizer_json["model"]
    if model.get("type") != "Unigram":
        raise ValueError(f"vocabulary trimming needs a Unigram tokenizer, this one is {model.get('type')!r}")
    vocab = model["vocab"]
    tokenizer = Tokenizer.from_str(json.dumps(tokenizer_json))
    keep = {i for encoding in tokenizer.encode_batch(texts, add_special_tokens=True) for i in encoding.ids}
    keep |= {token["id"] for token in tokenizer_json.get("added_tokens", [])}
    keep |= {i for i, (piece, _) in enumerate(vocab) if len(piece) == 1}
    keep.add(min(range(len(vocab)), key=lambda i: vocab[i][1]))
    if model.get("unk_id") is not None:
        keep.add(model["unk_id"])
    return np.array(sorted(keep), dtype=np.int64)


def _remap_ids(node, new_id: dict[int, int]):
    """The post-processor with every ``ids`` list (TemplateProcessing's special tokens) renumbered."""
    if isinstance(node, dict):
        return {key: [new_id[i] for i in value] if key == "ids" else _remap_ids(value, new_id)
                for key, value in node.items()}
    if isinstance(node, list):
        return [_remap_ids(item, new_id) for item in node]
    return node


def trim_tokenizer(tokenizer_json: dict, kept: np.ndarray) -> dict:
    """A copy of ``tokenizer_json`` holding only the ``kept`` pieces (in their old order, scores kept),
    with the unknown token, added tokens, padding and post-processor ids renumbered."""
    new_id = {int(old): new for new, old in enumerate(kept)}
    trimmed = copy.deepcopy(tokenizer_json)
    model = trimmed["model"]
    model["vocab"] = [model["vocab"][int(old)] for old in kept]
    if model.get("unk_id") is not None:
        model["unk_id"] = new_id[model["unk_id"]]
    for token in trimmed.get("added_tokens", []):
        token["id"] = new_id[token["id"]]
    if trimmed.get("padding") and "pad_id" in trimmed["padding"]:
        trimmed["padding"]["pad_id"] = new_id[trimmed["padding"]["pad_id"]]
    if trimmed.get("post_processor"):
        trimmed["post_processor"] = _remap_ids(trimmed["post_processor"], new_id)
    return trimmed
