"""Scorers for fine-tuned transformer classifiers (any BERT-family checkpoint).

A model directory in Hugging Face format — ``config.json`` (with nlpguard's section),
``model.safetensors`` and tokenizer files — loads here, in
``transformers.AutoModelForSequenceClassification`` and in ``nlpguard scan --model``.
Long texts are never truncated silently: each text is cut into windows of
``max_length`` tokens overlapping by ``stride`` tokens, every window is scored,
and a label's score is its maximum over the windows.

Windows come from the ``tokenizers`` library alone (:class:`WindowTokenizer`); the PyTorch
runtime needs ``torch`` and ``transformers`` (``pip install 'nlpguard[bert]'``), the ONNX runtime
(:mod:`nlpguard.runtime.onnx_backend`) only ``onnxruntime`` and ``tokenizers``.
"""
from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import numpy as np
from scipy.special import expit

from ..errors import ModelError
from ..text.normalize import normalize_text

ARCHITECTURE = "nlpguard.HFSequenceClassifier.v1"
DEFAULT_MAX_LENGTH = 256
DEFAULT_STRIDE = 64
# Padded tokens per forward pass. On 2 CPU cores 1,024 scored real SMS about twice as fast as
# fixed batches of 64 windows (benchmarks/inference_backends.py); GPUs want far larger batches.
CPU_BATCH_TOKENS = 1024
GPU_BATCH_TOKENS = 32768


def _require():
    try:
        import torch
        import transformers
    except ImportError as exc:  # the light install has neither
        raise ModelError("transformer models need torch and transformers: pip install 'nlpguard[bert]' "
                         "(or an ONNX export and pip install 'nlpguard[onnx]')") from exc
    return torch, transformers


def cpu_threads() -> int:
    """CPUs this process may run on (cgroup/affinity aware): the default intra-op thread count."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def load_tokenizer(directory: str | Path):
    """The transformers fast tokenizer of a Hugging Face directory, with transformers' load reports silenced."""
    _, transformers = _require()
    transformers.utils.logging.set_verbosity_error()  # scan output stays clean: no load reports
    transformers.utils.logging.disable_progress_bar()
    return transformers.AutoTokenizer.from_pretrained(str(directory))


def token_batches(lengths: list[int], order: list[int], max_tokens: int) -> list[list[int]]:
    """Cut ``order`` (indices sorted by ascending ``lengths``, given in that order) into batches whose
    size times their longest length stays within ``max_tokens``; every batch holds at least one."""
    batches: list[list[int]] = []
    begin = 0
    while begin < len(order):
        end = begin + 1
        while end < len(order) and (end + 1 - begin) * lengths[end] <= max_tokens:
            end += 1
        batches.append(order[begin:end])
        begin = end
    return batches


