"""Copy a trained model directory into the package as a named model, transformer weights in fp16.

The model card is written again for its packaged name (``Guard.load("NAME")``).

Packaged models live in ``nlpguard/models/NAME/TASK`` and load by name:
``nlpguard scan --model NAME`` or ``Guard.load("NAME")``. Halving the weights keeps the
package small; the scorer casts them back to fp32 on the CPU. Scores move by about 1e-3 at
most (measured here against the source model on the test split and printed), so a
packaged fp16 model is for use, not for exact parity with its fp32 source.

A model fine-tuned from a backbone whose licence forbids commercial use (its ``config.json``
says ``nlpguard.backbone.commercial_use: false``, e.g. one from ``m3e-small``) is refused
before anything is copied: the package ships only licence-clean models.

Usage: python training/package_model.py --model runs/bert-messages --name zh-bert-small --task messages
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import numpy as np

from nlpguard.training.backbones import check_shippable
from nlpguard.training.data import read_examples
from nlpguard.errors import ModelError
from nlpguard.training.evaluation import predict_scores
from nlpguard.training.modelcard import write_model_card
from nlpguard.runtime.modeldir import PACKAGED_MODELS, Model

KEEP = ("config.json", "metrics.json", "training_config.json", "README.md", "tokenizer.json", "tokenizer_config.json",
        "special_tokens_map.json", "vocab.txt", "baseline.safetensors", "baseline_vocab.json")


def main() -> None:
    """Copy, halve transformer weights, and check the packaged scores against the source."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--task", required=True, choices=("messages", "clauses"))
    args = parser.parse_args()
    source = Path(args.model)
    try:
        check_shippable(source)
    except ModelError as exc:
        sys.exit(f"package_model: refused: {exc}")
    target = PACKAGED_MODELS / args.name / args.task
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    for name in KEEP:
        if (source / name).is_file():
            shutil.copy2(source / name, target / name)
    if (source / "model.safetensors").is_file():
        from safetensors.torch import load_file, save_file

        tensors = {k: v.half() if v.is_floating_point() else v for k, v in load_file(str(source / "model.safetensors")).items()}
        save_file(tensors, str(target / "model.safetensors"), metadata={"format": "pt"})
        (target / "model.safetensors").chmod(0o644)  # safetensors writes owner-only; the package is for sharing
    packaged = Model.load(args.name, args.task)
    write_model_card(target, packaged.spec, json.loads((target / "training_config.json").read_text(encoding="utf-8")),
                     json.loads((target / "metrics.json").read_text(encoding="utf-8")), name=args.name)
    texts = [e.text for e in read_examples(f"data/{args.task}/test.jsonl", args.task)][:300]
    before = predict_scores(Model.load(source, args.task), texts)
    after = predict_scores(packaged, texts)
    size = sum(p.stat().st_size for p in target.iterdir()) / 1e6
    print(f"{target}: {size:.1f} MB; max score difference on {len(texts)} test texts {np.abs(before - after).max():.5f}")


if __name__ == "__main__":
    main()
