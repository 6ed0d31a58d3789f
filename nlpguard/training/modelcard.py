"""Write the model card (``README.md``) of a trained model directory."""
from __future__ import annotations

import json
from pathlib import Path

from .backbones import licence_line
from .data import in_repository
from ..runtime.modeldir import ModelSpec
from ..taxonomy import LABELS, task_info

_INTENDED = {
    "messages": "Screening outbound debt-collection messages (SMS, chat, call-script lines) in Chinese for "
                "intimidation, disclosure of the debtor's data, and insults, before sending or in audits. "
                "Flags go to a human reviewer together with the evidence sentence.",
    "clauses": "Screening Chinese app agreements, privacy policies and loan contracts for abusive consent "
               "terms, clause by clause, to prepare a regulator's or reviewer's reading with cited evidence.",
}


def _metrics_table(block: dict, labels: list[str]) -> list[str]:
    rows = ["| label | precision | recall | F1 | PR-AUC | ECE | support | threshold |", "|---|---|---|---|---|---|---|---|"]
    for label in labels:
        m = block["labels"][label]
        auc = "–" if m["pr_auc"] is None else f"{m['pr_auc']:.3f}"
        ece = f"{m['ece']:.3f}" if "ece" in m else "–"  # metrics written before ECE was reported
        rows.append(f"| `{label}` | {m['precision']:.3f} | {m['recall']:.3f} | {m['f1']:.3f} | {auc} | {ece} | {m['support']} "
                    f"| {m['threshold']} |")
    rows.append(f"| **macro** | | | **{block['macro_f1']:.3f}** | | | {block['n']} texts | |")
    return rows


PROJECT_DATA = {"messages": "data/messages", "clauses": "data/clauses"}
# Written by training/hold_out_writers.py into a folder of the project's corpus with whole writers as test.
HELD_OUT_FILE = "held_out_writers.json"


def _sources(config: dict) -> list[str]:
    """The training data sources of a saved config: ``data`` as a list."""
    data = config.get("data", "")
    return [str(source) for source in data] if isinstance(data, list) else [str(data)]


def held_out_writers(config: dict) -> list[str]:
    """The writers a data folder made by ``training/hold_out_writers.py`` holds out as its test split (else []);
    ``config``: saved training settings, their data paths found as training finds them."""
    for source in _sources(config):
        path = in_repository(source) / HELD_OUT_FILE
        if path.is_file():
            return list(json.loads(path.read_text(encoding="utf-8")).get("writers", []))
    return []


def _is_project_model(spec: ModelSpec, config: dict) -> bool:
    """Trained on nlpguard's own corpus (reviewers' corrections may join it, or whole writers of it held
    out) with taxonomy labels only (so its domain claims hold)."""
    return (all(label in LABELS for label in spec.labels)
            and (any(source.rstrip("/").endswith(PROJECT_DATA[spec.task]) for source in _sources(config))
                 or bool(held_out_writers(config))))


def _plain_transformers_snippet(spec: ModelSpec) -> list[str]:
    """How to reproduce ``nlpguard scan`` scores with transformers alone."""
    max_length, stride = spec.options.get("max_length", 256), spec.options.get("stride", 64)
    return ["## Using it without nlpguard's scanner", "",
            "It is a standard Hugging Face `AutoModelForSequenceClassification` directory, but nlpguard's "
            "scores need three steps the plain pipeline does not do: the text is **normalised first** "
            "(`nlpguard.text.normalize.normalize_text`: NFKC, traditional → simplified, disguise recovery; raw text "
            "scores differ), each label's score is a **sigmoid** of its logit (not a softmax; the logit first scaled "
            "as `a * logit + b` where `nlpguard.platt` gives the label `[a, b]`), and a text longer "
            f"than {max_length} tokens is scored in windows of {max_length} tokens overlapping by {stride}, each "
            "label taking its maximum. Thresholds are in `config.json` under `nlpguard.thresholds`.", "",
            "```python",
            "import json, torch",
            "from transformers import AutoModelForSequenceClassification, AutoTokenizer",
            "from nlpguard.text.normalize import normalize_text",
            "",
            "model = AutoModelForSequenceClassification.from_pretrained(DIR, use_safetensors=True).float().eval()",
            "tokenizer = AutoTokenizer.from_pretrained(DIR)",
            "spec = json.load(open(f'{DIR}/config.json'))['nlpguard']",
            f"batch = tokenizer([normalize_text(t) for t in texts], truncation=True, max_length={max_length}, "
            "padding=True, return_tensors='pt')",
            "with torch.no_grad():",
            "    logits = model(**batch).logits  # texts within the window length",
            "platt = torch.tensor([spec.get('platt', {}).get(l, [1.0, 0.0]) for l in spec['labels']])",
            "scores = torch.sigmoid(logits * platt[:, 0] + platt[:, 1])",
            "flagged = [[l for l, s in zip(spec['labels'], row) if s >= spec['thresholds'][l]] for row in scores.tolist()]",
            "```", ""]