class WindowTokenizer:
    """Overlapping token windows and padded batches from the ``tokenizers`` library alone.

    Does what a transformers fast tokenizer does when called with ``truncation=True,
    max_length=..., stride=..., return_overflowing_tokens=True`` and then ``pad``: every
    text's first window and its overflowing windows, in order, padded to the longest window
    of a batch. The ONNX runtime needs nothing more, so it runs without transformers or torch.
    """

    def __init__(self, tokenizer, max_length: int, stride: int, pad_id: int, padding_side: str = "right",
                 truncation_side: str = "right"):
        if padding_side not in ("right", "left") or truncation_side not in ("right", "left"):
            raise ModelError(f"padding and truncation sides must be 'right' or 'left', got {padding_side!r}, {truncation_side!r}")
        self.tokenizer = tokenizer
        self.pad_id = pad_id
        self.padding_side = padding_side
        tokenizer.no_padding()
        tokenizer.enable_truncation(max_length, stride=stride, strategy="longest_first", direction=truncation_side)

    @classmethod
    def from_transformers(cls, tokenizer, max_length: int, stride: int) -> "WindowTokenizer":
        """The windows of a transformers fast tokenizer (its backend copied, the original left as it was)."""
        from tokenizers import Tokenizer

        return cls(Tokenizer.from_str(tokenizer.backend_tokenizer.to_str()), max_length, stride, tokenizer.pad_token_id,
                   tokenizer.padding_side, tokenizer.truncation_side)

    @classmethod
    def from_directory(cls, directory: str | Path, max_length: int, stride: int) -> "WindowTokenizer":
        """Read ``tokenizer.json`` and the pad token and sides of ``tokenizer_config.json``."""
        try:
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise ModelError("transformer models need the tokenizers library: pip install 'nlpguard[onnx]'") from exc
        directory = Path(directory)
        tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
        settings_file = directory / "tokenizer_config.json"
        settings = json.loads(settings_file.read_text(encoding="utf-8")) if settings_file.is_file() else {}
        pad_token = settings.get("pad_token")
        pad_token = pad_token.get("content") if isinstance(pad_token, dict) else pad_token
        pad_id = tokenizer.token_to_id(pad_token) if isinstance(pad_token, str) else None
        if pad_id is None:
            raise ModelError(f"{settings_file} names no pad token of {directory / 'tokenizer.json'} (pad_token: {pad_token!r})")
        return cls(tokenizer, max_length, stride, pad_id, settings.get("padding_side", "right"),
                   settings.get("truncation_side", "right"))

    def windows(self, texts: list[str]) -> tuple[dict[str, list[list[int]]], list[int]]:
        """``input_ids``, ``token_type_ids`` and ``attention_mask`` of every window, and the index of its text."""
        encoded: dict[str, list[list[int]]] = {"input_ids": [], "token_type_ids": [], "attention_mask": []}
        owners: list[int] = []
        for owner, first in enumerate(self.tokenizer.encode_batch(texts)):
            for window in [first, *first.overflowing]:
                encoded["input_ids"].append(window.ids)
                encoded["token_type_ids"].append(window.type_ids)
                encoded["attention_mask"].append(window.attention_mask)
                owners.append(owner)
        return encoded, owners

    def pad(self, encoded: dict[str, list[list[int]]], chosen: list[int]) -> dict[str, np.ndarray]:
        """Int64 arrays of the ``chosen`` windows, padded to the longest of them."""
        width = max(len(encoded["input_ids"][i]) for i in chosen)
        batch = {}
        for key, fill in (("input_ids", self.pad_id), ("token_type_ids", 0), ("attention_mask", 0)):
            array = np.full((len(chosen), width), fill, dtype=np.int64)
            for row, i in enumerate(chosen):
                values = encoded[key][i]
                if self.padding_side == "right":
                    array[row, :len(values)] = values
                else:
                    array[row, width - len(values):] = values
            batch[key] = array
        return batch

    def decode(self, ids: list[int]) -> str:
        """The text of ``ids`` without special tokens."""
        return self.tokenizer.decode(ids, skip_special_tokens=True)


class WindowedScorer:
    """Sigmoid scores of a sequence classifier over token windows, max-aggregated per text.

    Subclasses provide :meth:`forward` (one padded batch of windows to logits) for a runtime
    and the names of the inputs that runtime takes.
    """

    def __init__(self, windows: WindowTokenizer, labels: list[str], input_names: list[str],
                 max_length: int = DEFAULT_MAX_LENGTH, stride: int = DEFAULT_STRIDE, max_tokens: int = CPU_BATCH_TOKENS):
        self.window_tokenizer = windows
        self.labels = list(labels)
        self.input_names = list(input_names)
        self.max_length = max_length
        self.stride = stride
        self.max_tokens = max_tokens

    def windows(self, texts: list[str]) -> tuple[dict[str, list[list[int]]], list[int]]:
        """Token windows of the normalised texts and, per window, the index of its text."""
        return self.window_tokenizer.windows([normalize_text(t) for t in texts])

    def forward(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        """Logits (n_windows, n_labels) of one padded batch of int64 arrays."""
        raise NotImplementedError

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        """Scores of shape (len(texts), len(labels)): per label, the maximum over a text's windows.

        Windows are sorted by length and cut into batches of at most ``max_tokens`` padded
        tokens (at least one window each): short messages go many to a batch, long windows
        few, and a batch carries little padding.
        """
        scores = np.zeros((len(texts), len(self.labels)), dtype=np.float32)
        if not texts:
            return scores
        encoded, owners = self.windows(texts)
        ids = encoded["input_ids"]
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))  # length buckets: little padding
        logits = np.zeros((len(ids), len(self.labels)), dtype=np.float32)
        for chosen in token_batches([len(ids[i]) for i in order], order, self.max_tokens):
            batch = self.window_tokenizer.pad(encoded, chosen)
            logits[chosen] = self.forward({name: batch[name] for name in self.input_names})
        window_scores = expit(logits)
        np.maximum.at(scores, np.array(owners), window_scores)
        return scores


