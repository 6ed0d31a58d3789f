"""ONNX export of transformer models, with a parity check.

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
with :class:`~nlpguard.runtime.onnx_backend.OnnxScorer`.
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

from ..errors import ModelError
from ..runtime.modeldir import Model, ModelDirectory, open_bundle
from ..runtime.onnx_backend import ONNX_FILES, OnnxScorer
from ..runtime.transformer import ARCHITECTURE as TRANSFORMER

PARITY_FILE = "onnx_parity.json"


def export_model(entry: ModelDirectory, output: Path, quantize: bool = False,
                 parity_texts: list[str] | None = None) -> dict:
    """Export a transformer model directory to ``output`` (a copy plus ``model.onnx``).

    Returns the parity report (also written to ``output/onnx_parity.json``): the largest
    absolute score difference between PyTorch and onnxruntime per exported file, and the
    share of texts whose labels agree, on ``parity_texts``.
    """
    import torch

    source = entry.path
    if entry.spec.architecture != TRANSFORMER:
        raise ModelError(f"{source} is not a transformer model (architecture {entry.spec.architecture}); "
                         "only transformer models export to ONNX")
    loaded = Model.load(entry, entry.spec.task, backend="torch")
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
        reference = loaded.scorer.predict_proba(parity_texts)
        limits = np.array([loaded.spec.thresholds[label] for label in loaded.spec.labels])
        for backend in ["onnx", "onnx-int8"] if quantize else ["onnx"]:
            scores = OnnxScorer.load(output, loaded.spec.labels, backend=backend, **loaded.spec.options).predict_proba(parity_texts)
            report[backend] = {"max_abs_diff": float(np.abs(scores - reference).max()),
                               "label_agreement": float(((scores >= limits) == (reference >= limits)).all(axis=1).mean())}
    (output / PARITY_FILE).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return report


def export_onnx(model: str | Path, output: str | Path, quantize: bool = False,
                parity_texts: dict[str, list[str]] | None = None) -> dict[str, dict]:
    """Export a model directory, packaged name or bundle to ``output``; returns the parity report per task.

    ``parity_texts`` maps a task to the texts its parity check scores.
    """
    bundle, output = open_bundle(model), Path(output)
    reports = {}
    for task, entry in bundle.tasks.items():
        target = output if entry.path == bundle.path else output / task
        target.mkdir(parents=True, exist_ok=True)
        reports[task] = export_model(entry, target, quantize, (parity_texts or {}).get(task))
    return reports
