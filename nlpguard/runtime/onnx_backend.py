"""The onnxruntime scorer of transformer models (``--backend onnx`` / ``onnx-int8``).

Tokenisation, windows, aggregation and evidence are the PyTorch backend's
(:class:`~nlpguard.runtime.transformer.WindowedScorer`); only the network runs in
onnxruntime. The ONNX files come from ``nlpguard export-onnx``
(:mod:`nlpguard.training.onnx_export`).
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from ..errors import ModelError
from .transformer import DEFAULT_MAX_LENGTH, DEFAULT_STRIDE, WindowTokenizer, WindowedScorer, cpu_threads

ONNX_FILES = {"onnx": "model.onnx", "onnx-int8": "model.int8.onnx"}


def _onnxruntime():
    try:
        import onnxruntime
    except ImportError as exc:
        raise ModelError("the ONNX backend needs onnxruntime: pip install 'nlpguard[onnx]'") from exc
    return onnxruntime


class OnnxScorer(WindowedScorer):
    """The windowed scorer with the network run by onnxruntime on the CPU (no torch, no transformers)."""

    def __init__(self, session, windows: WindowTokenizer, labels: list[str], directory: Path,
                 max_length: int = DEFAULT_MAX_LENGTH, stride: int = DEFAULT_STRIDE):
        super().__init__(windows, labels, [i.name for i in session.get_inputs()], max_length, stride)
        self.session = session
        self.directory = Path(directory)
        self.tokenizer = windows  # decodes ids, as the PyTorch scorer's tokenizer does

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
        return cls(session, WindowTokenizer.from_directory(directory, max_length, stride), labels, directory,
                   max_length, stride)

    def forward(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        """Logits of one padded batch, computed by onnxruntime."""
        return self.session.run(None, batch)[0]

    def save(self, directory: str | Path) -> dict:
        """Copy the exported network(s), the tokenizer files and the transformers config into ``directory``
        (an ONNX model is saved as the files it was loaded from); returns that config."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        config = json.loads((self.directory / "config.json").read_text(encoding="utf-8"))
        if directory.resolve() != self.directory.resolve():
            for name in (*ONNX_FILES.values(), "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
                if (self.directory / name).is_file():
                    shutil.copyfile(self.directory / name, directory / name)
        config.pop("nlpguard", None)
        return config
