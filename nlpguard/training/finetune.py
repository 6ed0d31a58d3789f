"""Fine-tune a transformer checkpoint into a multi-label classifier (training only).

Used by :func:`nlpguard.training.train.train` when the backbone is not ``baseline``: any
BERT-family checkpoint given as a Hugging Face name or a local directory
(``hfl/chinese-roberta-wwm-ext``, ``bert-base-chinese``, the project's own
``runs/zh-bert-small``). One sigmoid output per label, binary cross-entropy with
per-label ``pos_weight`` (or focal loss), AdamW with linear warm-up and decay,
gradient accumulation, mixed precision on a GPU, early stopping on dev macro-F1
with the best epoch kept.
"""
from __future__ import annotations

import copy
import random
import time
from typing import Callable

import numpy as np
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from ..text.normalize import normalize_text
from ..runtime.transformer import TransformerScorer


def focal_loss(logits: torch.Tensor, targets: torch.Tensor, gamma: float = 2.0) -> torch.Tensor:
    """Element-wise binary focal loss (Lin et al. 2017): down-weights easy examples."""
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    p_t = torch.exp(-bce)
    return (1 - p_t) ** gamma * bce


def length_batches(lengths: list[int], batch_size: int, rng: random.Random) -> list[list[int]]:
    """Indices grouped into batches of similar length (little padding), in random batch order."""
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], rng.random()))
    batches = [order[k:k + batch_size] for k in range(0, len(order), batch_size)]
    rng.shuffle(batches)
    return batches


def load_backbone(name_or_dir: str, labels: list[str]):
    """Tokenizer and a fresh multi-label classification head on the backbone (safetensors weights only)."""
    tokenizer = AutoTokenizer.from_pretrained(name_or_dir)
    model = AutoModelForSequenceClassification.from_pretrained(
        name_or_dir, use_safetensors=True, num_labels=len(labels), problem_type="multi_label_classification",
        id2label=dict(enumerate(labels)), label2id={label: i for i, label in enumerate(labels)})
    return tokenizer, model


def finetune(backbone: str, texts: list[str], targets: np.ndarray, weights: np.ndarray, labels: list[str],
             dev_score: Callable[[TransformerScorer], float], *, epochs: int = 4, batch_size: int = 32,
             learning_rate: float = 5e-5, max_length: int = 256, stride: int = 64, grad_accum: int = 1,
             loss: str = "bce", patience: int = 2, seed: int = 0, log=print) -> tuple[TransformerScorer, list[dict]]:
    """Fine-tune ``backbone`` on ``texts``; return the best scorer on dev and the per-epoch history.

    Args:
        backbone: Hugging Face model name or local directory.
        texts, targets, weights: training texts, 0/1 label matrix, weights per text (or per text and label).
        labels: label ids in column order.
        dev_score: returns dev macro-F1 of a scorer (thresholds tuned inside); drives early stopping.
        loss: ``bce`` (with per-label pos_weight = negatives/positives, capped at 10) or ``focal``.
    """
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    tokenizer, model = load_backbone(backbone, labels)
    model.to(device)
    encoded = tokenizer([normalize_text(t) for t in texts], truncation=True, max_length=max_length)["input_ids"]
    positives = targets.sum(axis=0)
    pos_weight = torch.tensor(np.clip((len(targets) - positives) / np.maximum(positives, 1), 1.0, 10.0),
                              dtype=torch.float32, device=device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=0.01)
    steps_per_epoch = max(1, len(texts) // (batch_size * grad_accum))
    total = steps_per_epoch * epochs
    warmup = max(1, total // 10)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min(1.0, (step + 1) / warmup) * max(0.0, (total - step) / max(1, total - warmup)))
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if device == "cuda" else torch.autocast("cpu", enabled=False)
    rng = random.Random(seed)
    best, best_state, history, stale = -1.0, None, [], 0
    for epoch in range(1, epochs + 1):
        model.train()
        started = time.time()
        batches = length_batches([len(ids) for ids in encoded], batch_size, rng)
        running = 0.0
        for step, chosen in enumerate(batches, start=1):
            batch = tokenizer.pad({"input_ids": [encoded[i] for i in chosen]}, return_tensors="pt").to(device)
            y = torch.tensor(targets[chosen], dtype=torch.float32, device=device)
            w = torch.tensor(weights[chosen], dtype=torch.float32, device=device)
            w = w if w.ndim == 2 else w[:, None].expand(-1, len(labels))  # per text, or per text and label
            with autocast:
                logits = model(**batch).logits.float()
            if loss == "focal":
                per_item = focal_loss(logits, y)
            else:
                per_item = torch.nn.functional.binary_cross_entropy_with_logits(logits, y, pos_weight=pos_weight, reduction="none")
            value = (per_item * w).sum() / w.sum() / grad_accum
            value.backward()
            running += value.item() * grad_accum
            if step % grad_accum == 0 or step == len(batches):
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad()
        scorer = TransformerScorer(model, tokenizer, labels, max_length, stride)
        score = dev_score(scorer)
        seconds = time.time() - started
        history.append({"epoch": epoch, "train_loss": round(running / len(batches), 4), "dev_macro_f1": score,
                        "seconds": round(seconds, 1), "device": device})
        log(f"epoch {epoch}: loss {running / len(batches):.4f}, dev macro-F1 {score:.4f}, {seconds:.0f}s on {device}")
        if score > best:
            best, best_state, stale = score, copy.deepcopy({k: v.detach().cpu() for k, v in model.state_dict().items()}), 0
        else:
            stale += 1
            if stale >= patience:
                log(f"early stop: no dev improvement for {patience} epoch(s)")
                break
    model.load_state_dict(best_state)
    return TransformerScorer(model.eval(), tokenizer, labels, max_length, stride), history
