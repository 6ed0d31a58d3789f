"""ONNX export of transformer models and the onnxruntime scorer.

``nlpguard export-onnx --model DIR --output OUT`` copies a transformer model
directory (or every task of a bundle) to ``OUT`` and adds ``model.onnx``: the
same network exported with ``torch.onnx`` (dynamic batch and sequence axes,
fp32, one self-contained file). With ``--quantize`` it also writes
``model.int8.onnx`` (onnxruntime dynamic int8 quantisation of the linear
layers: faster on CPUs, scores move by a few hundredths). The export checks
itself: it scores a few hundred texts with PyTorch and with onnxruntime and
writes the largest score difference and the label agreement to
``onnx_parity.json``.

``nlpguard scan --model OUT --backend onnx`` (or ``onnx-int8``) then scores
with onnxruntime; tokenisation, windows, aggregation and evidence are the
PyTorch backend's, only the network runs elsewhere.
"""
from __future__ import annotations

import contextlib
import io
import json
import logging
import shutil
import warnings
from pathlib import Path

import numpy as np

from .errors import ModelError
from .transformer import DEFAULT_MAX_LENGTH, DEFAULT_STRIDE, WindowedScorer, cpu_threads, load_tokenizer

ONNX_FILES = {"onnx": "model.onnx", "onnx-int8": "model.int8.onnx"}
PARITY_FILE = "onnx_parity.json"


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


def export_model(source: Path, task: str, output: Path, quantize: bool = False,
                 parity_texts: list[str] | None = None) -> dict:
    """Export ``task``'s transformer model directory ``source`` to ``output`` (a copy plus ``model.onnx``).

    Returns the parity report (also written to ``output/onnx_parity.json``): the largest
    absolute score difference between PyTorch and onnxruntime per exported file, and the
    share of texts whose labels agree, on ``parity_texts``.
    """
    import torch

    from .modeldir import load_model

    loaded = load_model(source, task)
    if not hasattr(loaded.scorer, "model"):
        raise ModelError(f"{source} is not a transformer model (architecture {loaded.spec.architecture}); "
                         "only transformer models export to ONNX")
    if output.resolve() != source.resolve():
        shutil.copytree(source, output, dirs_exist_ok=True)
    model = loaded.scorer.model.float().cpu().eval()
    example = loaded.scorer.tokenizer(["催收测试", "请按时还款，谢谢合作"], padding=True, return_tensors="pt")
    names = list(example.keys())
    batch, sequence = torch.export.Dim("batch"), torch.export.Dim("sequence")
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):  # the exporter's chatter
        warnings.simplefilter("ignore")
        logging.getLogger("torch.onnx").setLevel(logging.ERROR)
        torch.onnx.export(model, (), str(output / ONNX_FILES["onnx"]), kwargs=dict(example), input_names=names,
                          output_names=["logits"], dynamic_shapes={k: {0: batch, 1: sequence} for k in names},
                          dynamo=True, external_data=False, verbose=False)
        if quantize:
            from onnxruntime.quantization import QuantType, quantize_dynamic

            logging.getLogger().setLevel(logging.ERROR)  # its advice to pre-process goes to the root logger
            quantize_dynamic(str(output / ONNX_FILES["onnx"]), str(output / ONNX_FILES["onnx-int8"]),
                             weight_type=QuantType.QInt8)
    report = {"texts": len(parity_texts or [])}
    if parity_texts:
        reference = loaded.scorer.predict(parity_texts)
        limits = np.array([loaded.spec.thresholds[label] for label in loaded.spec.labels])
        for backend in ["onnx", "onnx-int8"] if quantize else ["onnx"]:
            scores = OnnxScorer.load(output, loaded.spec.labels, backend=backend, **loaded.spec.options).predict(parity_texts)
            report[backend] = {"max_abs_diff": float(np.abs(scores - reference).max()),
                               "label_agreement": float(((scores >= limits) == (reference >= limits)).all(axis=1).mean())}
    (output / PARITY_FILE).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return report


def export_onnx(model: str | Path, output: str | Path, quantize: bool = False,
                parity_texts: dict[str, list[str]] | None = None) -> dict[str, dict]:
    """Export a model directory, packaged name or bundle to ``output``; returns the parity report per task.

    ``parity_texts`` maps a task to the texts its parity check scores.
    """
    from .modeldir import CONFIG_FILE, bundle_tasks, resolve, task_dir

    source, output = resolve(model), Path(output)
    tasks = bundle_tasks(model)
    single = (source / CONFIG_FILE).is_file()
    reports = {}
    for task in tasks:
        target = output if single else output / task
        target.mkdir(parents=True, exist_ok=True)
        reports[task] = export_model(task_dir(model, task), task, target, quantize, (parity_texts or {}).get(task))
    return reports