class TransformerScorer(WindowedScorer):
    """A PyTorch sequence-classification transformer, run under ``torch.inference_mode``."""

    def __init__(self, model, tokenizer, labels: list[str], max_length: int = DEFAULT_MAX_LENGTH,
                 stride: int = DEFAULT_STRIDE):
        self.torch, _ = _require()
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.device = next(model.parameters()).device
        super().__init__(WindowTokenizer.from_transformers(tokenizer, max_length, stride), labels,
                         tokenizer.model_input_names, max_length, stride,
                         CPU_BATCH_TOKENS if self.device.type == "cpu" else GPU_BATCH_TOKENS)

    @classmethod
    def load(cls, directory: str | Path, labels: list[str], max_length: int = DEFAULT_MAX_LENGTH,
             stride: int = DEFAULT_STRIDE, device: str | None = None, threads: int | None = None) -> "TransformerScorer":
        """Load model and tokenizer from a Hugging Face directory (CPU unless a GPU is present).

        ``threads``: intra-op threads on the CPU (default: the CPUs this process may use).
        """
        torch, transformers = _require()
        tokenizer = load_tokenizer(directory)
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        if device == "cpu":
            torch.set_num_threads(threads or cpu_threads())
        if not (Path(directory) / "model.safetensors").is_file():
            raise ModelError(f"{directory} has no model.safetensors: nlpguard loads weights only from safetensors "
                             "(never pickled .bin files); convert the checkpoint with save_pretrained(safe_serialization=True)")
        model = transformers.AutoModelForSequenceClassification.from_pretrained(str(directory), use_safetensors=True)
        model = (model.float() if device == "cpu" else model).to(device)  # fp16 packaged weights run in fp32 on CPU
        if model.config.num_labels != len(labels):
            raise ModelError(f"{directory}: the network has {model.config.num_labels} outputs, the config names {len(labels)} labels")
        return cls(model, tokenizer, labels, max_length, stride)

    def forward(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        """Logits of one padded batch, computed by the PyTorch model."""
        with self.torch.inference_mode():
            inputs = {k: self.torch.from_numpy(v).to(self.device) for k, v in batch.items()}
            return self.model(**inputs).logits.float().cpu().numpy()

    def save(self, directory: str | Path) -> dict:
        """Write the network (safetensors) and its tokenizer in Hugging Face format into ``directory``;
        ``tokenizer_config.json`` states the scanning window. Returns the transformers config,
        which ``config.json`` keeps beside nlpguard's section."""
        directory = Path(directory)
        self.model.save_pretrained(str(directory), safe_serialization=True)
        (directory / "model.safetensors").chmod(0o644)  # written owner-only; a model folder is for sharing
        self.tokenizer.save_pretrained(str(directory))
        settings_file = directory / "tokenizer_config.json"
        settings = json.loads(settings_file.read_text(encoding="utf-8"))
        settings["max_length"] = settings["model_max_length"] = self.max_length
        settings_file.write_text(json.dumps(settings, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        return json.loads((directory / "config.json").read_text(encoding="utf-8"))


class HFSequenceClassifier:
    """The ``nlpguard.HFSequenceClassifier.v1`` architecture: a Hugging Face sequence classifier run
    by PyTorch (``torch`` backend) or onnxruntime (``onnx``, ``onnx-int8``); ``auto`` takes PyTorch
    when installed, else ONNX when the directory has an export."""

    @staticmethod
    def backend_for(directory: str | Path, backend: str) -> str:
        """The backend ``auto`` stands for with this directory and these installed libraries."""
        from .onnx_backend import ONNX_FILES

        if backend != "auto":
            return backend
        has_torch = bool(importlib.util.find_spec("torch") and importlib.util.find_spec("transformers"))
        return "torch" if has_torch or not (Path(directory) / ONNX_FILES["onnx"]).is_file() else "onnx"

    @classmethod
    def load(cls, directory: str | Path, spec, backend: str = "auto", threads: int | None = None) -> WindowedScorer:
        """The scorer of ``directory`` on the chosen backend, with the spec's window settings."""
        from .onnx_backend import OnnxScorer

        backend = cls.backend_for(directory, backend)
        if backend == "torch":
            return TransformerScorer.load(directory, spec.labels, threads=threads, **spec.options)
        return OnnxScorer.load(directory, spec.labels, backend=backend, threads=threads, **spec.options)

    @classmethod
    def check_runtime(cls, directory: str | Path, spec, backend: str = "auto") -> None:
        """ModelError now when the chosen backend's libraries are missing, instead of at the first scan."""
        chosen = cls.backend_for(directory, backend)
        if chosen == "torch" and not (importlib.util.find_spec("torch") and importlib.util.find_spec("transformers")):
            raise ModelError(f"{directory} is a transformer model: it needs torch and transformers "
                             "(pip install 'nlpguard[bert]'), or an ONNX export (nlpguard export-onnx) and "
                             "pip install 'nlpguard[onnx]'")
        if chosen != "torch" and not (importlib.util.find_spec("onnxruntime") and importlib.util.find_spec("tokenizers")):
            raise ModelError("the ONNX backend needs onnxruntime and tokenizers: pip install 'nlpguard[onnx]'")
