"""Pre-train nlpguard's small Chinese BERT (masked language modelling) on the text available here.

No pretrained Chinese checkpoint can be downloaded on these machines, so the project
builds its own, reproducibly:

1. Text: the reference corpora in ../shared/corpora (real SMS and spam — only their
   training parts —, privacy-policy sentences and documents except the documents held
   out for real-clause testing, COLD comments) plus the training splits of data/.
   Every text is normalised with nlpguard's normaliser, as fine-tuning and scanning do.
2. Tokenizer: WordPiece trained with `tokenizers` (Chinese characters split one by one,
   as in the public Chinese BERTs, plus word pieces for Latin letters and digits),
   saved as a standard BertTokenizerFast.
3. Model: BertForMaskedLM (default 4 layers, hidden 256), 15 % masking, AdamW with
   linear warm-up and decay, trained for a wall-clock budget (default 55 minutes on CPU;
   on a GPU, raise --minutes and the size). Texts are bucketed by length to limit padding.
4. Outputs in --output: the model (safetensors) and tokenizer in Hugging Face format,
   `loss.csv` (step, seconds, loss), `pretrain_report.json` (settings, corpus size,
   timing, final loss, fill-mask examples).

Usage: python training/pretrain.py --output runs/zh-bert-small [--minutes 55]
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import random
import tempfile
import time
from pathlib import Path

import torch
from tokenizers import BertWordPieceTokenizer
from transformers import BertConfig, BertForMaskedLM, BertTokenizerFast, DataCollatorForLanguageModeling

from nlpguard.training.corpora import (MESSAGE_NEGATIVES, corpora_dir, corpus_split, policy_clauses, real_clause_split,
                              real_clauses)
from nlpguard.training.data import read_examples
from nlpguard.training.finetune import length_batches
from nlpguard.text.normalize import normalize_text

ROOT = Path(__file__).resolve().parent.parent
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
FILL_MASK = ["三天内不还钱就爆你通讯[MASK]", "您的逾期记录将报送征[MASK]系统", "本协议最终解释[MASK]归本公司所有",
             "我们将收集您的姓名、身份证号[MASK]", "明天去你单位门口[MASK]你", "周末一起去爬[MASK]吗"]


def corpus_texts(root: Path | None) -> list[str]:
    """Normalised pre-training texts; held-out evaluation parts are excluded."""
    texts = []
    for task in ("messages", "clauses"):
        texts += [e.text for e in read_examples(ROOT / "data" / task / "train.jsonl", task)]
    if root is not None:
        for name, loader in MESSAGE_NEGATIVES.items():
            texts += [e.text for e in loader(root) if name == "cold" or corpus_split(e) == "train"]
        overlay = ROOT / "data" / "real_clauses"
        held_out = {e.group for e in real_clauses(root, overlay) if real_clause_split(e) != "train"} if overlay.is_dir() else set()
        texts += [e.text for e in policy_clauses(root) if e.group not in held_out]
    normalised = [normalize_text(t) for t in texts]
    return [t for t in dict.fromkeys(normalised) if len(t) >= 4]


def train_tokenizer(texts: list[str], vocab_size: int, output: Path) -> BertTokenizerFast:
    """A WordPiece tokenizer over the texts, saved in Hugging Face format."""
    wordpiece = BertWordPieceTokenizer(clean_text=True, handle_chinese_chars=True, strip_accents=False, lowercase=True)
    wordpiece.train_from_iterator(texts, vocab_size=vocab_size, min_frequency=3, special_tokens=SPECIAL,
                                  limit_alphabet=vocab_size)
    with tempfile.TemporaryDirectory() as fresh:  # a folder without any older tokenizer files
        wordpiece.save_model(fresh)
        tokenizer = BertTokenizerFast.from_pretrained(fresh, do_lower_case=True, tokenize_chinese_chars=True)
    output.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(str(output))
    return tokenizer


def fill_mask(model: BertForMaskedLM, tokenizer: BertTokenizerFast) -> list[dict]:
    """Top-5 predictions for each FILL_MASK sentence."""
    model.eval()
    results = []
    with torch.inference_mode():
        for sentence in FILL_MASK:
            enc = tokenizer(sentence, return_tensors="pt")
            logits = model(**enc).logits[0]
            position = int((enc["input_ids"][0] == tokenizer.mask_token_id).nonzero()[0])
            top = logits[position].softmax(-1).topk(5)
            results.append({"text": sentence, "top5": [[tokenizer.convert_ids_to_tokens(int(i)), round(float(p), 3)]
                                                        for p, i in zip(top.values, top.indices)]})
    model.train()
    return results


def main() -> None:
    """Build the corpus and tokenizer, pre-train, write the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default="runs/zh-bert-small")
    parser.add_argument("--minutes", type=float, default=55.0)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--intermediate", type=int, default=1024)
    parser.add_argument("--vocab-size", type=int, default=12000)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    args = parser.parse_args()
    random.seed(args.seed)
    torch.manual_seed(args.seed)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    output = Path(args.output)
    started = time.time()

    texts = corpus_texts(corpora_dir())
    tokenizer = train_tokenizer(texts, args.vocab_size, output)
    encoded = [ids for ids in tokenizer(texts, truncation=True, max_length=args.max_length)["input_ids"]]
    prepared = time.time() - started
    print(f"{len(texts)} texts, {sum(map(len, encoded))} tokens, vocab {tokenizer.vocab_size}; prepared in {prepared:.0f}s", flush=True)

    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=args.hidden, num_hidden_layers=args.layers,
                        num_attention_heads=args.heads, intermediate_size=args.intermediate,
                        max_position_embeddings=512, pad_token_id=tokenizer.pad_token_id)
    model = BertForMaskedLM(config).to(device)
    collator = DataCollatorForLanguageModeling(tokenizer, mlm_probability=0.15)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    rng = random.Random(args.seed)
    budget = args.minutes * 60
    total_steps = None
    step, epoch, seconds_per_step = 0, 0, None
    losses = []
    loop_start = time.time()
    with open(output / "loss.csv", "w", newline="") as handle:
        log = csv.writer(handle)
        log.writerow(["step", "seconds", "loss"])
        while True:
            for batch_ids in length_batches([len(ids) for ids in encoded], args.batch_size, rng):
                batch = collator([{"input_ids": encoded[i]} for i in batch_ids])
                batch = {k: v.to(device) for k, v in batch.items()}
                if total_steps is None and step == 20:
                    seconds_per_step = (time.time() - loop_start) / 20
                    total_steps = max(100, int(budget / seconds_per_step))
                    print(f"{seconds_per_step:.2f}s/step -> about {total_steps} steps in {args.minutes} min", flush=True)
                horizon = total_steps or 10**9
                scale = min(1.0, (step + 1) / args.warmup) * max(0.05, 1 - step / horizon)
                for group in optimizer.param_groups:
                    group["lr"] = args.lr * scale
                loss = model(**batch).loss
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
                optimizer.zero_grad()
                losses.append(loss.item())
                step += 1
                if step % 50 == 0:
                    mean = sum(losses[-50:]) / 50
                    log.writerow([step, round(time.time() - loop_start), round(mean, 4)])
                    handle.flush()
                    print(f"step {step} epoch {epoch} loss {mean:.3f} ({time.time() - loop_start:.0f}s)", flush=True)
                if time.time() - loop_start >= budget:
                    break
            else:
                epoch += 1
                continue
            break

    model.save_pretrained(str(output), safe_serialization=True)
    tokenizer.save_pretrained(str(output))
    report = {"settings": vars(args), "device": device, "texts": len(texts), "tokens": sum(map(len, encoded)),
              "vocab_size": tokenizer.vocab_size, "parameters": sum(p.numel() for p in model.parameters()),
              "steps": step, "epochs_completed": epoch, "prepare_seconds": round(prepared),
              "train_seconds": round(time.time() - loop_start),
              "first_loss": round(sum(losses[:50]) / max(1, len(losses[:50])), 4),
              "final_loss": round(sum(losses[-200:]) / max(1, len(losses[-200:])), 4),
              "final_perplexity": round(math.exp(sum(losses[-200:]) / max(1, len(losses[-200:]))), 2),
              "fill_mask": fill_mask(model, tokenizer)}
    (output / "pretrain_report.json").write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(report["fill_mask"], ensure_ascii=False))


if __name__ == "__main__":
    main()
