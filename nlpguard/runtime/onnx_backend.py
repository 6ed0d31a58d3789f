"""The onnxruntime scorer of transformer models (``--backend onnx`` / ``onnx-int8``).

Tokenisation, windows, aggregation and evidence are the PyTorch backend's
(:class:`~nlpguard.runtime.transformer.WindowedScorer`); only the network runs in
onnxruntime. The ONNX files come from ``nlpguard export-onnx``
(:mod:`nlpguard.training.onnx_export`).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import ModelError
from .transformer import DEFAULT_MAX_LENGTH, DEFAULT_STRIDE, WindowedScorer, cpu_threads, load_tokenizer

ONNX_FILES = {"onnx": "model.onnx", "onnx-int8": "model.int8.onnx"}


def _onnxruntime():
    try:
        import onnxruntime
    except ImportError as exc:
        raise ModelError("the ONNX backend needs onnxruntime: pip install 'nlpguard[onnx]'") from exc
    return onnxruntime


class OnnxScorer(WindowedScorer):
    """The windowed scorer with the network run by onnxruntime on the CPU."""

    def __init__(self, session, tokenizer, labels: list[str], max_length: int = DEFAULT_MAX_LENGTH,
                 stride: int = DEFAULT_STRIDE):
        super().__init__(tokenizer, labels, max_length, stride)
        self.session = session
        self.inputs = [i.name for i in session.get_inputs()]

    @classmethod
    def load(cls, directory: str | Path, labels: list[str], max_length: int = DEFAULT_MAX_LENGTH,
             stride: int = DEFAULT_STRIDE, backend: str = "onnx", threads: int | None = None) -> "OnnxScorer":
        """Load ``model.onnx`` (``backend="onnx"``) or ``model.int8.onnx`` (``"onnx-int8"``) and the tokenizer."""
        ort = _onnxruntime()
        path = Path(directory) / ONNX_FILES[backend]
        if not path.is_file():
            raise ModelError(f"{directory} has no {path.name}: create it with "
                             f"nlpguard export-onnx --model MODEL --output {directory}"
                             + (" --quantize" if backend == "onnx-int8" else ""))
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or cpu_threads()
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # errors only: scan output stays clean
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        outputs = session.get_outputs()[0].shape[-1]
        if outputs != len(labels):
            raise ModelError(f"{path}: the network has {outputs} outputs, the config names {len(labels)} labels")
        return cls(session, load_tokenizer(directory), labels, max_length, stride)

    def forward(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        """Logits of one padded batch, computed by onnxruntime."""
        return self.session.run(None, {name: batch[name] for name in self.inputs})[0]
