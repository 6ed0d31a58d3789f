"""Convert the files of a pretrained backbone package into a directory nlpguard can load.

Each converter takes the verified files in registry order (weights first), the output
directory and the ``--trim-vocab`` texts, writes only non-executable formats (safetensors,
JSON) and returns details for ``backbone.json``. :mod:`nlpguard.training.backbones` holds the registry
that names a converter for each backbone.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import FetchError

E5_PREFIXES = ("query: ", "passage: ")  # e5's input prefixes keep their pieces through a trim


def read_word2vec_binary(path: str | Path) -> tuple[list[str], np.ndarray]:
    """Words and float32 matrix of a word2vec binary file: a ``COUNT DIM`` header line, then per word
    its UTF-8 bytes, a space and DIM little-endian float32 (a newline may precede the next word).

    Raises:
        ValueError: truncated file or a word that is not UTF-8.
    """
    data = Path(path).read_bytes()
    header_end = data.index(b"\n")
    count, dim = (int(part) for part in data[:header_end].split())
    words, matrix, at = [], np.empty((count, dim), dtype=np.float32), header_end + 1
    for row in range(count):
        while data[at:at + 1] == b"\n":
            at += 1
        space = data.find(b" ", at)
        if space < 0 or space + 1 + 4 * dim > len(data):
            raise ValueError(f"{path}: truncated at word {row + 1} of {count}")
        words.append(data[at:space].decode("utf-8"))
        matrix[row] = np.frombuffer(data, dtype="<f4", count=dim, offset=space + 1)
        at = space + 1 + 4 * dim
    return words, matrix


def convert_word2vec(files: list[Path], output: Path, trim_texts: list[str]) -> dict:
    """word2vec binary -> ``vectors.safetensors`` (tensor ``vectors``) + ``vocab.json`` (the words, in row order)."""
    from safetensors.numpy import save_file

    words, matrix = read_word2vec_binary(files[0])
    save_file({"vectors": matrix}, str(output / "vectors.safetensors"))
    (output / "vocab.json").write_text(json.dumps(words, ensure_ascii=False) + "\n", encoding="utf-8")
    return {"words": len(words), "dimensions": int(matrix.shape[1])}


def _unigram_tokenizer_config(max_length: int) -> dict:
    # The generic class runs tokenizer.json exactly as written; transformers 5's XLMRobertaTokenizer rebuilds
    # the pipeline (emoji become <unk>, for one), which would break the trim's same-tokens guarantee.
    return {"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<s>", "eos_token": "</s>", "sep_token": "</s>",
            "cls_token": "<s>", "unk_token": "<unk>", "pad_token": "<pad>", "mask_token": "<mask>",
            "model_max_length": max_length}


def convert_e5s1(files: list[Path], output: Path, trim_texts: list[str]) -> dict:
    """An E5S1 image and its ``tokenizer.json`` -> a ``BertModel`` directory (fp32 safetensors, no pooler),
    the vocabulary trimmed to ``trim_texts`` when given (:mod:`nlpguard.training.vocab_trim`).

    Raises:
        FetchError: the tokenizer's pieces and scores are not the image's, in the same order.
    """
    from safetensors.numpy import save_file

    from .e5s1 import read_e5s1
    from .vocab_trim import kept_piece_ids, trim_tokenizer

    image = read_e5s1(files[0])
    tokenizer = json.loads(files[1].read_text(encoding="utf-8"))
    pieces = [piece for piece, _ in tokenizer["model"]["vocab"]]
    scores = np.array([score for _, score in tokenizer["model"]["vocab"]], dtype=np.float32)
    if (len(pieces) > image.vocab or pieces != image.pieces[:len(pieces)]
            or not np.allclose(scores, np.array(image.scores[:len(pieces)], dtype=np.float32), atol=1e-5)):
        raise FetchError(f"{files[1].name} does not hold the pieces and scores of {files[0].name} in the same order")
    kept = kept_piece_ids(tokenizer, trim_texts + list(E5_PREFIXES)) if trim_texts else None
    if kept is not None:
        tokenizer = trim_tokenizer(tokenizer, kept)
    state = image.bert_state_dict(word_rows=kept)
    config = {"architectures": ["BertModel"], "model_type": "bert", "position_embedding_type": "absolute",
              **image.bert_config(len(kept) if kept is not None else image.vocab)}
    save_file(state, str(output / "model.safetensors"), metadata={"format": "pt"})
    (output / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    (output / "tokenizer.json").write_text(json.dumps(tokenizer, ensure_ascii=False) + "\n", encoding="utf-8")
    (output / "tokenizer_config.json").write_text(
        json.dumps(_unigram_tokenizer_config(image.max_positions), indent=2) + "\n", encoding="utf-8")
    details = {"vocab_size": config["vocab_size"], "parameters": int(sum(v.size for v in state.values()))}
    if kept is not None:
        details["trimmed_from"] = len(pieces)
    return details


def convert_torch_bin(files: list[Path], output: Path, trim_texts: list[str]) -> dict:
    """A transformers checkpoint's ``pytorch_model.bin`` -> ``model.safetensors``; its other files
    (config, tokenizer, README) are copied beside it."""
    import torch
    from safetensors.torch import save_file

    # weights_only: torch's restricted unpickler, which builds tensors and nothing else (digest checked before).
    state = torch.load(files[0], map_location="cpu", weights_only=True)
    save_file({key: value.contiguous() for key, value in state.items()}, str(output / "model.safetensors"),
              metadata={"format": "pt"})
    for path in files[1:]:
        shutil.copyfile(path, output / path.name)
    return {"parameters": int(sum(v.numel() for v in state.values() if v.is_floating_point()))}


CONVERTERS: dict[str, Callable[[list[Path], Path, list[str]], dict]] = {
    "e5s1": convert_e5s1, "torch-bin": convert_torch_bin, "word2vec": convert_word2vec}
