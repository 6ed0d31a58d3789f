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
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ..errors import ModelError
from .registry import architecture
from ..text.normalize import NORMALIZER_VERSION
from ..taxonomy import LABELS, TASKS, TAXONOMY_VERSION, check_task, task_info

PACKAGED_MODELS = Path(__file__).parent.parent / "models"
DEFAULT_MODEL = "baseline"
CONFIG_FILE = "config.json"
BACKENDS = ("auto", "torch", "onnx", "onnx-int8")
FORMAT_VERSION = 2  # the newest format this nlpguard reads; 2 adds ``platt`` (a model without it is written as 1)


class Scorer(Protocol):
    """What every architecture's scorer provides: label ids, sigmoid scores for a list of texts,
    and saving its weights where its architecture's ``load`` reads them."""

    labels: list[str]

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        """Scores of shape (len(texts), len(labels)), each in [0, 1]."""

    def save(self, directory: Path) -> dict[str, Any]:
        """Write the weights into ``directory``; return keys to keep beside nlpguard's in ``config.json``."""


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
    # Per-label Platt scaling [slope, intercept]: a label's score is sigmoid(slope * logit(p) + intercept) of the
    # scorer's probability p (nlpguard.training.writer_calibration); thresholds apply to the scaled score.
    # Empty: scores as the scorer gives them.
    platt: dict[str, list[float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._check_types()
        if self.format_version > FORMAT_VERSION:
            raise ModelError(f"model format {self.format_version} was written by a newer nlpguard (this one reads up to "
                             f"{FORMAT_VERSION}): upgrade nlpguard")
        unknown = sorted(set(self.platt) - set(self.labels))
        if unknown:
            raise ModelError(f"platt names labels {unknown} the model does not have ({self.labels})")
        check_task(self.task)
        extra = [label for label in self.labels if label not in self.label_descriptions and label not in LABELS]
        if extra:
            raise ModelError(f"labels {extra} are not in the taxonomy and have no description in label_descriptions")
        if set(self.thresholds) != set(self.labels):
            raise ModelError(f"thresholds {sorted(self.thresholds)} do not match labels {self.labels}")
        if self.aggregation not in task_info(self.task).aggregations:
            raise ModelError(f"aggregation {self.aggregation!r} is not one of the {self.task} task's: "
                             f"{', '.join(task_info(self.task).aggregations)}")

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
        if not isinstance(self.platt, dict) or not all(
                isinstance(pair, list) and len(pair) == 2 and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                                  and math.isfinite(v) for v in pair) and pair[0] > 0
                for pair in self.platt.values()):
            raise ModelError(f"platt must map labels to [slope, intercept] with a positive slope, got {self.platt!r}")
        if isinstance(self.format_version, bool) or not isinstance(self.format_version, int):
            raise ModelError(f"format_version must be a whole number, got {self.format_version!r}")
        if "max_length" in self.options and not 0 <= self.options.get("stride", 0) < self.options["max_length"]:
            raise ModelError("options.stride must be smaller than options.max_length")

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready form stored under ``"nlpguard"`` in ``config.json`` (``backbone`` only when known,
        ``platt`` and format 2 only when set, so a model without it stays readable by format-1 readers)."""
        data = asdict(self)
        if data["backbone"] is None:
            del data["backbone"]
        if data["platt"]:
            data["format_version"] = 2
        else:
            del data["platt"]
            data["format_version"] = 1
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ModelSpec":
        """Build a spec from the ``"nlpguard"`` section, ignoring keys added by later versions."""
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


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


def _check_backend(backend: str) -> None:
    if backend not in BACKENDS:
        raise ModelError(f"unknown backend {backend!r}; choose from {', '.join(BACKENDS)}")


@dataclass(frozen=True)
class ModelDirectory:
    """One task's model directory and the spec its ``config.json`` holds, read once."""

    path: Path
    spec: ModelSpec


@dataclass(frozen=True)
class Bundle:
    """What a model name or path holds: the resolved directory and, per task, its model directory."""

    path: Path
    tasks: dict[str, ModelDirectory]

    def directory(self, task: str) -> ModelDirectory:
        """``task``'s model directory; ModelError naming the tasks there are."""
        check_task(task)
        if task not in self.tasks:
            raise ModelError(f"model {self.path} has no {task!r} model (it has: {', '.join(self.tasks)})")
        return self.tasks[task]


def open_bundle(model: str | Path | None) -> Bundle:
    """Resolve ``model`` (a packaged name, a bundle or a single model directory) once and read the
    ``config.json`` of every task it holds once."""
    path = resolve(model)
    if (path / CONFIG_FILE).is_file():
        spec = read_spec(path)
        return Bundle(path, {spec.task: ModelDirectory(path, spec)})
    tasks = {task: ModelDirectory(path / task, read_spec(path / task)) for task in TASKS
             if (path / task / CONFIG_FILE).is_file()}
    if not tasks:
        raise ModelError(f"{path} has no {CONFIG_FILE} (nor a task sub-directory with one: {', '.join(TASKS)})")
    return Bundle(path, tasks)


@dataclass
class Model:
    """One task's model: its spec, its scorer and the directory it came from (if any).

    :meth:`load` and :meth:`save` are symmetric for every architecture in
    :mod:`nlpguard.runtime.registry`: what ``save`` writes, ``load`` reads back and scores alike.
    """

    spec: ModelSpec
    scorer: Scorer
    path: Path | None = None

    @classmethod
    def load(cls, model: "str | Path | None | ModelDirectory", task: str, backend: str = "auto",
             threads: int | None = None) -> "Model":
        """Load ``task``'s model from a packaged name, a bundle, a model directory or an opened
        :class:`ModelDirectory` (whose config is not read again).

        ``backend`` runs a transformer model with ``torch``, ``onnx`` or ``onnx-int8``
        (onnxruntime, after ``nlpguard export-onnx``); ``auto`` takes torch when installed,
        else ONNX when the directory has it. ``threads``: intra-op CPU threads (default: all
        CPUs this process may use).
        """
        _check_backend(backend)
        entry = model if isinstance(model, ModelDirectory) else open_bundle(model).directory(check_task(task))
        directory, spec = entry.path, entry.spec
        if spec.task != task:
            raise ModelError(f"model {directory} is for task {spec.task!r}, not {task!r}")
        loader = architecture(spec.architecture)
        try:
            scorer = loader.load(directory, spec, backend, threads)
        except ModelError:
            raise
        except Exception as exc:  # corrupt or missing weight files of any kind
            raise ModelError(f"cannot load weights of {directory}: {exc}") from exc
        if list(scorer.labels) != spec.labels:
            raise ModelError(f"weights of {directory} score {scorer.labels}, config says {spec.labels}")
        return cls(spec, scorer, directory)

    def save(self, directory: str | Path) -> Path:
        """Write the weights (in the scorer's own format) and ``config.json`` into ``directory``; returns it."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        write_config(directory, self.spec, extra=self.scorer.save(directory))
        return directory


def check_runtime(entry: ModelDirectory, backend: str = "auto") -> None:
    """Raise ModelError now when the model cannot run here (e.g. a transformer without torch),
    instead of at its first scan. No weights are loaded."""
    _check_backend(backend)
    architecture(entry.spec.architecture).check_runtime(entry.path, entry.spec, backend)


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