def _writer_calibration_section(figures: dict, spec: ModelSpec) -> list[str]:
    """The card's account of :mod:`nlpguard.training.writer_calibration`: Platt scaling, cross-fitted figures, ECE."""
    labels = spec.labels
    lines = ["", f"## Calibration on held-out writers ({len(figures['writers'])} writers, cross-fitted)", "",
             "Each held-out writer's texts were scored through the Platt scaling and at the thresholds fitted on the other held-out "
             "writers plus the reference dev negatives: these are the figures to expect on text by a writer the model "
             "and its calibration never saw. The shipped scaling and thresholds were fitted on all of them "
             "(score = sigmoid(a * logit + b)).", ""]
    lines += _metrics_table(figures | {"labels": {l: figures["labels"][l] | {"threshold": "per writer"} for l in labels}},
                            labels)
    lines += ["", "| label | Platt [a, b] | ECE before | ECE after (cross-fitted) | real negatives flagged |",
              "|---|---|---|---|---|"]
    real = figures.get("real_negatives_false_positive_rate_per_label") or {}
    lines += [f"| `{l}` | {spec.platt.get(l, [1.0, 0.0])} | {figures['ece'][l]['before']} | {figures['ece'][l]['after']} "
              f"| {real.get(l, '–')} |" for l in labels]
    lines += ["", "Macro-F1 per held-out writer: " + ", ".join(f"{w} {f1}" for w, f1 in figures["writers"].items()) + "."]
    return lines


