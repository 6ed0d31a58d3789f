"""Scorers for fine-tuned transformer classifiers (any BERT-family checkpoint).

A model directory in Hugging Face format — ``config.json`` (with nlpguard's section),
``model.safetensors`` and tokenizer files — loads here, in
``transformers.AutoModelForSequenceClassification`` and in ``nlpguard scan --model``.
Long texts are never truncated silently: each text is cut into windows of
``max_length`` tokens overlapping by ``stride`` tokens, every window is scored,
and a label's score is its maximum over the windows.

Needs ``torch`` and ``transformers`` (``pip install 'nlpguard[train]'``).
"""
from __future__ import annotations

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
        raise ModelError("transformer models need torch and transformers: pip install 'nlpguard[train]'") from exc
    return torch, transformers


def cpu_threads() -> int:
    """CPUs this process may run on (cgroup/affinity aware): the default intra-op thread count."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def load_tokenizer(directory: str | Path):
    """The fast tokenizer of a Hugging Face directory, with transformers' load reports silenced."""
    try:
        import transformers
    except ImportError as exc:
        raise ModelError("transformer models need transformers: pip install 'nlpguard[train]'") from exc
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


class WindowedScorer:
    """Sigmoid scores of a sequence classifier over token windows, max-aggregated per text.

    Subclasses provide :meth:`forward` (one padded batch of windows to logits) for a runtime.
    """

    def __init__(self, tokenizer, labels: list[str], max_length: int = DEFAULT_MAX_LENGTH,
                 stride: int = DEFAULT_STRIDE, max_tokens: int = CPU_BATCH_TOKENS):
        self.tokenizer = tokenizer
        self.labels = list(labels)
        self.max_length = max_length
        self.stride = stride
        self.max_tokens = max_tokens

    def windows(self, texts: list[str]) -> tuple[dict, list[int]]:
        """Tokenised windows of the normalised texts and, per window, the index of its text."""
        encoded = self.tokenizer([normalize_text(t) for t in texts], truncation=True, max_length=self.max_length,
                                 stride=self.stride, return_overflowing_tokens=True, padding=False)
        owners = list(encoded.pop("overflow_to_sample_mapping"))
        return encoded, owners

    def forward(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        """Logits (n_windows, n_labels) of one padded batch of int64 arrays."""
        raise NotImplementedError

    def predict(self, texts: list[str]) -> np.ndarray:
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
            batch = self.tokenizer.pad({k: [encoded[k][i] for i in chosen] for k in encoded}, return_tensors="np")
            logits[chosen] = self.forward({k: v.astype(np.int64) for k, v in batch.items()})
        window_scores = expit(logits)
        np.maximum.at(scores, np.array(owners), window_scores)
        return scores


class TransformerScorer(WindowedScorer):
    """A PyTorch sequence-classification transformer, run under ``torch.inference_mode``."""

    def __init__(self, model, tokenizer, labels: list[str], max_length: int = DEFAULT_MAX_LENGTH,
                 stride: int = DEFAULT_STRIDE):
        self.torch, _ = _require()
        self.model = model.eval()
        self.device = next(model.parameters()).device
        super().__init__(tokenizer, labels, max_length, stride,
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
