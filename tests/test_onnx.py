"""ONNX export: a copy of the model plus model.onnx whose scores match PyTorch; the onnx backend at scan time."""
import json
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

from nlpguard import Guard  # noqa: E402
from nlpguard.training.onnx_export import export_onnx  # noqa: E402

from .conftest import REPO, TINY_MESSAGES  # noqa: E402


def parity_texts() -> list[str]:
    """A few hundred varied texts: the authored test messages, tiny messages, a long notice."""
    texts = [json.loads(line)["text"] for line in (REPO / "data" / "messages" / "test.jsonl").read_text(encoding="utf-8").splitlines()]
    return texts[:300] + [t for t, _ in TINY_MESSAGES] + ["您好，您的账单已逾期。" * 40]


@pytest.fixture(scope="module")
def exported(tiny_classifier, tmp_path_factory):
    source, _ = tiny_classifier
    output = tmp_path_factory.mktemp("onnx")
    report = export_onnx(source, output, quantize=True, parity_texts={"messages": parity_texts()})
    return source, output, report


def test_export_is_a_complete_model_directory_with_its_parity_report(exported):
    source, output, report = exported
    names = {p.name for p in output.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "model.onnx", "model.int8.onnx", "onnx_parity.json"} <= names
    assert json.loads((output / "onnx_parity.json").read_text()) == report["messages"]
    assert report["messages"]["texts"] == len(parity_texts()) and report["messages"]["onnx"]["max_abs_diff"] <= 1e-4


@pytest.mark.slow
def test_onnx_scores_match_torch_on_a_few_hundred_texts(exported):
    source, output, _ = exported
    texts = parity_texts()
    torch_records = Guard.load(source, backend="torch").scan(texts, task="messages")
    onnx_records = Guard.load(output, backend="onnx").scan(texts, task="messages")
    torch_scores = np.array([list(r["scores"].values()) for r in torch_records])
    onnx_scores = np.array([list(r["scores"].values()) for r in onnx_records])
    assert np.abs(torch_scores - onnx_scores).max() <= 1e-4  # rounded to 4 decimals: at most one unit apart
    assert [r["labels"] for r in onnx_records] == [r["labels"] for r in torch_records]
    int8 = Guard.load(output, backend="onnx-int8").scan(texts, task="messages")
    int8_scores = np.array([list(r["scores"].values()) for r in int8])
    difference = np.abs(int8_scores - torch_scores)
    assert difference.max() <= 0.05  # the tiny test network; README reports ~0.09 on the packaged BERT
    # a label may flip only where the torch score lies within that difference of its threshold
    thresholds = np.array([Guard.load(source, backend="torch").thresholds("messages")[l] for l in torch_records[0]["scores"]])
    decided = np.abs(torch_scores - thresholds) > difference + 1e-4
    assert decided.mean() > 0.4 and ((int8_scores >= thresholds) == (torch_scores >= thresholds))[decided].all()


def test_scan_command_selects_the_backend(exported, tmp_path):
    source, output, _ = exported
    source_file = tmp_path / "in.jsonl"
    source_file.write_text("".join(json.dumps({"id": f"m{i}", "text": t}, ensure_ascii=False) + "\n"
                                   for i, (t, _) in enumerate(TINY_MESSAGES)), encoding="utf-8")

    def scan(*args):
        proc = subprocess.run([sys.executable, "-m", "nlpguard", "scan", str(source_file), "--task", "messages", *args],
                              capture_output=True, text=True)
        return proc.returncode, [json.loads(line) for line in proc.stdout.splitlines()], proc.stderr

    code, torch_out, _ = scan("--model", str(output), "--backend", "torch")
    assert code == 0 and len(torch_out) == len(TINY_MESSAGES)
    code, onnx_out, _ = scan("--model", str(output), "--backend", "onnx", "--threads", "1")
    assert code == 0 and [r["labels"] for r in onnx_out] == [r["labels"] for r in torch_out]
    code, _, err = scan("--model", str(source), "--backend", "onnx")  # never exported
    assert code == 2 and "has no model.onnx" in err and "export-onnx" in err and "Traceback" not in err
    code, _, err = scan("--backend", "onnx")  # the embedded baseline has no network to export
    assert code == 2 and "transformer models only" in err


def test_exporting_a_baseline_model_is_a_clear_error(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "nlpguard", "export-onnx", "--model", "baseline", "--output",
                           str(tmp_path / "x")], capture_output=True, text=True)
    assert proc.returncode == 2 and "only transformer models export to ONNX" in proc.stderr


def test_platt_scaling_in_the_config_applies_on_the_onnx_backend_as_on_torch(exported, tmp_path):
    import shutil

    from nlpguard.runtime.scoring import platt_scale

    source, output, _ = exported
    texts = [t for t, _ in TINY_MESSAGES]
    plain = Guard.load(output, backend="onnx").scan(texts, task="messages")
    copies = {}
    for name, directory in (("torch", source), ("onnx", output)):
        copies[name] = shutil.copytree(directory, tmp_path / name)
        config = json.loads((copies[name] / "config.json").read_text(encoding="utf-8"))
        config["nlpguard"]["platt"] = {"intimidation": [0.5, -1.0]}
        (copies[name] / "config.json").write_text(json.dumps(config), encoding="utf-8")
    scaled = {name: Guard.load(path, backend=name).scan(texts, task="messages") for name, path in copies.items()}
    for before, after_onnx, after_torch in zip(plain, scaled["onnx"], scaled["torch"]):
        expected = platt_scale([[before["scores"]["intimidation"]]], [0.5], [-1.0])[0, 0]
        assert after_onnx["scores"]["intimidation"] == pytest.approx(expected, abs=2e-4)
        assert abs(after_onnx["scores"]["intimidation"] - after_torch["scores"]["intimidation"]) <= 2e-4
        assert after_onnx["scores"]["insult"] == before["scores"]["insult"]
