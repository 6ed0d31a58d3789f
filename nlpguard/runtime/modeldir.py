"""Model directories: the self-describing ``config.json`` and loading by name or path.

A model directory holds ``config.json`` whose ``"nlpguard"`` section names the
task, the label ids in score order, per-label thresholds, the architecture
that built it and the normaliser version; weights sit beside it in formats
that cannot execute code (JSON, safetensors). A *bundle* is a directory with
one such model per task in sub-directories named after the task; the models
embedded in the package are bundles.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ..errors import ModelError
from ..text.normalize import NORMALIZER_VERSION
from ..taxonomy import LABELS, TASKS, TAXONOMY_VERSION, check_task

PACKAGED_MODELS = Path(__file__).parent.parent / "models"
DEFAULT_MODEL = "baseline"
CONFIG_FILE = "config.json"
BACKENDS = ("auto", "torch", "onnx", "onnx-int8")
FORMAT_VERSION = 1


class Scorer(Protocol):
    """What every backbone provides: label ids and sigmoid scores for a list of texts."""

    labels: list[str]

    def predict(self, texts: list[str]) -> np.ndarray:
        """Scores of shape (len(texts), len(labels)), each in [0, 1]."""


@dataclass
class ModelSpec:
    """The ``nlpguard`` section of a model's ``config.json``."""

    task: str
    labels: list[str]
    thresholds: dict[str, float]
    architecture: str
    aggregation: str = "max_sentence"
    normalizer: str = NORMALIZER_VERSION
    taxonomy: str = TAXONOMY_VERSION
    label_descriptions: dict[str, str] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION
    backbone: dict[str, Any] | None = None  # a fetched backbone's name, source and licence (nlpguard.training.backbones)

    def __post_init__(self) -> None:
        self._check_types()
        check_task(self.task)
        extra = [label for label in self.labels if label not in self.label_descriptions and label not in LABELS]
        if extra:
            raise ModelError(f"labels {extra} are not in the taxonomy and have no description in label_descriptions")
        if set(self.thresholds) != set(self.labels):
            raise ModelError(f"thresholds {sorted(self.thresholds)} do not match labels {self.labels}")
        if self.aggregation not in ("whole", "max_sentence", "max_clause"):
            raise ModelError(f"unknown aggregation {self.aggregation!r}")

    def _check_types(self) -> None:
        """ModelError naming the field when a value from ``config.json`` has the wrong type or range."""
        if not isinstance(self.task, str) or not isinstance(self.architecture, str) or not isinstance(self.aggregation, str):
            raise ModelError("task, architecture and aggregation must be strings")
        if not isinstance(self.labels, list) or not all(isinstance(l, str) for l in self.labels) or not self.labels:
            raise ModelError(f"labels must be a non-empty list of label ids, got {self.labels!r}")
        if not isinstance(self.thresholds, dict):
            raise ModelError(f"thresholds must map each label to a number, got {self.thresholds!r}")
        for label, value in self.thresholds.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
                raise ModelError(f"threshold of {label!r} must be a number from 0 to 1, got {value!r}")
        if not isinstance(self.label_descriptions, dict) or not isinstance(self.options, dict):
            raise ModelError("label_descriptions and options must be JSON objects")
        if self.backbone is not None and not isinstance(self.backbone, dict):
            raise ModelError(f"backbone must be a JSON object, got {self.backbone!r}")
        for key in ("max_length", "stride"):
            value = self.options.get(key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
                raise ModelError(f"options.{key} must be a non-negative whole number, got {value!r}")
        if "max_length" in self.options and not 0 <= self.options.get("stride", 0) < self.options["max_length"]:
            raise ModelError("options.stride must be smaller than options.max_length")

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready form stored under ``"nlpguard"`` in ``config.json`` (``backbone`` only when known)."""
        data = asdict(self)
        if data["backbone"] is None:
            del data["backbone"]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ModelSpec":
        """Build a spec from the ``"nlpguard"`` section, ignoring keys added by later versions."""
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


@dataclass
class LoadedModel:
    """A model ready to score: its spec, its scorer and where it came from."""

    spec: ModelSpec
    scorer: Scorer
    path: Path


def resolve(model: str | Path | None) -> Path:
    """Turn a packaged model name (``default``, ``baseline``) or a path into a directory."""
    if model is None or str(model) == "default":
        model = DEFAULT_MODEL
    packaged = PACKAGED_MODELS / str(model)
    if "/" not in str(model) and packaged.is_dir():
        return packaged
    path = Path(model)
    if not path.is_dir():
        names = sorted(p.name for p in PACKAGED_MODELS.iterdir() if p.is_dir()) if PACKAGED_MODELS.is_dir() else []
        raise ModelError(f"model {str(model)!r} is neither a directory nor a packaged model ({', '.join(['default', *names])})")
    return path


def task_dir(model: str | Path | None, task: str) -> Path:
    """The directory holding ``task``'s model inside ``model`` (a bundle or a single model)."""
    path = resolve(model)
    if (path / task / CONFIG_FILE).is_file():
        return path / task
    if (path / CONFIG_FILE).is_file():
        return path
    raise ModelError(f"{path} has no {CONFIG_FILE} (nor a '{task}' sub-directory with one)")


def read_spec(directory: Path) -> ModelSpec:
    """Read and check the ``nlpguard`` section of ``directory/config.json``."""
    try:
        config = json.loads((directory / CONFIG_FILE).read_text(encoding="utf-8"))
        section = config["nlpguard"] if isinstance(config, dict) else None
        if not isinstance(section, dict):
            raise ValueError(f"its \"nlpguard\" section must be a JSON object, got {section!r}")
        spec = ModelSpec.from_dict(section)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelError(f"cannot read model config {directory / CONFIG_FILE}: {exc}") from exc
    if spec.normalizer != NORMALIZER_VERSION:
        raise ModelError(f"model {directory} was trained with normaliser {spec.normalizer}, this nlpguard has {NORMALIZER_VERSION}")
    return spec


def load_model(model: str | Path | None, task: str, backend: str = "auto", threads: int | None = None) -> LoadedModel:
    """Load ``task``'s model from a packaged name, a bundle or a model directory.

    ``backend`` runs a transformer model with ``torch``, ``onnx`` or ``onnx-int8``
    (onnxruntime, after ``nlpguard export-onnx``); ``auto`` takes torch when installed,
    else ONNX when the directory has it. ``threads``: intra-op CPU threads (default: all
    CPUs this process may use).
    """
    if backend not in BACKENDS:
        raise ModelError(f"unknown backend {backend!r}; choose from {', '.join(BACKENDS)}")
    directory = task_dir(model, check_task(task))
    spec = read_spec(directory)
    if spec.task != task:
        raise ModelError(f"model {directory} is for task {spec.task!r}, not {task!r}")
    try:
        scorer = _load_scorer(directory, spec, backend, threads)
    except ModelError:
        raise
    except Exception as exc:  # corrupt or missing weight files of any kind
        raise ModelError(f"cannot load weights of {directory}: {exc}") from exc
    if list(scorer.labels) != spec.labels:
        raise ModelError(f"weights of {directory} score {scorer.labels}, config says {spec.labels}")
    return LoadedModel(spec, scorer, directory)


def _load_scorer(directory: Path, spec: ModelSpec, backend: str, threads: int | None) -> Scorer:
    from . import baseline, onnx_backend, transformer

    if spec.architecture == baseline.ARCHITECTURE:
        if backend != "auto":
            raise ModelError(f"model {directory} is a baseline model; --backend {backend} applies to transformer models only")
        return baseline.TfidfLogReg.load(directory, spec.labels)
    if spec.architecture == transformer.ARCHITECTURE:
        if backend == "auto":
            backend = "torch" if importlib.util.find_spec("torch") or not (directory / onnx_backend.ONNX_FILES["onnx"]).is_file() else "onnx"
        if backend == "torch":
            return transformer.TransformerScorer.load(directory, spec.labels, threads=threads, **spec.options)
        return onnx_backend.OnnxScorer.load(directory, spec.labels, backend=backend, threads=threads, **spec.options)
    raise ModelError(f"model {directory} has unknown architecture {spec.architecture!r}")


def check_runtime(model: str | Path | None, task: str, backend: str = "auto") -> None:
    """Raise ModelError now when ``task``'s model cannot run here (e.g. a transformer without torch),
    instead of at its first scan. Reads the config only; no weights are loaded."""
    from . import onnx_backend, transformer

    directory = task_dir(model, task)
    spec = read_spec(directory)
    if spec.architecture != transformer.ARCHITECTURE:
        return
    has_torch = bool(importlib.util.find_spec("torch") and importlib.util.find_spec("transformers"))
    has_onnx_file = (directory / onnx_backend.ONNX_FILES["onnx"]).is_file()
    if backend == "torch" or (backend == "auto" and not (has_onnx_file and not has_torch)):
        if not has_torch:
            raise ModelError(f"{directory} is a transformer model: it needs torch and transformers "
                             "(pip install 'nlpguard[train]'), or an ONNX export (nlpguard export-onnx) and onnxruntime")
    elif not importlib.util.find_spec("onnxruntime"):
        raise ModelError("the ONNX backend needs onnxruntime: pip install 'nlpguard[onnx]'")


# Files of a model directory that describe it without changing what it predicts.
_NOT_PREDICTIVE = {"README.md", "metrics.json", "training_config.json", "onnx_parity.json"}


def model_version(directory: Path) -> str:
    """A content version of the model in ``directory``: ``sha256:`` and the first 16 hex digits of the
    SHA-256 over the names and bytes of every file that shapes its predictions (config with
    thresholds, weights, vocabularies; not the model card or metrics). Retraining or
    recalibrating changes it; copying the directory does not."""
    digest = hashlib.sha256()
    for path in sorted(p for p in directory.iterdir() if p.is_file() and p.name not in _NOT_PREDICTIVE):
        digest.update(path.name.encode("utf-8") + b"\0" + str(path.stat().st_size).encode() + b"\0")
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return f"sha256:{digest.hexdigest()[:16]}"


def write_config(directory: Path, spec: ModelSpec, extra: dict[str, Any] | None = None) -> None:
    """Write ``config.json`` with the spec under ``"nlpguard"``, merged into ``extra`` (e.g. a transformers config)."""
    config = dict(extra or {})
    config["nlpguard"] = spec.to_dict()
    directory.mkdir(parents=True, exist_ok=True)
    (directory / CONFIG_FILE).write_text(json.dumps(config, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def bundle_tasks(model: str | Path | None) -> list[str]:
    """Tasks available in ``model``: every task of a bundle, or the one of a single model."""
    path = resolve(model)
    if (path / CONFIG_FILE).is_file():
        return [read_spec(path).task]
    return [task for task in TASKS if (path / task / CONFIG_FILE).is_file()]