def write_model_card(directory: Path, spec: ModelSpec, config: dict, metrics: dict, name: str | None = None) -> None:
    """Write ``directory/README.md`` from the spec, the training settings and the metrics; ``name``: the
    packaged name it loads by (default: the directory).

    Domain claims (intended use, the authored corpus, reported speech) are made only for models
    trained on nlpguard's own corpus with taxonomy labels; other models get a card that says
    what they were trained on and nothing more.
    """
    labels = spec.labels
    ours = _is_project_model(spec, config)
    held_out = held_out_writers(config)
    calibrated = metrics.get("held_out_writer_calibration")
    intended = _INTENDED[spec.task] if ours else (
        f"Classifying Chinese texts into the labels below, as trained on `{' + '.join(_sources(config))}`. nlpguard's "
        "debt-collection and consent-term claims do not apply: check the data's own documentation for what the "
        "labels mean and where the model may be used.")
    backbone = str(config["backbone"])
    shipped = backbone == "baseline" or not (Path(backbone).is_absolute() or backbone.startswith(("runs/", "./", "../")))
    lines = [f"# nlpguard model — task `{spec.task}`, backbone `{backbone}`"
             + ("" if shipped else " (a local checkpoint, not shipped with this model)"), "",
             f"Architecture `{spec.architecture}`, normaliser `{spec.normalizer}`, taxonomy {spec.taxonomy}, "
             f"aggregation `{spec.aggregation}`. Load with `Guard.load(\"{name or directory}\")` or "
             f"`nlpguard scan --model {name or directory} --task {spec.task}`."
             + (" It is also a Hugging Face `AutoModelForSequenceClassification` directory (see *Using it without "
                "nlpguard's scanner*)." if spec.architecture.startswith("nlpguard.HF") else ""), "",
             *([licence_line(spec.backbone), ""] if spec.backbone else []),
             *([f"Features: character and word n-grams (TF-IDF) and the mean of the text's `{config['word_vectors']}` "
                f"word vectors (up to the {config.get('max_word_vectors')} most frequent words, int8, saved in this model; "
                f"weight {config.get('word_vector_weight')}), so that words no training text used still weigh in "
                "through the words near them.", ""] if config.get("word_vectors") else []),
             "## Intended use", "", intended, "",
             "## Out of scope", "",
             "- Legal conclusions: scores are evidence for a reviewer, not findings of a violation.",
             "- Languages other than Chinese; texts from domains other than consumer lending.",
             "- Decisions about individuals (credit, employment) of any kind.",
             *([] if not spec.backbone or spec.backbone.get("commercial_use") else
               [f"- Any commercial use: the backbone's licence ({spec.backbone.get('licence')}) allows non-commercial "
                "research use only."]), "",
             "## Labels and thresholds", "",
             "| label | severity | threshold | definition |", "|---|---|---|---|"]
    for label in labels:
        severity = LABELS[label].severity if label in LABELS else "–"
        lines.append(f"| `{label}` | {severity} | {spec.thresholds[label]} | {spec.label_descriptions.get(label, '')} |")
    counts = metrics.get("counts", {})
    lines += ["", "## Training data", "",
              f"- Data: `{' + '.join(_sources(config))}` — train {counts.get('train')}, dev {counts.get('dev')}, "
              f"test {counts.get('test')} texts"
              + (f"; {counts['duplicates_dropped']} repeated texts dropped (dedupe, first kept)" if "duplicates_dropped" in counts
                 else "")
              + (f"; reviewers' corrections relabelled {counts['review_overridden']} corpus records and added "
                 f"{counts['review_added']} texts to train" if "review_overridden" in counts else "") + ".",
              f"- Reference corpora (read from `../shared/corpora` when present): train {counts.get('real_train', 0)}, "
              f"dev {counts.get('real_dev', 0)}, test {counts.get('real_test', 0)} texts "
              + f"({task_info(spec.task).reference_text}).",
              (f"- Thresholds maximise each label's "
               + (f"F-beta (beta {config['threshold_beta']}: recall weighted)"
                  if config.get("threshold_beta", 1.0) != 1.0 else "F1")
               + f" on real clauses scored by models that never saw their document "
               f"({len(metrics['real_cross_fit']['folds'])} folds of whole real documents, cross-fitted"
               + (f"; {len(metrics['real_cross_fit']['deals'])} deals of the documents into folds, their held-out scores "
                  "pooled" if len(metrics["real_cross_fit"].get("deals", [])) > 1 else "") + ")"
               if metrics.get("real_cross_fit") else
               "- Platt scaling and thresholds were fitted on the test split's held-out writers plus reference dev negatives "
               "(*Calibration on held-out writers* below)"
               + (f", thresholds then raised until at most {config['max_real_fp']:.2%} of those negatives reach them"
                  if config.get("max_real_fp") is not None else "")
               if metrics.get("held_out_writer_calibration") else
               "- Thresholds maximise each label's F1 on the scores of held-out writers (writer folds) plus reference dev "
               "negatives, never on same-writer dev"
               + (f", then are raised until at most {config['max_real_fp']:.2%} of the reference negatives reach them"
                  if config.get("max_real_fp") is not None else "")
               if metrics.get("writer_held_out") else
               "- Thresholds maximise each label's F1 on the dev split" + (" (authored dev + reference dev)" if ours else "")
               + (f", then are raised until at most {config['max_real_fp']:.2%} of the reference dev negatives reach them"
                  if config.get("max_real_fp") is not None and counts.get("real_dev") else ""))
              + (f", target precision {config['target_precision']}" if config.get("target_precision") else "") + ".",
              f"- Training time: {metrics.get('train_seconds')} s.", "",
              "## Metrics on the test split" + (" (authored)" if ours else "")
              + (f": writers {', '.join(held_out)}, held out whole from training"
                 + (", then used for calibration — these figures are in-sample; the cross-fitted ones below are the held-out "
                    "figures" if calibrated else " (never seen in training or threshold tuning)")
                 if held_out else ""), ""]
    lines += _metrics_table(metrics["test"], labels)
    if calibrated:
        lines += _writer_calibration_section(calibrated, spec)
    held = metrics.get("writer_held_out")
    if held:
        lines += ["", f"## Writer-held-out metrics ({len(held['folds'])} folds of whole writers)", "",
                  "Each fold's texts were scored by a model that never saw their writer, at thresholds tuned on the "
                  "other folds; the shipped thresholds were tuned the same way. This is the figure to expect on text "
                  "written by someone else.", ""]
        lines += _metrics_table(held | {"labels": {l: held["labels"][l] | {"threshold": "per fold"} for l in labels}},
                                labels)
        lines += ["", "| fold | writers | texts | macro-F1 |", "|---|---|---|---|"]
        lines += [f"| {k} | {', '.join(f['writers'])} | {f['texts']} | {f['macro_f1']} |"
                  for k, f in enumerate(held["folds"], start=1)]
        lines += ["", "Any-label false-positive rate on held-out compliant texts: "
                      f"{held['any_label_false_positive_rate']}; on real negatives: {held['real_negatives_false_positive_rate']}."]
    for name, block in metrics.get("test_by_corpus", {}).items():
        lines += ["", f"Test split, {name.replace('_', ' ')} only: macro-F1 {block['macro_f1']} on {block['n']} texts."]
    cross_fit = metrics.get("real_cross_fit")
    if cross_fit:
        folds = cross_fit["folds"]
        lines += ["", f"## Real clauses, cross-fitted ({len(folds)} folds of whole real documents)", "",
                  "The labelled real documents were dealt into folds; each fold was scored by a model trained on the "
                  "authored clauses and the other folds' real clauses (near-copies of the fold's clauses, character "
                  f"{config.get('near_copy_ngram', 5)}-gram Jaccard >= 0.5, left out: "
                  f"{', '.join(str(f['near_copies_left_out']) for f in folds)}), at thresholds tuned on the other folds. "
                  "The shipped model trained on every real clause, so the figures below are what a policy it never saw "
                  f"would get. All {cross_fit['all_real_clauses']['n']} real clauses pooled: macro-F1 "
                  f"{cross_fit['all_real_clauses']['macro_f1']}, micro-F1 {cross_fit['all_real_clauses']['micro_f1']}."]
        deals = cross_fit.get("deals", [])
        if len(deals) > 1:
            lines += ["", f"The documents were dealt into folds {len(deals)} times (the figures below are the first deal's; "
                          "the thresholds were tuned on every deal's held-out scores):", "",
                      "| deal seed | real macro-F1, all | real macro-F1, whole policies | evidence precision | evidence recall "
                      "| flags per policy |", "|---|---|---|---|---|---|"]
            rows = deals + [cross_fit["mean_over_deals"] | {"seed": "mean"}]
            lines += [f"| {d['seed']} | {d.get('all_real_macro_f1')} | {d.get('policies_macro_f1')} | "
                      f"{d.get('evidence_precision')} | {d.get('evidence_recall')} | {d.get('flags_per_policy')} |" for d in rows]
    if "real_clauses_test" in metrics:
        lines += ["", "## Metrics on real clauses (documents never seen in training)" if not cross_fit else
                  "## Metrics on the whole held-out real policies' clauses (cross-fitted)", ""]
        lines += _metrics_table(metrics["real_clauses_test"], labels)
        intervals = metrics["real_clauses_test"].get("intervals_95")
        if intervals:
            lines += ["", "95 % intervals of F1, documents resampled (1,000 bootstrap rounds): "
                      + "; ".join(f"{name} {low:.2f}–{high:.2f}" for name, (low, high) in intervals.items()) + "."]
        docs = metrics.get("real_documents_test")
        if docs:
            lines += ["", f"Document level ({docs['documents']} documents, labels = union of their clauses): exact label set "
                          f"{docs['exact_match']:.3f}, per-label decisions right {docs['label_accuracy']:.3f}."]
        evidence = metrics.get("real_evidence_test")
        if evidence:
            lines += ["", f"## Evidence on {evidence['documents']} whole real policies (labelled clause by clause)", "",
                      "Each policy scanned whole, as `nlpguard scan` does; a flag is one (clause, label) a reviewer would "
                      "read. Precision: flags that match a labelled clause with that label; recall: labelled (clause, "
                      f"label) pairs flagged. {evidence['flags_per_document']} flags per policy; mean per-policy "
                      f"precision {evidence['mean_document_precision']}, recall {evidence['mean_document_recall']}.", "",
                      "| label | flags | precision | labelled | recall |", "|---|---|---|---|---|"]
            rows = {"all labels": evidence} | evidence["labels"]
            lines += [f"| {name} | {row['flags']} | {row['precision']} | {row['gold']} | {row['recall']} |"
                      for name, row in rows.items()]
    if "real_negatives_test" in metrics:
        real = metrics["real_negatives_test"]
        lines += ["", f"Any-label false-positive rate on {real['n']} held-out real SMS and spam: "
                      f"{real['false_positive_rate']:.4f} (per label: "
                      + ", ".join(f"{label} {rate:.4f}" for label, rate in real["per_label"].items()) + ")."]
    if metrics.get("history"):
        lines += ["", "## Fine-tuning history", "", "| epoch | train loss | dev macro-F1 | seconds | device |", "|---|---|---|---|---|"]
        lines += [f"| {h['epoch']} | {h['train_loss']} | {h['dev_macro_f1']} | {h['seconds']} | {h['device']} |" for h in metrics["history"]]
    if spec.architecture.startswith("nlpguard.HF"):
        lines += [""] + _plain_transformers_snippet(spec)
    limits = ([f"- {line}" for line in task_info(spec.task).limits] if ours else
              [f"- Measured only on the splits of `{' + '.join(_sources(config))}`; check thresholds on your own data before "
               "relying on them."])
    lines += ["", "## Limits", "", *limits, "",
              "Full settings: `training_config.json`; all figures: `metrics.json`.", ""]
    (directory / "README.md").write_text("\n".join(lines), encoding="utf-8")
