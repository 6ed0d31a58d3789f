"""Architectures by versioned name: the ``architecture`` a model's ``config.json`` names, and the
class that loads it.

Each entry is an import path (``module:Class``) resolved on first use, so loading a baseline
model never imports the transformer runtime. A registered class provides

- ``load(directory, spec, backend="auto", threads=None)`` → a scorer: ``labels``,
  ``predict_proba(texts)`` and ``save(directory)`` (which writes the weights and returns the
  keys it adds to ``config.json``), so that what ``save`` writes ``load`` reads back;
- ``check_runtime(directory, spec, backend="auto")`` → ModelError when the model cannot run
  here, without loading weights.

A new architecture gets a new name (``...v2``); old names stay loadable. Other packages may add
theirs with :func:`register`.
"""
from __future__ import annotations

import importlib

from ..errors import ModelError

_ARCHITECTURES: dict[str, str | type] = {
    "nlpguard.TfidfLogReg.v1": "nlpguard.runtime.baseline:TfidfLogReg",
    "nlpguard.HFSequenceClassifier.v1": "nlpguard.runtime.transformer:HFSequenceClassifier",
}


def register(name: str, architecture: str | type) -> None:
    """Make ``name`` load with ``architecture`` (a class or ``"module:Class"``); a name is never reassigned."""
    if name in _ARCHITECTURES and _ARCHITECTURES[name] != architecture:
        raise ModelError(f"architecture {name!r} is already registered; give a new version a new name")
    _ARCHITECTURES[name] = architecture


def names() -> list[str]:
    """Every registered architecture name."""
    return sorted(_ARCHITECTURES)


def architecture(name: str) -> type:
    """The class registered under ``name``; ModelError naming the known ones when there is none."""
    target = _ARCHITECTURES.get(name)
    if target is None:
        raise ModelError(f"unknown architecture {name!r}; this nlpguard knows {', '.join(names())}")
    if isinstance(target, str):
        module, _, attribute = target.partition(":")
        target = _ARCHITECTURES[name] = getattr(importlib.import_module(module), attribute)
    return target
